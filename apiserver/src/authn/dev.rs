//! Development sign-in (`make dev` only): the apiserver signs its own tokens with a local ES256
//! key, and `nexus-apiserver dev-token` mints one for any user and groups. The portal face refuses
//! this mode unless it listens on a loopback address (see [`super::bearer::BearerAuth`]).
//!
//! The key is a PKCS#8 P-256 private key in PEM, created on first use with mode 0600 (its
//! directory 0700). Tokens carry `iss` [`DEV_ISSUER`], `aud` [`DEV_AUDIENCE`], `sub` and
//! `preferred_username` (the user name), `groups`, `iat`/`nbf`/`exp`, and the key's `kid`; they are
//! checked like OIDC tokens, against this key only.

use std::{
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
    time::Duration,
};

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::{
    digest,
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _},
};
use serde_json::{Value, json};

use super::{
    AuthnError, UserInfo,
    jwt::{base_validation, check_times, invalid, parse_header, rejection, shown, verify},
};
use crate::config::DevTokenArgs;

/// `iss` of dev tokens.
pub const DEV_ISSUER: &str = "nexus-dev-auth";
/// `aud` of dev tokens.
pub const DEV_AUDIENCE: &str = "nexus-portal";
/// Clock skew tolerated on dev tokens' `exp`/`nbf`/`iat`.
const DEV_LEEWAY_SECS: u64 = 60;
const PEM_LABEL: &str = "PRIVATE KEY";

#[derive(Debug, thiserror::Error)]
pub enum DevAuthError {
    #[error("no dev-auth key at {}; start the apiserver with --dev-auth first (make dev)", .path.display())]
    Missing { path: PathBuf },
    #[error("dev-auth key file {}: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error(
        "dev-auth key file {} is not a PKCS#8 P-256 (ES256) private key in PEM: {reason}; \
         delete it to have a new one created",
        .path.display()
    )]
    InvalidKey { path: PathBuf, reason: String },
    #[error("cannot generate a dev-auth key")]
    KeyGeneration,
    #[error("a dev token needs a user name (--user)")]
    EmptyUser,
    #[error("a dev token needs a lifetime of at least one second (--ttl)")]
    InvalidTtl,
    #[error("cannot sign the dev token: {0}")]
    Sign(String),
}

/// The dev-auth signing key: mints and validates development tokens.
pub struct DevAuth {
    path: PathBuf,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for DevAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevAuth")
            .field("path", &self.path)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevAuth {
    /// Loads the key at `path`, creating a fresh one (and missing parent directories) if there is
    /// none.
    pub fn load_or_create(path: &Path) -> Result<Self, DevAuthError> {
        match Self::load(path) {
            Err(DevAuthError::Missing { .. }) => {}
            other => return other,
        }
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| DevAuthError::KeyGeneration)?;
        let io_error = |error| DevAuthError::Io {
            path: path.to_owned(),
            error,
        };
        match write_new_key_file(path, &pem_encode(PEM_LABEL, pkcs8.as_ref())) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a dev-auth signing key");
            }
            // Created concurrently by another process: use that one.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(io_error(error)),
        }
        Self::load(path)
    }

    /// Loads an existing key; [`DevAuthError::Missing`] when there is none.
    pub fn load(path: &Path) -> Result<Self, DevAuthError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(DevAuthError::Missing {
                    path: path.to_owned(),
                });
            }
            Err(error) => {
                return Err(DevAuthError::Io {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        warn_if_readable_by_others(path);
        let invalid_key = |reason: &str| DevAuthError::InvalidKey {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let pkcs8 = pem_decode(PEM_LABEL, &text)
            .ok_or_else(|| invalid_key("no `-----BEGIN PRIVATE KEY-----` block"))?;
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|rejected| invalid_key(&rejected.to_string()))?;
        let point = pair.public_key().as_ref();
        let digest = digest::digest(&digest::SHA256, point);
        let kid = format!(
            "dev-{}",
            URL_SAFE_NO_PAD.encode(digest.as_ref().get(..12).unwrap_or_default())
        );
        Ok(Self {
            path: path.to_owned(),
            kid,
            encoding: EncodingKey::from_ec_der(&pkcs8),
            // For EC keys jsonwebtoken takes the uncompressed public point.
            decoding: DecodingKey::from_ec_der(point),
            validation: base_validation(DEV_ISSUER, &[DEV_AUDIENCE.to_owned()], DEV_LEEWAY_SECS),
        })
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key id every dev token carries.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A token for `user` in `groups`, valid for `ttl` from now.
    pub fn mint(
        &self,
        user: &str,
        groups: &[String],
        ttl: Duration,
    ) -> Result<String, DevAuthError> {
        let user = user.trim();
        if user.is_empty() {
            return Err(DevAuthError::EmptyUser);
        }
        if ttl.as_secs() == 0 {
            return Err(DevAuthError::InvalidTtl);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": user,
            "preferred_username": user,
            "groups": groups,
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(ttl.as_secs()),
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|err| DevAuthError::Sign(err.to_string()))
    }

    /// Verifies a dev token: signed by this key, right issuer and audience, in its lifetime.
    pub async fn validate(&self, token: &str) -> Result<UserInfo, AuthnError> {
        let header = parse_header(token, &[Algorithm::ES256])?;
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(invalid(format!(
                "token key {} is not this apiserver's dev-auth key; mint one with \
                 `nexus-apiserver dev-token`",
                header
                    .kid
                    .as_deref()
                    .map_or_else(|| "(none)".to_owned(), shown)
            )));
        }
        let claims =
            verify(token, header.alg, &self.decoding, &self.validation).map_err(|err| {
                rejection(
                    &err,
                    token,
                    DEV_ISSUER,
                    &[DEV_AUDIENCE.to_owned()],
                    DEV_LEEWAY_SECS,
                )
            })?;
        check_times(&claims, DEV_LEEWAY_SECS)?;

        let username = ["preferred_username", "sub"]
            .iter()
            .find_map(|name| claims.get(*name).and_then(Value::as_str))
            .filter(|name| !name.is_empty())
            .ok_or_else(|| invalid("dev token has no `preferred_username`"))?;
        let groups = match claims.get("groups") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| invalid("dev token claim `groups` is not a list of strings"))?,
            Some(_) => return Err(invalid("dev token claim `groups` is not a list of strings")),
        };
        Ok(UserInfo {
            username: username.to_owned(),
            uid: None,
            groups,
            extra: Default::default(),
        })
    }
}

/// `nexus-apiserver dev-token`: a token signed with the key `serve --dev-auth` created.
pub fn dev_token(args: &DevTokenArgs) -> anyhow::Result<String> {
    let auth = DevAuth::load(&args.key_file)?;
    Ok(auth.mint(&args.user, &args.groups, args.ttl)?)
}

fn write_new_key_file(path: &Path, pem: &str) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        let mut dirs = fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        dirs.create(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the dev-auth key file is readable by others; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn pem_decode(label: &str, text: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text.get(start..)?.find(&end)?;
    let body: String = text
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[tokio::test]
    async fn minted_tokens_validate_to_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dev-auth/signing-key.pem");
        let auth = DevAuth::load_or_create(&path).unwrap();

        let token = auth
            .mint(
                "alice@example.com",
                &groups(&["team-a", "platform"]),
                Duration::from_secs(3600),
            )
            .unwrap();
        let user = auth.validate(&token).await.unwrap();
        assert_eq!(
            user,
            UserInfo {
                username: "alice@example.com".to_owned(),
                uid: None,
                groups: groups(&["team-a", "platform"]),
                extra: Default::default(),
            }
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
    }

    #[tokio::test]
    async fn the_key_file_is_reused_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let first = DevAuth::load_or_create(&path).unwrap();
        let token = first.mint("bob", &[], Duration::from_secs(60)).unwrap();

        let second = DevAuth::load_or_create(&path).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(second.validate(&token).await.unwrap().username, "bob");

        let third = DevAuth::load(&path).unwrap();
        assert_eq!(third.kid(), first.kid());
    }

    #[tokio::test]
    async fn tokens_of_another_key_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let ours = DevAuth::load_or_create(&dir.path().join("ours.pem")).unwrap();
        let theirs = DevAuth::load_or_create(&dir.path().join("theirs.pem")).unwrap();
        let token = theirs
            .mint("mallory", &[], Duration::from_secs(60))
            .unwrap();
        let err = ours.validate(&token).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("not this apiserver's dev-auth key"),
            "{err}"
        );

        // Another key claiming our kid fails on the signature.
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(ours.kid().to_owned());
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "mallory",
                            "preferred_username": "mallory", "exp": now + 60});
        let forged = jsonwebtoken::encode(&header, &claims, &theirs.encoding).unwrap();
        let err = ours.validate(&forged).await.unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");

        // Unsigned and symmetric tokens never get to a key.
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let err = ours.validate(&unsigned).await.unwrap_err();
        assert!(err.to_string().contains("alg: none"), "{err}");
    }

    #[tokio::test]
    async fn expired_and_foreign_claims_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let auth = DevAuth::load_or_create(&dir.path().join("key.pem")).unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(auth.kid().to_owned());
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |claims: Value| jsonwebtoken::encode(&header, &claims, &auth.encoding).unwrap();

        let expired = sign(json!({"iss": DEV_ISSUER, "aud": DEV_AUDIENCE,
                                  "preferred_username": "alice", "exp": now - 3600}));
        let err = auth.validate(&expired).await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert!(!err.to_string().contains(&expired));

        let wrong_audience = sign(json!({"iss": DEV_ISSUER, "aud": "kubernetes",
                                         "preferred_username": "alice", "exp": now + 60}));
        let err = auth.validate(&wrong_audience).await.unwrap_err();
        assert!(err.to_string().contains("audience"), "{err}");

        assert!(matches!(
            auth.mint(" ", &[], Duration::from_secs(60)),
            Err(DevAuthError::EmptyUser)
        ));
    }

    #[test]
    fn dev_token_needs_an_existing_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = DevTokenArgs {
            key_file: dir.path().join("missing.pem"),
            user: "alice@example.com".to_owned(),
            groups: groups(&["team-a"]),
            ttl: Duration::from_secs(8 * 3600),
        };
        let err = dev_token(&args).unwrap_err().to_string();
        assert!(err.contains("no dev-auth key at"), "{err}");
        assert!(err.contains("--dev-auth"), "{err}");
        assert!(!args.key_file.exists(), "dev-token must not create a key");

        args.key_file = dir.path().join("key.pem");
        let auth = DevAuth::load_or_create(&args.key_file).unwrap();
        let token = dev_token(&args).unwrap();
        let user = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(auth.validate(&token))
            .unwrap();
        assert_eq!(user.username, "alice@example.com");
        assert_eq!(user.groups, groups(&["team-a"]));
    }

    #[test]
    fn a_corrupt_key_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        fs::write(&path, "not a key").unwrap();
        let err = DevAuth::load_or_create(&path).unwrap_err();
        assert!(matches!(err, DevAuthError::InvalidKey { .. }), "{err}");
    }
}
