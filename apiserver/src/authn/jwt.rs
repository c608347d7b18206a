//! Entra ID (or any OpenID Connect issuer) bearer tokens for the portal face.
//!
//! [`OidcValidator`] checks a JWT the way kube-apiserver's OIDC authenticator does, so that the
//! portal sees the same user name and groups that `kubectl` with the same issuer would:
//!
//! * **Signature** with a key from the issuer's JWKS (`--oidc-jwks-url`, or `jwks_uri` of
//!   `{issuer}/.well-known/openid-configuration`). Only asymmetric algorithms are accepted
//!   ([`ACCEPTED_ALGORITHMS`]); `none` and `HS*` are refused before any key is looked up, and the
//!   token's `alg` must fit the key (the JWK's `alg` when it names one, else its type and curve).
//! * **Keys** are cached for `--oidc-jwks-ttl`. A token whose `kid` is not in the cache triggers a
//!   refresh (key rotation), at most once per `--oidc-jwks-min-refresh`; concurrent refreshes share
//!   one fetch. When a refresh after the TTL fails, the previous keys stay in use (the issuer being
//!   briefly unreachable should not sign everybody out); with no usable keys at all the request
//!   fails with [`AuthnError::Unavailable`].
//! * **Claims**: `iss` exactly equal to `--oidc-issuer-url` (no normalisation: Entra v1 tokens
//!   carry `https://sts.windows.net/<tenant>/`, v2 tokens
//!   `https://login.microsoftonline.com/<tenant>/v2.0`; configure the one your tokens carry),
//!   `aud` one of `--oidc-audience`, `exp` required, `nbf` and `iat` respected, all with
//!   `--oidc-clock-skew` leeway.
//! * **Mapping**: user name from `--oidc-username-claim` (a string) with `--oidc-username-prefix`;
//!   groups from `--oidc-groups-claim` (a list of strings, or one string; absent means none), each
//!   with `--oidc-groups-prefix`; `uid` is Entra's `oid`; `oid` and `tid` also go into `extra`.
//!
//! URLs (issuer, JWKS) must be `https`. Plain `http` is accepted only for a loopback host
//! (`127.0.0.1`, `::1`, `localhost`), which only a test identity provider on the same machine can
//! be; such hosts are also reached without any proxy. Redirects are not followed.
//!
//! Error messages are safe to return to the caller: they never contain the token.

use std::{
    collections::BTreeMap,
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse},
};
use reqwest::{Url, header::ACCEPT};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use super::{AuthnError, UserInfo};
use crate::config::OidcArgs;

/// The JSON claims of a verified token.
pub(super) type Claims = Map<String, Value>;

/// Signature algorithms accepted from an OIDC issuer.
pub const ACCEPTED_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::PS256,
];

/// Longest token looked at (Entra tokens with many groups reach ~10 KiB).
pub(super) const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed fetch, requests reuse the failure this long before fetching again (capped by
/// `--oidc-jwks-min-refresh`), so an unreachable issuer is not hammered by every request.
const FAILED_FETCH_BACKOFF: Duration = Duration::from_secs(5);

const GROUPS_OVERAGE: &str = "the user is a member of too many groups for Entra ID to list them \
    in the token (groups overage: the token only points to Microsoft Graph); configure the portal's \
    app registration to emit only the groups assigned to the application (manifest \
    `groupMembershipClaims: \"ApplicationGroup\"`, or Token configuration → groups claim → \
    \"Groups assigned to the application\") and assign the groups used in RoleBindings to the \
    enterprise application";

/// A configuration error of the OIDC flags; the message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("--oidc-issuer-url is required unless --dev-auth")]
    MissingIssuer,
    #[error(
        "--oidc-audience is required: the portal app registration's client id or App ID URI \
         (repeat the flag or separate values with commas)"
    )]
    MissingAudience,
    #[error("--oidc-audience contains an empty value")]
    EmptyAudience,
    #[error("{flag} `{url}` is not a valid URL: {reason}")]
    InvalidUrl {
        flag: &'static str,
        url: String,
        reason: String,
    },
    #[error(
        "{flag} `{url}` must use https (plain http is accepted only for a loopback host such as \
         127.0.0.1 or localhost, i.e. a test identity provider)"
    )]
    InsecureUrl { flag: &'static str, url: String },
    #[error("{flag} must not be empty")]
    EmptyClaim { flag: &'static str },
    #[error("--oidc-jwks-ttl must be greater than zero")]
    ZeroTtl,
    #[error("--oidc-ca-file {}: {reason}", .path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot build the HTTP client for the OIDC issuer: {0}")]
    HttpClient(String),
}

/// Validates the portal's bearer tokens against one OIDC issuer. Cheap to share (`Arc`); all
/// methods take `&self`.
pub struct OidcValidator {
    issuer: String,
    audiences: Vec<String>,
    username_claim: String,
    username_prefix: String,
    groups_claim: String,
    groups_prefix: String,
    leeway: u64,
    validation: Validation,
    /// Boxed: keeps the validator about as small as `DevAuth` in `BearerAuth`.
    keys: Box<JwksCache>,
}

impl fmt::Debug for OidcValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcValidator")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("username_claim", &self.username_claim)
            .field("groups_claim", &self.groups_claim)
            .finish_non_exhaustive()
    }
}

impl OidcValidator {
    /// Checks the flags and prepares the HTTP client; fetches nothing yet (see [`Self::warm_up`]).
    pub fn new(args: &OidcArgs) -> Result<Self, JwtConfigError> {
        let issuer = args
            .oidc_issuer_url
            .as_deref()
            .map(str::trim)
            .filter(|issuer| !issuer.is_empty())
            .ok_or(JwtConfigError::MissingIssuer)?;
        let issuer_url = parse_url("--oidc-issuer-url", issuer)?;

        let audiences: Vec<String> = args
            .oidc_audiences
            .iter()
            .map(|aud| aud.trim().to_owned())
            .collect();
        if audiences.is_empty() {
            return Err(JwtConfigError::MissingAudience);
        }
        if audiences.iter().any(String::is_empty) {
            return Err(JwtConfigError::EmptyAudience);
        }

        let jwks_url = args
            .oidc_jwks_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| parse_url("--oidc-jwks-url", url))
            .transpose()?;

        let username_claim = args.oidc_username_claim.trim();
        if username_claim.is_empty() {
            return Err(JwtConfigError::EmptyClaim {
                flag: "--oidc-username-claim",
            });
        }
        let groups_claim = args.oidc_groups_claim.trim();
        if groups_claim.is_empty() {
            return Err(JwtConfigError::EmptyClaim {
                flag: "--oidc-groups-claim",
            });
        }
        if args.oidc_jwks_ttl.is_zero() {
            return Err(JwtConfigError::ZeroTtl);
        }

        let discovery_url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .map_err(|err| JwtConfigError::InvalidUrl {
            flag: "--oidc-issuer-url",
            url: issuer.to_owned(),
            reason: err.to_string(),
        })?;
        let loopback_only = is_loopback(&issuer_url) && jwks_url.as_ref().is_none_or(is_loopback);
        let http = build_client(args.oidc_ca_file.as_deref(), loopback_only)?;

        let leeway = args.oidc_clock_skew.as_secs();
        Ok(Self {
            issuer: issuer.to_owned(),
            validation: base_validation(issuer, &audiences, leeway),
            audiences,
            username_claim: username_claim.to_owned(),
            username_prefix: args.oidc_username_prefix.clone(),
            groups_claim: groups_claim.to_owned(),
            groups_prefix: args.oidc_groups_prefix.clone(),
            leeway,
            keys: Box::new(JwksCache {
                http,
                issuer: issuer.to_owned(),
                discovery_url,
                configured_url: jwks_url,
                ttl: args.oidc_jwks_ttl,
                min_refresh: args.oidc_jwks_min_refresh,
                state: Mutex::new(CacheState::default()),
                fetch_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The configured issuer (`iss` every token must carry).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Fetches the signing keys unless fresh ones are cached, so that a wrong issuer shows up at
    /// start-up (in the log) rather than at the first sign-in.
    pub async fn warm_up(&self) -> Result<(), AuthnError> {
        self.keys.key_set_for(None).await.map(drop)
    }

    /// Verifies `token` and maps its claims to the Kubernetes user.
    pub async fn validate(&self, token: &str) -> Result<UserInfo, AuthnError> {
        let header = parse_header(token, &ACCEPTED_ALGORITHMS)?;
        let kid = header.kid.as_deref();
        let set = self.keys.key_set_for(kid).await?;
        let fitting: Vec<&VerificationKey> = set
            .keys
            .iter()
            .filter(|key| kid.is_none() || key.kid.as_deref() == kid)
            .filter(|key| key.accepts(header.alg))
            .collect();
        if fitting.is_empty() {
            return Err(invalid(format!(
                "token algorithm {:?} does not match its signing key{}",
                header.alg,
                kid.map(|kid| format!(" {}", shown(kid)))
                    .unwrap_or_default()
            )));
        }

        // Without a `kid` every fitting key is tried (as go-oidc does); a wrong key only shows as
        // a bad signature, any other failure is final.
        let mut failure = None;
        for key in fitting {
            match verify(token, header.alg, &key.key, &self.validation) {
                Ok(claims) => {
                    check_times(&claims, self.leeway)?;
                    return self.user_info(&claims);
                }
                Err(err) => {
                    let try_next = matches!(err.kind(), ErrorKind::InvalidSignature);
                    failure = Some(err);
                    if !try_next {
                        break;
                    }
                }
            }
        }
        Err(match failure {
            Some(err) => rejection(&err, token, &self.issuer, &self.audiences, self.leeway),
            None => invalid("signature verification failed"),
        })
    }

    fn user_info(&self, claims: &Claims) -> Result<UserInfo, AuthnError> {
        let claim = &self.username_claim;
        let name = match claims.get(claim) {
            Some(Value::String(name)) if !name.is_empty() => name,
            Some(Value::String(_)) => {
                return Err(invalid(format!(
                    "claim `{claim}` (--oidc-username-claim) is empty"
                )));
            }
            Some(_) => {
                return Err(invalid(format!(
                    "claim `{claim}` (--oidc-username-claim) is not a string"
                )));
            }
            None => {
                return Err(invalid(format!(
                    "token has no `{claim}` claim (--oidc-username-claim); Entra ID access tokens \
                     carry it only in v2 (accessTokenAcceptedVersion 2) or as an optional claim"
                )));
            }
        };

        let claim = &self.groups_claim;
        let groups: Vec<&str> = match claims.get(claim) {
            Some(Value::Array(items)) => items
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<&str>>>()
                .ok_or_else(|| {
                    invalid(format!(
                        "claim `{claim}` (--oidc-groups-claim) is not a list of strings"
                    ))
                })?,
            Some(Value::String(group)) => vec![group.as_str()],
            Some(Value::Null) | None => {
                if groups_overage(claims, claim) {
                    return Err(invalid(GROUPS_OVERAGE));
                }
                Vec::new()
            }
            Some(_) => {
                return Err(invalid(format!(
                    "claim `{claim}` (--oidc-groups-claim) is not a list of strings"
                )));
            }
        };

        let mut extra = BTreeMap::new();
        for key in ["oid", "tid"] {
            if let Some(value) = claims.get(key).and_then(Value::as_str) {
                extra.insert(key.to_owned(), vec![value.to_owned()]);
            }
        }
        Ok(UserInfo {
            username: format!("{}{name}", self.username_prefix),
            uid: claims.get("oid").and_then(Value::as_str).map(str::to_owned),
            groups: groups
                .into_iter()
                .map(|group| format!("{}{group}", self.groups_prefix))
                .collect(),
            extra,
        })
    }
}

/// Entra leaves out the groups claim when the user is in more groups than fit (200 in a JWT) and
/// names a Graph source in `_claim_names` instead (implicit flow: `hasgroups: true`).
fn groups_overage(claims: &Claims, groups_claim: &str) -> bool {
    let named_elsewhere = claims
        .get("_claim_names")
        .and_then(Value::as_object)
        .is_some_and(|names| names.contains_key(groups_claim));
    named_elsewhere || claims.get("hasgroups") == Some(&Value::Bool(true))
}

// ---------------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------------

struct JwksCache {
    http: reqwest::Client,
    issuer: String,
    discovery_url: Url,
    configured_url: Option<Url>,
    ttl: Duration,
    min_refresh: Duration,
    state: Mutex<CacheState>,
    /// Held while fetching, so concurrent refreshes coalesce into one.
    fetch_lock: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct CacheState {
    /// The last keys fetched successfully.
    keys: Option<Arc<KeySet>>,
    /// `jwks_uri` from the discovery document, once read.
    discovered_url: Option<Url>,
    /// Number of fetch attempts so far (a request that waited for the fetch lock compares it to
    /// learn whether another request fetched meanwhile).
    attempts: u64,
    last_attempt: Option<Instant>,
    /// Why the last attempt failed; `None` after a success.
    last_error: Option<String>,
}

struct KeySet {
    fetched_at: Instant,
    source: Url,
    keys: Vec<VerificationKey>,
}

impl KeySet {
    fn is_fresh(&self, ttl: Duration) -> bool {
        self.fetched_at.elapsed() < ttl
    }

    fn has(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(kid) => self.keys.iter().any(|key| key.kid.as_deref() == Some(kid)),
            None => !self.keys.is_empty(),
        }
    }
}

#[derive(Deserialize)]
struct JwksDocument {
    /// Kept raw: one entry of a kind we do not know must not spoil the others.
    keys: Vec<Value>,
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

impl JwksCache {
    fn lock_state(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failure_backoff(&self) -> Duration {
        FAILED_FETCH_BACKOFF.min(self.min_refresh)
    }

    /// The key set to verify a token with `kid` (any key when `None`), fetching when the cache is
    /// empty, older than the TTL, or lacks `kid` (rate-limited).
    async fn key_set_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthnError> {
        let seen_attempts = {
            let state = self.lock_state();
            if let Some(set) = &state.keys
                && set.is_fresh(self.ttl)
                && set.has(kid)
            {
                return Ok(Arc::clone(set));
            }
            state.attempts
        };

        let _fetching = self.fetch_lock.lock().await;
        {
            let state = self.lock_state();
            if state.attempts != seen_attempts {
                // Another request fetched while this one waited: share its outcome.
                return self.outcome(&state, kid);
            }
            let since_last = state.last_attempt.map(|at| at.elapsed());
            let fresh = state
                .keys
                .as_ref()
                .is_some_and(|set| set.is_fresh(self.ttl));
            if fresh {
                // Current keys, unknown kid: maybe a rotated key. Refresh at most once per
                // --oidc-jwks-min-refresh, so random key ids cannot make us hammer the issuer.
                if since_last.is_some_and(|since| since < self.min_refresh) {
                    return self.outcome(&state, kid);
                }
            } else if state.last_error.is_some()
                && since_last.is_some_and(|since| since < self.failure_backoff())
            {
                return self.outcome(&state, kid);
            }
        }

        let fetched = self.fetch().await;
        let mut state = self.lock_state();
        state.attempts += 1;
        state.last_attempt = Some(Instant::now());
        match fetched {
            Ok(set) => {
                tracing::info!(
                    url = %set.source,
                    keys = set.keys.len(),
                    "fetched the OIDC issuer's signing keys"
                );
                state.keys = Some(Arc::new(set));
                state.last_error = None;
            }
            Err(err) => {
                tracing::warn!(
                    issuer = %self.issuer,
                    error = %err,
                    "cannot fetch the OIDC issuer's signing keys"
                );
                state.last_error = Some(err);
            }
        }
        self.outcome(&state, kid)
    }

    /// What the cache state means for a token with `kid`, after a fetch (or a decision not to).
    fn outcome(&self, state: &CacheState, kid: Option<&str>) -> Result<Arc<KeySet>, AuthnError> {
        if let Some(set) = &state.keys
            && set.has(kid)
        {
            if !set.is_fresh(self.ttl) {
                tracing::debug!("refreshing the OIDC signing keys failed; using the previous ones");
            }
            return Ok(Arc::clone(set));
        }
        if let Some(err) = &state.last_error {
            return Err(AuthnError::Unavailable(format!(
                "cannot fetch the signing keys of {}: {err}",
                self.issuer
            )));
        }
        match (&state.keys, kid) {
            (Some(set), Some(kid)) => Err(invalid(format!(
                "token signing key {} is not published by the issuer (keys from {}; an unknown \
                 key id re-fetches them at most every {:?})",
                shown(kid),
                set.source,
                self.min_refresh
            ))),
            _ => Err(AuthnError::Unavailable(format!(
                "the issuer {} publishes no usable signing keys",
                self.issuer
            ))),
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let url = match &self.configured_url {
            Some(url) => url.clone(),
            None => {
                let known = self.lock_state().discovered_url.clone();
                match known {
                    Some(url) => url,
                    None => {
                        let url = self.discover().await?;
                        self.lock_state().discovered_url = Some(url.clone());
                        url
                    }
                }
            }
        };
        let document: JwksDocument = self.get_json(&url).await?;
        let total = document.keys.len();
        let keys: Vec<VerificationKey> = document
            .keys
            .into_iter()
            .filter_map(VerificationKey::from_value)
            .collect();
        if keys.is_empty() {
            return Err(format!(
                "{url} lists no usable signing keys (RSA, or EC on P-256/P-384; {total} listed)"
            ));
        }
        if keys.len() < total {
            tracing::debug!(
                url = %url,
                skipped = total - keys.len(),
                "ignored JWKS entries that are not signature keys of an accepted algorithm"
            );
        }
        Ok(KeySet {
            fetched_at: Instant::now(),
            source: url,
            keys,
        })
    }

    async fn discover(&self) -> Result<Url, String> {
        let document: DiscoveryDocument = self.get_json(&self.discovery_url).await?;
        if let Some(advertised) = &document.issuer
            && advertised != &self.issuer
        {
            tracing::warn!(
                configured = %self.issuer,
                advertised = %advertised,
                "the discovery document names another issuer; tokens must carry the configured \
                 --oidc-issuer-url exactly"
            );
        }
        let raw = document
            .jwks_uri
            .ok_or_else(|| format!("{} has no jwks_uri", self.discovery_url))?;
        parse_url("jwks_uri of the discovery document", &raw).map_err(|err| err.to_string())
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, String> {
        let mut response = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| format!("GET {url}: {}", error_chain(&err)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!("GET {url}: response larger than 1 MiB"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("GET {url}: {}", error_chain(&err)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: response larger than 1 MiB"));
            }
        }
        serde_json::from_slice(&body).map_err(|err| format!("GET {url}: unexpected JSON: {err}"))
    }
}

/// A JWKS entry usable to verify signatures.
struct VerificationKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<Algorithm>,
    family: KeyFamily,
    key: DecodingKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    /// An EC key fits exactly one algorithm, given by its curve.
    Ec(Algorithm),
}

impl KeyFamily {
    fn allows(self, alg: Algorithm) -> bool {
        match self {
            Self::Rsa => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            Self::Ec(curve_alg) => curve_alg == alg,
        }
    }
}

impl VerificationKey {
    fn from_value(raw: Value) -> Option<Self> {
        match serde_json::from_value::<Jwk>(raw) {
            Ok(jwk) => Self::from_jwk(&jwk),
            Err(err) => {
                tracing::debug!(error = %err, "ignored a JWKS entry that is not a JWK we know");
                None
            }
        }
    }

    /// Symmetric (`oct`) and OKP keys are never used; neither are encryption keys.
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|usage| *usage != PublicKeyUse::Signature)
        {
            return None;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
            AlgorithmParameters::EllipticCurve(params) => match params.curve {
                EllipticCurve::P256 => KeyFamily::Ec(Algorithm::ES256),
                EllipticCurve::P384 => KeyFamily::Ec(Algorithm::ES384),
                _ => return None,
            },
            _ => return None,
        };
        let alg = match jwk.common.key_algorithm {
            Some(named) => Some(accepted_key_algorithm(named)?),
            None => None,
        };
        if alg.is_some_and(|alg| !family.allows(alg)) {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id.clone(),
            alg,
            family,
            key,
        })
    }

    fn accepts(&self, alg: Algorithm) -> bool {
        match self.alg {
            Some(named) => named == alg,
            None => self.family.allows(alg),
        }
    }
}

fn accepted_key_algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    let alg = match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        _ => return None,
    };
    Some(alg)
}

fn parse_url(flag: &'static str, raw: &str) -> Result<Url, JwtConfigError> {
    let url = Url::parse(raw).map_err(|err| JwtConfigError::InvalidUrl {
        flag,
        url: raw.to_owned(),
        reason: err.to_string(),
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(JwtConfigError::InsecureUrl {
            flag,
            url: raw.to_owned(),
        }),
        other => Err(JwtConfigError::InvalidUrl {
            flag,
            url: raw.to_owned(),
            reason: format!("unsupported scheme `{other}`"),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn build_client(
    ca_file: Option<&Path>,
    loopback_only: bool,
) -> Result<reqwest::Client, JwtConfigError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nexus-apiserver/", env!("CARGO_PKG_VERSION")));
    if loopback_only {
        builder = builder.no_proxy();
    }
    if let Some(path) = ca_file {
        let ca_error = |reason: String| JwtConfigError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|err| ca_error(err.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|err| ca_error(error_chain(&err)))?;
        if certs.is_empty() {
            return Err(ca_error("no PEM certificates in the file".to_owned()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|err| JwtConfigError::HttpClient(error_chain(&err)))
}

// ---------------------------------------------------------------------------------------------
// Token checks shared with dev-auth
// ---------------------------------------------------------------------------------------------

pub(super) fn invalid(message: impl Into<String>) -> AuthnError {
    AuthnError::InvalidToken(message.into())
}

/// The header fields looked at before choosing a key.
#[derive(Debug)]
pub(super) struct TokenHeader {
    pub(super) alg: Algorithm,
    pub(super) kid: Option<String>,
}

/// Reads the JOSE header and refuses unsigned, symmetric and unlisted algorithms.
pub(super) fn parse_header(token: &str, accepted: &[Algorithm]) -> Result<TokenHeader, AuthnError> {
    #[derive(Deserialize)]
    struct RawHeader {
        alg: Option<Value>,
        kid: Option<Value>,
        crit: Option<Value>,
    }

    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "token is larger than {} KiB",
            MAX_TOKEN_BYTES / 1024
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(
            "not a JWT (expected three dot-separated base64url parts)",
        ));
    };
    let raw: RawHeader = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("malformed JWT header"))?;
    if raw.crit.is_some() {
        return Err(invalid(
            "token header lists critical extensions (`crit`), which are not supported",
        ));
    }
    let Some(Value::String(alg)) = raw.alg else {
        return Err(invalid("JWT header has no `alg`"));
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(invalid("unsigned tokens (`alg: none`) are not accepted"));
    }
    if alg.starts_with("HS") {
        return Err(invalid(format!(
            "symmetric signatures ({}) are not accepted; tokens must be signed with the \
             issuer's published keys",
            shown(&alg)
        )));
    }
    let alg = Algorithm::from_str(&alg)
        .ok()
        .filter(|parsed| accepted.contains(parsed))
        .ok_or_else(|| {
            let names: Vec<String> = accepted.iter().map(|alg| format!("{alg:?}")).collect();
            invalid(format!(
                "signature algorithm {} is not accepted (accepted: {})",
                shown(&alg),
                names.join(", ")
            ))
        })?;
    let kid = match raw.kid {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid),
        Some(_) => return Err(invalid("JWT header `kid` is not a string")),
    };
    Ok(TokenHeader { alg, kid })
}

/// Validation of signature, `iss`, `aud`, `exp` and `nbf` (required: `exp`, `iss`, `aud`).
pub(super) fn base_validation(issuer: &str, audiences: &[String], leeway: u64) -> Validation {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.leeway = leeway;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation
}

pub(super) fn verify(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
    base: &Validation,
) -> Result<Claims, jsonwebtoken::errors::Error> {
    let mut validation = base.clone();
    validation.algorithms = vec![alg];
    jsonwebtoken::decode::<Claims>(token, key, &validation).map(|data| data.claims)
}

/// What jsonwebtoken leaves unchecked: `nbf`/`iat` that are not numbers, `iat` in the future.
pub(super) fn check_times(claims: &Claims, leeway: u64) -> Result<(), AuthnError> {
    let now = jsonwebtoken::get_current_timestamp();
    let numeric = |value: &Value| value.is_u64() || value.as_f64().is_some_and(|v| v >= 0.0);
    for name in ["nbf", "iat"] {
        if let Some(value) = claims.get(name)
            && !numeric(value)
        {
            return Err(invalid(format!("claim `{name}` is not a NumericDate")));
        }
    }
    let issued_at = claims
        .get("iat")
        .and_then(|iat| iat.as_u64().or_else(|| iat.as_f64().map(|v| v as u64)));
    if let Some(iat) = issued_at
        && iat > now.saturating_add(leeway)
    {
        return Err(invalid(format!(
            "token was issued in the future (iat {}; clock skew allowed: {leeway}s); check the \
             clocks",
            timestamp(iat)
        )));
    }
    Ok(())
}

/// Turns a jsonwebtoken failure into a message for the caller (never containing the token).
pub(super) fn rejection(
    err: &jsonwebtoken::errors::Error,
    token: &str,
    issuer: &str,
    audiences: &[String],
    leeway: u64,
) -> AuthnError {
    // The claims are read again only to explain a claim failure, which jsonwebtoken reports after
    // the signature was verified.
    let claim = |name: &str| peek_claims(token).and_then(|claims| claims.get(name).cloned());
    let message = match err.kind() {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::Crypto(_) => "signature verification failed".to_owned(),
        ErrorKind::InvalidAlgorithm => "token algorithm does not match its signing key".to_owned(),
        ErrorKind::ExpiredSignature => match claim("exp").and_then(|exp| exp.as_u64()) {
            Some(exp) => format!(
                "token expired at {} (clock skew allowed: {leeway}s)",
                timestamp(exp)
            ),
            None => "token has expired".to_owned(),
        },
        ErrorKind::ImmatureSignature => match claim("nbf").and_then(|nbf| nbf.as_u64()) {
            Some(nbf) => format!(
                "token is not valid yet (nbf {}; clock skew allowed: {leeway}s)",
                timestamp(nbf)
            ),
            None => "token is not valid yet (nbf)".to_owned(),
        },
        ErrorKind::InvalidIssuer => {
            let got = claim("iss").map(|iss| shown_value(&iss));
            let mut message = format!(
                "token issuer {} is not the configured issuer {issuer:?}",
                got.as_deref().unwrap_or("(unreadable)")
            );
            let v1 = |s: &str| s.contains("sts.windows.net");
            if got.as_deref().is_some_and(v1) != v1(issuer) {
                message.push_str(
                    "; Entra ID issues v1 tokens (https://sts.windows.net/<tenant>/) unless the \
                     app registration requests v2 access tokens (accessTokenAcceptedVersion: 2)",
                );
            }
            message
        }
        ErrorKind::InvalidAudience => format!(
            "token audience {} is not an accepted audience ({})",
            claim("aud")
                .map(|aud| shown_value(&aud))
                .unwrap_or_else(|| "(unreadable)".to_owned()),
            audiences.join(", ")
        ),
        ErrorKind::MissingRequiredClaim(name) => format!("token has no valid `{name}` claim"),
        _ => "malformed token".to_owned(),
    };
    invalid(message)
}

/// The payload, without verification: only for explaining a failure.
fn peek_claims(token: &str) -> Option<Claims> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn timestamp(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .map_or_else(|| seconds.to_string(), |ts| ts.to_string())
}

/// A header or claim value quoted and cut short for an error message.
pub(super) fn shown(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    format!("{cut:?}")
}

fn shown_value(value: &Value) -> String {
    match value {
        Value::String(text) => shown(text),
        other => {
            let text = other.to_string();
            if text.chars().count() > 200 {
                format!("{}…", text.chars().take(200).collect::<String>())
            } else {
                text
            }
        }
    }
}

pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use std::{
        net::SocketAddr,
        sync::{
            OnceLock,
            atomic::{AtomicBool, AtomicUsize, Ordering},
        },
    };

    use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
    use jsonwebtoken::{EncodingKey, Header};
    use ring::{
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
    };
    use serde_json::json;

    use super::*;

    const AUDIENCE: &str = "api://nexus-portal";

    // --- test identity provider -------------------------------------------------------------

    #[derive(Clone)]
    struct IdpState {
        issuer: String,
        jwks: Arc<Mutex<Value>>,
        jwks_fetches: Arc<AtomicUsize>,
        discovery_fetches: Arc<AtomicUsize>,
        failing: Arc<AtomicBool>,
        delay: Arc<Mutex<Duration>>,
    }

    struct Idp {
        addr: SocketAddr,
        state: IdpState,
    }

    impl Idp {
        async fn start(keys: &[&TestKey]) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state = IdpState {
                issuer: format!("http://{addr}"),
                jwks: Arc::new(Mutex::new(jwks(keys))),
                jwks_fetches: Arc::default(),
                discovery_fetches: Arc::default(),
                failing: Arc::default(),
                delay: Arc::default(),
            };
            let app = Router::new()
                .route("/.well-known/openid-configuration", get(discovery))
                .route("/keys", get(keys_handler))
                .with_state(state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Self { addr, state }
        }

        fn issuer(&self) -> String {
            self.state.issuer.clone()
        }

        fn publish(&self, keys: &[&TestKey]) {
            *self.state.jwks.lock().unwrap() = jwks(keys);
        }

        fn jwks_fetches(&self) -> usize {
            self.state.jwks_fetches.load(Ordering::SeqCst)
        }

        fn discovery_fetches(&self) -> usize {
            self.state.discovery_fetches.load(Ordering::SeqCst)
        }

        fn args(&self) -> OidcArgs {
            OidcArgs {
                oidc_issuer_url: Some(self.issuer()),
                oidc_audiences: vec![AUDIENCE.to_owned()],
                oidc_jwks_url: None,
                oidc_username_claim: "preferred_username".to_owned(),
                oidc_groups_claim: "groups".to_owned(),
                oidc_username_prefix: String::new(),
                oidc_groups_prefix: String::new(),
                oidc_clock_skew: Duration::from_secs(60),
                oidc_jwks_ttl: Duration::from_secs(3600),
                oidc_jwks_min_refresh: Duration::from_secs(3600),
                oidc_ca_file: None,
            }
        }

        fn validator(&self) -> OidcValidator {
            OidcValidator::new(&self.args()).unwrap()
        }

        fn claims(&self) -> Value {
            let now = jsonwebtoken::get_current_timestamp();
            json!({
                "iss": self.issuer(),
                "aud": AUDIENCE,
                "iat": now,
                "nbf": now,
                "exp": now + 600,
                "preferred_username": "alice@example.com",
                "oid": "00000000-0000-0000-0000-0000000000a1",
                "tid": "00000000-0000-0000-0000-0000000000t1",
                "groups": ["g-platform", "g-payments"],
            })
        }
    }

    async fn discovery(State(state): State<IdpState>) -> Json<Value> {
        state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
        Json(json!({
            "issuer": state.issuer,
            "jwks_uri": format!("{}/keys", state.issuer),
        }))
    }

    async fn keys_handler(State(state): State<IdpState>) -> Result<Json<Value>, StatusCode> {
        state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
        let delay = *state.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if state.failing.load(Ordering::SeqCst) {
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
        let body = state.jwks.lock().unwrap().clone();
        Ok(Json(body))
    }

    // --- test keys --------------------------------------------------------------------------

    #[derive(Clone)]
    struct TestKey {
        kid: String,
        alg: Algorithm,
        encoding: EncodingKey,
        jwk: Value,
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn es256_key(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        TestKey {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            }),
        }
    }

    /// One RSA key per test run (openssl key generation is slow-ish); the kid is chosen per use.
    fn rsa_key(kid: &str) -> TestKey {
        static PEM: OnceLock<Vec<u8>> = OnceLock::new();
        let pem = PEM.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("rsa.pem");
            let status = std::process::Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .arg("-out")
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl must be installed for the RSA tests");
            assert!(status.success(), "openssl genpkey failed");
            std::fs::read(&path).unwrap()
        });
        let text = std::str::from_utf8(pem).unwrap();
        let body: String = text
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let pair = ring::rsa::KeyPair::from_pkcs8(&der).unwrap();
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        TestKey {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(pem).unwrap(),
            jwk: json!({
                "kty": "RSA", "use": "sig", "kid": kid,
                "n": b64(&public.n), "e": b64(&public.e),
            }),
        }
    }

    fn jwks(keys: &[&TestKey]) -> Value {
        json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() })
    }

    fn sign(key: &TestKey, claims: &Value) -> String {
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }

    /// Validates, expects a rejection, and checks that the message does not echo the token.
    async fn rejected(validator: &OidcValidator, token: &str) -> AuthnError {
        let err = validator
            .validate(token)
            .await
            .expect_err("token must be rejected");
        let message = err.to_string();
        for part in token.split('.').filter(|part| part.len() > 8) {
            assert!(
                !message.contains(part),
                "message leaks the token: {message}"
            );
        }
        err
    }

    async fn invalid_message(validator: &OidcValidator, token: &str) -> String {
        match rejected(validator, token).await {
            AuthnError::InvalidToken(message) => message,
            other => panic!("expected InvalidToken, got {other:?}"),
        }
    }

    // --- tests ------------------------------------------------------------------------------

    #[tokio::test]
    async fn valid_es256_token_maps_the_user_with_prefixes() {
        let key = es256_key("k1");
        let idp = Idp::start(&[&key]).await;
        let mut args = idp.args();
        args.oidc_username_prefix = "entra:".to_owned();
        args.oidc_groups_prefix = "entra-group:".to_owned();
        let validator = OidcValidator::new(&args).unwrap();

        let user = validator
            .validate(&sign(&key, &idp.claims()))
            .await
            .unwrap();

        assert_eq!(
            user,
            UserInfo {
                username: "entra:alice@example.com".to_owned(),
                uid: Some("00000000-0000-0000-0000-0000000000a1".to_owned()),
                groups: vec![
                    "entra-group:g-platform".to_owned(),
                    "entra-group:g-payments".to_owned()
                ],
                extra: BTreeMap::from([
                    (
                        "oid".to_owned(),
                        vec!["00000000-0000-0000-0000-0000000000a1".to_owned()]
                    ),
                    (
                        "tid".to_owned(),
                        vec!["00000000-0000-0000-0000-0000000000t1".to_owned()]
                    ),
                ]),
            }
        );
        assert_eq!(idp.discovery_fetches(), 1);
        assert_eq!(idp.jwks_fetches(), 1);

        // Cached: a second token needs no fetch.
        validator
            .validate(&sign(&key, &idp.claims()))
            .await
            .unwrap();
        assert_eq!(idp.jwks_fetches(), 1);
    }

    #[tokio::test]
    async fn valid_rs256_token_with_explicit_jwks_url_and_other_claims() {
        let key = rsa_key("rsa-1");
        let idp = Idp::start(&[&key]).await;
        let mut args = idp.args();
        args.oidc_jwks_url = Some(format!("http://{}/keys", idp.addr));
        args.oidc_username_claim = "upn".to_owned();
        args.oidc_audiences = vec!["other".to_owned(), AUDIENCE.to_owned()];
        let validator = OidcValidator::new(&args).unwrap();

        let mut claims = idp.claims();
        claims["upn"] = json!("bob@example.com");
        claims["aud"] = json!(["something-else", AUDIENCE]);
        claims.as_object_mut().unwrap().remove("groups");
        claims.as_object_mut().unwrap().remove("oid");
        let user = validator.validate(&sign(&key, &claims)).await.unwrap();

        assert_eq!(user.username, "bob@example.com");
        assert!(user.groups.is_empty());
        assert_eq!(user.uid, None);
        assert_eq!(
            idp.discovery_fetches(),
            0,
            "the configured JWKS URL is used"
        );

        // The same RSA key also verifies RS384 and PS256 (the JWK names no algorithm).
        for alg in [Algorithm::RS384, Algorithm::PS256] {
            let key = TestKey { alg, ..key.clone() };
            validator.validate(&sign(&key, &claims)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn claim_checks_reject_with_clear_messages() {
        let key = es256_key("k1");
        let idp = Idp::start(&[&key]).await;
        let validator = idp.validator();
        let now = jsonwebtoken::get_current_timestamp();

        let mut claims = idp.claims();
        claims["iss"] = json!("https://sts.windows.net/tenant/");
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("issuer"), "{message}");
        assert!(
            message.contains("https://sts.windows.net/tenant/"),
            "{message}"
        );
        assert!(message.contains("v1 tokens"), "{message}");

        let mut claims = idp.claims();
        claims["aud"] = json!("api://someone-else");
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("audience"), "{message}");
        assert!(message.contains(AUDIENCE), "{message}");

        let mut claims = idp.claims();
        claims["exp"] = json!(now - 120);
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("expired"), "{message}");

        // Within the clock skew of 60s: still accepted.
        let mut claims = idp.claims();
        claims["exp"] = json!(now - 10);
        validator.validate(&sign(&key, &claims)).await.unwrap();

        let mut claims = idp.claims();
        claims["nbf"] = json!(now + 300);
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("not valid yet"), "{message}");

        let mut claims = idp.claims();
        claims["iat"] = json!(now + 300);
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("issued in the future"), "{message}");

        let mut claims = idp.claims();
        claims.as_object_mut().unwrap().remove("exp");
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("`exp`"), "{message}");

        let mut claims = idp.claims();
        claims.as_object_mut().unwrap().remove("preferred_username");
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("`preferred_username`"), "{message}");

        let mut claims = idp.claims();
        claims["groups"] = json!(["ok", 7]);
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("not a list of strings"), "{message}");
    }

    #[tokio::test]
    async fn signatures_and_algorithms_are_enforced() {
        let key = es256_key("k1");
        let idp = Idp::start(&[&key]).await;
        let validator = idp.validator();
        let claims = idp.claims();

        // Another key claiming the published kid.
        let forged = TestKey {
            kid: "k1".to_owned(),
            ..es256_key("forger")
        };
        let message = invalid_message(&validator, &sign(&forged, &claims)).await;
        assert!(message.contains("signature"), "{message}");

        // A genuine signature over a tampered payload.
        let token = sign(&key, &claims);
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut tampered = claims.clone();
        tampered["preferred_username"] = json!("admin@example.com");
        let payload = b64(tampered.to_string().as_bytes());
        parts[1] = &payload;
        let message = invalid_message(&validator, &parts.join(".")).await;
        assert!(message.contains("signature"), "{message}");

        // alg none.
        let header = b64(br#"{"alg":"none","kid":"k1"}"#);
        let body = b64(claims.to_string().as_bytes());
        let message = invalid_message(&validator, &format!("{header}.{body}.")).await;
        assert!(message.contains("alg: none"), "{message}");

        // HS256 with the public key as secret (the classic confusion attack).
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".to_owned());
        let secret = key.jwk.to_string();
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        let message = invalid_message(&validator, &token).await;
        assert!(message.contains("symmetric"), "{message}");

        // RS256 header naming the EC key.
        let rsa = rsa_key("k1");
        let message = invalid_message(&validator, &sign(&rsa, &claims)).await;
        assert!(message.contains("does not match"), "{message}");

        // Garbage.
        let message = invalid_message(&validator, "not-a-jwt").await;
        assert!(message.contains("not a JWT"), "{message}");

        // Unknown kid.
        let stranger = es256_key("k-unknown");
        let message = invalid_message(&validator, &sign(&stranger, &claims)).await;
        assert!(message.contains("\"k-unknown\""), "{message}");
        assert!(message.contains("not published"), "{message}");
    }

    #[tokio::test]
    async fn a_jwk_naming_its_algorithm_only_accepts_that_algorithm() {
        let mut key = rsa_key("rsa-named");
        key.jwk["alg"] = json!("RS256");
        let idp = Idp::start(&[&key]).await;
        let validator = idp.validator();
        validator
            .validate(&sign(&key, &idp.claims()))
            .await
            .unwrap();

        let ps = TestKey {
            alg: Algorithm::PS256,
            ..key.clone()
        };
        let message = invalid_message(&validator, &sign(&ps, &idp.claims())).await;
        assert!(message.contains("does not match"), "{message}");
    }

    #[tokio::test]
    async fn key_rotation_refreshes_at_most_once_per_min_refresh() {
        let old = es256_key("old");
        let new = es256_key("new");
        let idp = Idp::start(&[&old]).await;
        let mut args = idp.args();
        args.oidc_jwks_min_refresh = Duration::from_millis(400);
        let validator = OidcValidator::new(&args).unwrap();

        validator
            .validate(&sign(&old, &idp.claims()))
            .await
            .unwrap();
        assert_eq!(idp.jwks_fetches(), 1);

        // The issuer rotates; right after the last fetch the new kid is not looked up again.
        idp.publish(&[&new]);
        let token = sign(&new, &idp.claims());
        for _ in 0..5 {
            let message = invalid_message(&validator, &token).await;
            assert!(message.contains("not published"), "{message}");
        }
        assert_eq!(idp.jwks_fetches(), 1, "refresh is rate-limited");

        tokio::time::sleep(Duration::from_millis(450)).await;
        let user = validator.validate(&token).await.unwrap();
        assert_eq!(user.username, "alice@example.com");
        assert_eq!(idp.jwks_fetches(), 2);
        assert_eq!(idp.discovery_fetches(), 1, "jwks_uri is discovered once");

        // Random kids right after the refresh cost no fetch.
        for kid in ["x1", "x2", "x3"] {
            invalid_message(&validator, &sign(&es256_key(kid), &idp.claims())).await;
        }
        assert_eq!(idp.jwks_fetches(), 2);

        // The old key is gone from the issuer: after the refresh, its tokens fail.
        let message = invalid_message(&validator, &sign(&old, &idp.claims())).await;
        assert!(message.contains("\"old\""), "{message}");
    }

    #[tokio::test]
    async fn concurrent_refreshes_coalesce_into_one_fetch() {
        let key = es256_key("k1");
        let idp = Idp::start(&[&key]).await;
        *idp.state.delay.lock().unwrap() = Duration::from_millis(200);
        let mut args = idp.args();
        args.oidc_jwks_min_refresh = Duration::ZERO;
        let validator = OidcValidator::new(&args).unwrap();

        let token = sign(&key, &idp.claims());
        let results = futures::future::join_all((0..8).map(|_| validator.validate(&token))).await;
        for result in results {
            result.unwrap();
        }
        assert_eq!(idp.jwks_fetches(), 1);
        assert_eq!(idp.discovery_fetches(), 1);

        // The same for concurrent unknown kids, even without a minimum refresh interval.
        let stranger = sign(&es256_key("stranger"), &idp.claims());
        let results =
            futures::future::join_all((0..8).map(|_| validator.validate(&stranger))).await;
        assert!(results.iter().all(Result::is_err));
        assert_eq!(idp.jwks_fetches(), 2);
    }

    #[tokio::test]
    async fn expired_keys_are_refetched_and_kept_when_the_issuer_fails() {
        let key = es256_key("k1");
        let idp = Idp::start(&[&key]).await;
        let mut args = idp.args();
        args.oidc_jwks_ttl = Duration::from_millis(200);
        args.oidc_jwks_min_refresh = Duration::ZERO;
        let validator = OidcValidator::new(&args).unwrap();
        let token = sign(&key, &idp.claims());

        validator.validate(&token).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        validator.validate(&token).await.unwrap();
        assert_eq!(
            idp.jwks_fetches(),
            2,
            "keys older than the TTL are fetched again"
        );

        idp.state.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(250)).await;
        validator.validate(&token).await.unwrap();
        assert_eq!(idp.jwks_fetches(), 3);

        // A kid the stale keys do not have cannot be checked: unavailable, not invalid.
        let other = sign(&es256_key("k2"), &idp.claims());
        let err = rejected(&validator, &other).await;
        assert!(matches!(err, AuthnError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn unreachable_issuer_is_unavailable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let key = es256_key("k1");
        let idp_args = OidcArgs {
            oidc_issuer_url: Some(format!("http://{addr}")),
            ..Idp::start(&[&key]).await.args()
        };
        let validator = OidcValidator::new(&idp_args).unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let token = sign(
            &key,
            &json!({"iss": format!("http://{addr}"), "aud": AUDIENCE, "exp": now + 60,
                    "preferred_username": "alice"}),
        );
        let err = rejected(&validator, &token).await;
        match err {
            AuthnError::Unavailable(message) => {
                assert!(message.contains("openid-configuration"), "{message}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(validator.warm_up().await.is_err());
    }

    #[tokio::test]
    async fn groups_overage_explains_the_fix() {
        let key = es256_key("k1");
        let idp = Idp::start(&[&key]).await;
        let validator = idp.validator();
        let mut claims = idp.claims();
        let object = claims.as_object_mut().unwrap();
        object.remove("groups");
        object.insert("_claim_names".to_owned(), json!({"groups": "src1"}));
        object.insert(
            "_claim_sources".to_owned(),
            json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}),
        );
        let message = invalid_message(&validator, &sign(&key, &claims)).await;
        assert!(message.contains("too many groups"), "{message}");
        assert!(message.contains("ApplicationGroup"), "{message}");
        assert!(message.contains("assign"), "{message}");
    }

    #[tokio::test]
    async fn configuration_errors_name_the_flag() {
        let key = es256_key("k1");
        let idp = Idp::start(&[&key]).await;

        let mut args = idp.args();
        args.oidc_issuer_url = None;
        let err = OidcValidator::new(&args).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--oidc-issuer-url is required unless --dev-auth"
        );

        let mut args = idp.args();
        args.oidc_audiences.clear();
        let err = OidcValidator::new(&args).unwrap_err();
        assert!(err.to_string().contains("--oidc-audience"), "{err}");

        let mut args = idp.args();
        args.oidc_issuer_url = Some("http://login.example.com/tenant/v2.0".to_owned());
        let err = OidcValidator::new(&args).unwrap_err();
        assert!(matches!(err, JwtConfigError::InsecureUrl { .. }), "{err}");
        assert!(err.to_string().contains("--oidc-issuer-url"), "{err}");

        let mut args = idp.args();
        args.oidc_jwks_url = Some("ftp://example.com/keys".to_owned());
        let err = OidcValidator::new(&args).unwrap_err();
        assert!(err.to_string().contains("--oidc-jwks-url"), "{err}");

        let mut args = idp.args();
        args.oidc_issuer_url = Some("https://login.microsoftonline.com/t/v2.0".to_owned());
        args.oidc_ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = OidcValidator::new(&args).unwrap_err();
        assert!(err.to_string().contains("--oidc-ca-file"), "{err}");

        let mut args = idp.args();
        args.oidc_issuer_url = Some("http://[::1]:8080".to_owned());
        OidcValidator::new(&args).unwrap();
    }
}
