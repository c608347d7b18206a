//! kube-apiserver's request-header ("front-proxy") authentication, as k8s.io/apiserver does it.
//!
//! kube-apiserver proxies `/apis/portal.nexus.dev/...` here over TLS with its front-proxy client
//! certificate (`--proxy-client-cert-file`) and names the user in headers (`X-Remote-User`,
//! `X-Remote-Group`, `X-Remote-Extra-*`). The headers are trusted only when the connection's
//! client certificate chains to the front-proxy CA (`--requestheader-client-ca-file`) and its CN
//! is an allowed name (`--requestheader-allowed-names`; empty: any). kube-apiserver publishes
//! these settings in the ConfigMap `kube-system/extension-apiserver-authentication`, which is
//! read at startup and then followed (the CA rotates with the cluster's certificates).
//!
//! Reading that ConfigMap needs the Role `kube-system/extension-apiserver-authentication-reader`
//! bound to this server's service account.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        Arc, Mutex, PoisonError, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
};

use futures::StreamExt;
use http::{HeaderMap, HeaderName};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    runtime::{WatchStreamExt, watcher},
};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};
use rustls_pki_types::{CertificateDer, UnixTime, pem::PemObject};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{AuthnError, UserInfo};
use crate::tls::{PeerCertificates, crypto_provider};

/// ConfigMap keys, as kube-apiserver writes them.
pub const CLIENT_CA_KEY: &str = "requestheader-client-ca-file";
pub const ALLOWED_NAMES_KEY: &str = "requestheader-allowed-names";
pub const USERNAME_HEADERS_KEY: &str = "requestheader-username-headers";
pub const UID_HEADERS_KEY: &str = "requestheader-uid-headers";
pub const GROUP_HEADERS_KEY: &str = "requestheader-group-headers";
pub const EXTRA_HEADERS_PREFIX_KEY: &str = "requestheader-extra-headers-prefix";

/// What is wrong with the front-proxy settings of a ConfigMap.
#[derive(Debug, thiserror::Error)]
pub enum RequestHeaderConfigError {
    #[error(
        "the cluster has no front-proxy CA configured: `{CLIENT_CA_KEY}` is missing (kube-apiserver \
         runs without --requestheader-client-ca-file), so requests proxied by kube-apiserver \
         cannot be authenticated"
    )]
    NoFrontProxyCa,
    #[error("`{CLIENT_CA_KEY}` {0}")]
    InvalidCa(String),
    #[error("`{key}` is not a JSON array of strings: {source}")]
    InvalidJson {
        key: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{key}` names an invalid HTTP header `{name}`")]
    InvalidHeaderName { key: &'static str, name: String },
    #[error("`{USERNAME_HEADERS_KEY}` is empty: no header could carry the user name")]
    NoUsernameHeaders,
}

/// Why front-proxy authentication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FrontProxyError {
    #[error("`{0}` is not a ConfigMap reference: expected `namespace/name`")]
    InvalidReference(String),
    #[error(
        "ConfigMap {configmap} does not exist: the cluster publishes no front-proxy settings \
         (is the aggregation layer enabled?)"
    )]
    NotFound { configmap: String },
    #[error(
        "cannot read ConfigMap {configmap} (bind the Role \
         kube-system/extension-apiserver-authentication-reader to this service account): {source}"
    )]
    Read {
        configmap: String,
        #[source]
        source: kube::Error,
    },
    #[error("ConfigMap {configmap}: {source}")]
    Invalid {
        configmap: String,
        #[source]
        source: RequestHeaderConfigError,
    },
}

/// kube-apiserver's request-header settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeaderConfig {
    /// The front-proxy CA bundle.
    pub client_ca: Vec<CertificateDer<'static>>,
    /// Accepted client certificate CNs; empty: any certificate the CA signed.
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<HeaderName>,
    pub uid_headers: Vec<HeaderName>,
    pub group_headers: Vec<HeaderName>,
    /// Lower-cased prefixes of the headers carrying extra attributes.
    pub extra_header_prefixes: Vec<String>,
}

impl RequestHeaderConfig {
    /// Parses the data of `kube-system/extension-apiserver-authentication`: the CA as PEM, every
    /// other value a JSON array of strings (a missing or empty value is an empty list).
    pub fn from_configmap_data(
        data: &BTreeMap<String, String>,
    ) -> Result<Self, RequestHeaderConfigError> {
        let ca_pem = data
            .get(CLIENT_CA_KEY)
            .filter(|pem| !pem.trim().is_empty())
            .ok_or(RequestHeaderConfigError::NoFrontProxyCa)?;
        let client_ca = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| RequestHeaderConfigError::InvalidCa(format!("is not PEM: {err}")))?;
        if client_ca.is_empty() {
            return Err(RequestHeaderConfigError::InvalidCa(
                "holds no `-----BEGIN CERTIFICATE-----` block".into(),
            ));
        }
        let username_headers = header_names(data, USERNAME_HEADERS_KEY)?;
        if username_headers.is_empty() {
            return Err(RequestHeaderConfigError::NoUsernameHeaders);
        }
        Ok(Self {
            client_ca,
            allowed_names: strings(data, ALLOWED_NAMES_KEY)?,
            username_headers,
            uid_headers: header_names(data, UID_HEADERS_KEY)?,
            group_headers: header_names(data, GROUP_HEADERS_KEY)?,
            extra_header_prefixes: strings(data, EXTRA_HEADERS_PREFIX_KEY)?
                .into_iter()
                .map(|prefix| prefix.to_ascii_lowercase())
                .collect(),
        })
    }

    /// [`Self::from_configmap_data`] of a ConfigMap.
    pub fn from_configmap(configmap: &ConfigMap) -> Result<Self, RequestHeaderConfigError> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        Self::from_configmap_data(configmap.data.as_ref().unwrap_or(&EMPTY))
    }

    /// A client verifier accepting chains to the CA, but not requiring a certificate.
    fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, RequestHeaderConfigError> {
        let mut roots = RootCertStore::empty();
        for cert in &self.client_ca {
            roots.add(cert.clone()).map_err(|err| {
                RequestHeaderConfigError::InvalidCa(format!("holds an unusable certificate: {err}"))
            })?;
        }
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
            .allow_unauthenticated()
            .clear_root_hint_subjects()
            .build()
            .map_err(|err| RequestHeaderConfigError::InvalidCa(format!("cannot be used: {err}")))
    }
}

/// JSON array of strings (trimmed, empty entries dropped), as k8s' `deserializeStrings`.
fn strings(
    data: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<Vec<String>, RequestHeaderConfigError> {
    let Some(raw) = data
        .get(key)
        .map(|raw| raw.trim())
        .filter(|raw| !raw.is_empty())
    else {
        return Ok(Vec::new());
    };
    let values: Option<Vec<String>> = serde_json::from_str(raw)
        .map_err(|source| RequestHeaderConfigError::InvalidJson { key, source })?;
    Ok(values
        .unwrap_or_default()
        .into_iter()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .collect())
}

fn header_names(
    data: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<Vec<HeaderName>, RequestHeaderConfigError> {
    strings(data, key)?
        .into_iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| RequestHeaderConfigError::InvalidHeaderName { key, name })
        })
        .collect()
}

/// The configuration in force and the verifier built from it.
struct Current {
    config: Arc<RequestHeaderConfig>,
    verifier: Arc<dyn ClientCertVerifier>,
}

/// Request-header authentication with hot-swappable settings.
pub struct FrontProxyAuth {
    source: String,
    current: RwLock<Arc<Current>>,
    updates: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl fmt::Debug for FrontProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrontProxyAuth")
            .field("source", &self.source)
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

impl FrontProxyAuth {
    /// Fixed settings (`source` names where they come from, for logs).
    pub fn new(
        config: RequestHeaderConfig,
        source: impl Into<String>,
    ) -> Result<Arc<Self>, RequestHeaderConfigError> {
        let verifier = config.verifier()?;
        Ok(Arc::new(Self {
            source: source.into(),
            current: RwLock::new(Arc::new(Current {
                config: Arc::new(config),
                verifier,
            })),
            updates: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }))
    }

    /// Reads `configmap` (`namespace/name`, normally
    /// `kube-system/extension-apiserver-authentication`) and follows its changes until
    /// `cancel`. Fails when it is absent, unreadable or invalid; later invalid versions are
    /// logged and the previous settings kept.
    pub async fn watch(
        client: kube::Client,
        configmap: &str,
        cancel: CancellationToken,
    ) -> Result<Arc<Self>, FrontProxyError> {
        let (namespace, name) = configmap
            .split_once('/')
            .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
            .ok_or_else(|| FrontProxyError::InvalidReference(configmap.to_owned()))?;
        let api: Api<ConfigMap> = Api::namespaced(client, namespace);
        let object = api
            .get_opt(name)
            .await
            .map_err(|source| FrontProxyError::Read {
                configmap: configmap.to_owned(),
                source,
            })?
            .ok_or_else(|| FrontProxyError::NotFound {
                configmap: configmap.to_owned(),
            })?;
        let invalid = |source| FrontProxyError::Invalid {
            configmap: configmap.to_owned(),
            source,
        };
        let config = RequestHeaderConfig::from_configmap(&object).map_err(invalid)?;
        let auth = Self::new(config, configmap).map_err(invalid)?;
        {
            let config = auth.config();
            info!(
                configmap,
                allowed_names = ?config.allowed_names,
                ca_certificates = config.client_ca.len(),
                "front-proxy authentication configured"
            );
        }

        let weak = Arc::downgrade(&auth);
        let stream = watcher(
            api,
            watcher::Config::default().fields(&format!("metadata.name={name}")),
        )
        .default_backoff();
        tokio::spawn(follow(weak, stream, cancel));
        Ok(auth)
    }

    /// Applies a new version of the ConfigMap: `Ok(true)` when the settings changed, `Ok(false)`
    /// when they are the same, `Err` (logged) when it is invalid and the previous settings stay.
    pub fn apply_configmap(&self, configmap: &ConfigMap) -> Result<bool, RequestHeaderConfigError> {
        let outcome = RequestHeaderConfig::from_configmap(configmap).and_then(|c| self.update(c));
        let mut last_error = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &outcome {
            Ok(changed) => {
                *last_error = None;
                if *changed {
                    let config = self.config();
                    info!(
                        configmap = %self.source,
                        allowed_names = ?config.allowed_names,
                        ca_certificates = config.client_ca.len(),
                        "front-proxy settings updated"
                    );
                }
            }
            Err(err) => {
                error!(
                    configmap = %self.source,
                    error = %err,
                    "ignoring invalid front-proxy settings; keeping the previous ones"
                );
                *last_error = Some(err.to_string());
            }
        }
        outcome
    }

    /// Swaps in `config` when it differs from the current one.
    pub fn update(&self, config: RequestHeaderConfig) -> Result<bool, RequestHeaderConfigError> {
        if *self.config() == config {
            return Ok(false);
        }
        let verifier = config.verifier()?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Current {
            config: Arc::new(config),
            verifier,
        });
        self.updates.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// The settings in force.
    pub fn config(&self) -> Arc<RequestHeaderConfig> {
        Arc::clone(&self.current().config)
    }

    /// How many times the settings changed after the first load.
    pub fn update_count(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }

    /// Why the latest version of the ConfigMap was rejected, while it is.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn current(&self) -> Arc<Current> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The TLS client verifier of the aggregated face: validates a client chain against the
    /// front-proxy CA in force at handshake time, and lets clients without a certificate
    /// through (they get a 401 from [`Self::authenticate`]).
    pub fn client_verifier(self: &Arc<Self>) -> Arc<dyn ClientCertVerifier> {
        Arc::new(FrontProxyVerifier {
            auth: Arc::clone(self),
        })
    }

    /// Who kube-apiserver says is calling. The headers are read only after the client
    /// certificate is verified (again, against the CA in force now) and its CN allowed.
    pub fn authenticate(
        &self,
        peer: Option<&PeerCertificates>,
        headers: &HeaderMap,
    ) -> Result<UserInfo, AuthnError> {
        let (end_entity, intermediates) = peer
            .and_then(|peer| peer.0.as_deref())
            .and_then(|chain| chain.split_first())
            .ok_or_else(|| {
                AuthnError::UntrustedClient(
                    "no client certificate: only kube-apiserver, with its front-proxy client \
                     certificate, may call this API"
                        .into(),
                )
            })?;
        let current = self.current();
        current
            .verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map_err(|err| {
                AuthnError::UntrustedClient(format!("not signed by the front-proxy CA: {err}"))
            })?;
        let config = &current.config;
        let common_name = common_name(end_entity)?;
        if !config.allowed_names.is_empty() && !config.allowed_names.contains(&common_name) {
            return Err(AuthnError::UntrustedClient(format!(
                "subject CN `{common_name}` is not an allowed front-proxy name ({ALLOWED_NAMES_KEY})"
            )));
        }

        let username = first_value(headers, &config.username_headers)?.ok_or_else(|| {
            AuthnError::UntrustedClient(format!(
                "the front-proxy request names no user (headers {})",
                config
                    .username_headers
                    .iter()
                    .map(HeaderName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let uid = first_value(headers, &config.uid_headers)?;
        let mut groups = Vec::new();
        for header in &config.group_headers {
            for value in headers.get_all(header) {
                let value = text(header.as_str(), value.as_bytes())?;
                if !value.is_empty() {
                    groups.push(value);
                }
            }
        }
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for prefix in &config.extra_header_prefixes {
            for (name, value) in headers {
                // Header names are lower case in `HeaderMap`, prefixes were lower-cased.
                let Some(encoded) = name.as_str().strip_prefix(prefix.as_str()) else {
                    continue;
                };
                if encoded.is_empty() {
                    continue;
                }
                extra
                    .entry(unescape_extra_key(encoded))
                    .or_default()
                    .push(text(name.as_str(), value.as_bytes())?);
            }
        }
        Ok(UserInfo {
            username,
            uid,
            groups,
            extra,
        })
    }

    /// Removes the identity headers (user, uid, groups, extras) from `headers`, so that nothing
    /// after authentication mistakes them for the caller's own.
    pub fn strip_identity_headers(&self, headers: &mut HeaderMap) {
        let config = self.config();
        for header in config
            .username_headers
            .iter()
            .chain(&config.uid_headers)
            .chain(&config.group_headers)
        {
            headers.remove(header);
        }
        let extras: Vec<HeaderName> = headers
            .keys()
            .filter(|name| {
                config
                    .extra_header_prefixes
                    .iter()
                    .any(|prefix| name.as_str().starts_with(prefix.as_str()))
            })
            .cloned()
            .collect();
        for name in extras {
            headers.remove(name);
        }
    }
}

/// Follows the ConfigMap until `cancel` or until nobody holds the [`FrontProxyAuth`].
async fn follow<S>(auth: Weak<FrontProxyAuth>, stream: S, cancel: CancellationToken)
where
    S: futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            event = stream.next() => match event {
                Some(event) => event,
                None => break,
            },
        };
        let Some(auth) = auth.upgrade() else { break };
        match event {
            Ok(watcher::Event::Apply(configmap) | watcher::Event::InitApply(configmap)) => {
                // Logged inside.
                let _ = auth.apply_configmap(&configmap);
            }
            Ok(watcher::Event::Delete(_)) => warn!(
                configmap = %auth.source,
                "front-proxy settings ConfigMap deleted; keeping the last settings"
            ),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
            Err(err) => warn!(
                configmap = %auth.source,
                error = %err,
                "watching front-proxy settings failed; retrying"
            ),
        }
    }
}

/// Header value as text (UTF-8, as Go takes header bytes).
fn text(header: &str, value: &[u8]) -> Result<String, AuthnError> {
    String::from_utf8(value.to_vec())
        .map_err(|_| AuthnError::UntrustedClient(format!("header `{header}` is not valid UTF-8")))
}

/// The first non-empty value among `names`, in order (k8s `headerValue`).
fn first_value(headers: &HeaderMap, names: &[HeaderName]) -> Result<Option<String>, AuthnError> {
    for name in names {
        if let Some(value) = headers.get(name).filter(|value| !value.is_empty()) {
            return text(name.as_str(), value.as_bytes()).map(Some);
        }
    }
    Ok(None)
}

/// The subject CN of a certificate (exactly one is required).
fn common_name(der: &CertificateDer<'_>) -> Result<String, AuthnError> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|err| {
        AuthnError::UntrustedClient(format!("client certificate cannot be parsed: {err}"))
    })?;
    let mut names = cert.subject().iter_common_name();
    let name = match (names.next(), names.next()) {
        (Some(name), None) => name,
        (None, _) => {
            return Err(AuthnError::UntrustedClient(
                "client certificate has no subject CN".into(),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(AuthnError::UntrustedClient(
                "client certificate has several subject CNs".into(),
            ));
        }
    };
    name.as_str().map(str::to_owned).map_err(|err| {
        AuthnError::UntrustedClient(format!("client certificate CN is not text: {err}"))
    })
}

/// Extra keys travel percent-encoded in header names (k8s `unescapeExtraKey`: Go's
/// `url.PathUnescape`); a malformed encoding is kept as it is.
fn unescape_extra_key(encoded: &str) -> String {
    fn hex(digit: Option<&u8>) -> Option<u8> {
        digit
            .and_then(|d| char::from(*d).to_digit(16))
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let (Some(high), Some(low)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) else {
                return encoded.to_owned();
            };
            decoded.push(high << 4 | low);
            i += 3;
        } else {
            decoded.push(byte);
            i += 1;
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| encoded.to_owned())
}

/// Delegates to the verifier of the settings in force, so a CA rotation applies to the next
/// handshake without rebuilding the rustls configuration.
struct FrontProxyVerifier {
    auth: Arc<FrontProxyAuth>,
}

impl fmt::Debug for FrontProxyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrontProxyVerifier")
            .field("source", &self.auth.source)
            .finish()
    }
}

impl ClientCertVerifier for FrontProxyVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No CA names are sent: they change with the settings, and an empty list lets a client
    /// (Go's crypto/tls included) present any certificate it has.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.auth
            .current()
            .verifier
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &crypto_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &crypto_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crypto_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, convert::Infallible, time::Duration};

    use axum::{
        Json, Router,
        body::{Body, Bytes},
        extract::{Path, Query, State},
        response::{IntoResponse, Response},
        routing::get,
    };
    use http::{HeaderValue, StatusCode, Version};
    use serde_json::{Value, json};
    use tokio::sync::mpsc;

    use super::*;
    use crate::tls::{
        ServeOptions, server_config,
        testing::{self, Identity, Pki, TestServer},
    };

    const CONFIGMAP: &str = "kube-system/extension-apiserver-authentication";

    /// The ConfigMap as kube-apiserver publishes it (`kubectl get -o json`).
    fn configmap_json(front_proxy_ca: &str, allowed_names: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "extension-apiserver-authentication",
                "namespace": "kube-system",
                "resourceVersion": "42",
            },
            "data": {
                "client-ca-file": Pki::get().ca_pem,
                "requestheader-allowed-names": allowed_names,
                "requestheader-client-ca-file": front_proxy_ca,
                "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
                "requestheader-group-headers": "[\"X-Remote-Group\"]",
                "requestheader-uid-headers": "[\"X-Remote-Uid\"]",
                "requestheader-username-headers": "[\"X-Remote-User\"]",
            },
        })
    }

    fn configmap(front_proxy_ca: &str, allowed_names: &str) -> ConfigMap {
        serde_json::from_value(configmap_json(front_proxy_ca, allowed_names)).unwrap()
    }

    fn auth(allowed_names: &str) -> Arc<FrontProxyAuth> {
        let cm = configmap(&Pki::get().front_proxy_ca_pem, allowed_names);
        FrontProxyAuth::new(RequestHeaderConfig::from_configmap(&cm).unwrap(), CONFIGMAP).unwrap()
    }

    fn peer(identity: &Identity) -> PeerCertificates {
        PeerCertificates(Some(Arc::new(vec![testing::der(&identity.cert_pem)])))
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn untrusted(result: Result<UserInfo, AuthnError>) -> String {
        match result {
            Err(AuthnError::UntrustedClient(message)) => message,
            other => panic!("expected UntrustedClient, got {other:?}"),
        }
    }

    #[test]
    fn frontproxy_config_parses_the_real_configmap_shape() {
        let pki = Pki::get();
        let bundle = format!("{}{}", pki.front_proxy_ca_pem, pki.other_ca_pem);
        let cm = configmap(&bundle, "[\"front-proxy-client\", \" aggregator \"]");
        let config = RequestHeaderConfig::from_configmap(&cm).unwrap();
        assert_eq!(config.client_ca.len(), 2);
        assert_eq!(config.client_ca[0], testing::der(&pki.front_proxy_ca_pem));
        assert_eq!(config.allowed_names, ["front-proxy-client", "aggregator"]);
        assert_eq!(config.username_headers, ["x-remote-user"]);
        assert_eq!(config.uid_headers, ["x-remote-uid"]);
        assert_eq!(config.group_headers, ["x-remote-group"]);
        assert_eq!(config.extra_header_prefixes, ["x-remote-extra-"]);

        // Older clusters: no uid headers; `null` and "" are empty lists.
        let mut data = cm.data.clone().unwrap();
        data.remove(UID_HEADERS_KEY);
        data.insert(ALLOWED_NAMES_KEY.into(), "null".into());
        data.insert(EXTRA_HEADERS_PREFIX_KEY.into(), String::new());
        let config = RequestHeaderConfig::from_configmap_data(&data).unwrap();
        assert!(config.uid_headers.is_empty());
        assert!(config.allowed_names.is_empty());
        assert!(config.extra_header_prefixes.is_empty());
    }

    #[test]
    fn frontproxy_config_errors_name_the_problem() {
        let pki = Pki::get();
        let valid = configmap(&pki.front_proxy_ca_pem, "[]").data.unwrap();
        let error = |change: &dyn Fn(&mut BTreeMap<String, String>)| {
            let mut data = valid.clone();
            change(&mut data);
            RequestHeaderConfig::from_configmap_data(&data).unwrap_err()
        };

        let err = error(&|d| {
            d.remove(CLIENT_CA_KEY);
        });
        assert!(matches!(err, RequestHeaderConfigError::NoFrontProxyCa));
        let message = err.to_string();
        assert!(
            message.contains("no front-proxy CA configured"),
            "{message}"
        );
        assert!(
            message.contains("--requestheader-client-ca-file"),
            "{message}"
        );

        let message = error(&|d| {
            d.insert(ALLOWED_NAMES_KEY.into(), "front-proxy-client".into());
        })
        .to_string();
        assert!(
            message.contains("`requestheader-allowed-names` is not a JSON array"),
            "{message}"
        );

        let message = error(&|d| {
            d.insert(GROUP_HEADERS_KEY.into(), "{\"a\": 1}".into());
        })
        .to_string();
        assert!(message.contains(GROUP_HEADERS_KEY), "{message}");

        let message = error(&|d| {
            d.insert(CLIENT_CA_KEY.into(), "not a certificate".into());
        })
        .to_string();
        assert!(
            message.contains("holds no `-----BEGIN CERTIFICATE-----`"),
            "{message}"
        );

        let message = error(&|d| {
            d.insert(USERNAME_HEADERS_KEY.into(), "[]".into());
        })
        .to_string();
        assert!(
            message.contains("no header could carry the user name"),
            "{message}"
        );

        let message = error(&|d| {
            d.insert(GROUP_HEADERS_KEY.into(), "[\"X Remote Group\"]".into());
        })
        .to_string();
        assert!(
            message.contains("invalid HTTP header `X Remote Group`"),
            "{message}"
        );

        // A ConfigMap without data at all.
        let empty: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
        assert!(matches!(
            RequestHeaderConfig::from_configmap(&empty),
            Err(RequestHeaderConfigError::NoFrontProxyCa)
        ));
    }

    #[test]
    fn frontproxy_authenticate_trusts_headers_of_a_verified_allowed_client() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let request = headers(&[
            ("X-Remote-User", "alice@example.com"),
            ("X-Remote-Uid", "1234"),
            ("X-Remote-Group", "team-a"),
            ("X-Remote-Group", "system:authenticated"),
            ("X-Remote-Group", ""),
            ("X-Remote-Extra-Scopes", "read"),
            ("X-Remote-Extra-Scopes", "write"),
            ("X-Remote-Extra-Acme.com%2Fproject", "nexus"),
            ("X-Remote-Extra-Bad%zz", "kept"),
            ("X-Other", "ignored"),
        ]);
        let user = auth
            .authenticate(Some(&peer(&pki.front_proxy_client)), &request)
            .unwrap();
        assert_eq!(user.username, "alice@example.com");
        assert_eq!(user.uid.as_deref(), Some("1234"));
        assert_eq!(user.groups, ["team-a", "system:authenticated"]);
        assert_eq!(
            user.extra,
            BTreeMap::from([
                ("acme.com/project".to_owned(), vec!["nexus".to_owned()]),
                ("bad%zz".to_owned(), vec!["kept".to_owned()]),
                (
                    "scopes".to_owned(),
                    vec!["read".to_owned(), "write".to_owned()]
                ),
            ])
        );

        // A user without groups, uid or extras.
        let user = auth
            .authenticate(
                Some(&peer(&pki.front_proxy_client)),
                &headers(&[("x-remote-user", "bob")]),
            )
            .unwrap();
        assert_eq!(
            user,
            UserInfo {
                username: "bob".into(),
                ..UserInfo::default()
            }
        );
    }

    #[test]
    fn frontproxy_authenticate_rejects_untrusted_clients_whatever_their_headers() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let spoofed = headers(&[
            ("X-Remote-User", "system:admin"),
            ("X-Remote-Group", "system:masters"),
        ]);

        let message = untrusted(auth.authenticate(None, &spoofed));
        assert!(message.contains("no client certificate"), "{message}");
        let message = untrusted(auth.authenticate(Some(&PeerCertificates(None)), &spoofed));
        assert!(message.contains("no client certificate"), "{message}");

        let message = untrusted(auth.authenticate(Some(&peer(&pki.other_ca_client)), &spoofed));
        assert!(
            message.contains("not signed by the front-proxy CA"),
            "{message}"
        );

        let message =
            untrusted(auth.authenticate(Some(&peer(&pki.front_proxy_other_cn)), &spoofed));
        assert!(
            message.contains("CN `mallory` is not an allowed"),
            "{message}"
        );

        // Trusted, but no user name.
        let message = untrusted(auth.authenticate(
            Some(&peer(&pki.front_proxy_client)),
            &headers(&[("X-Remote-User", ""), ("X-Remote-Group", "g")]),
        ));
        assert!(
            message.contains("names no user (headers x-remote-user)"),
            "{message}"
        );
    }

    #[test]
    fn frontproxy_empty_allowed_names_accept_any_cn_the_ca_signed() {
        let pki = Pki::get();
        let auth = auth("[]");
        let user = auth
            .authenticate(
                Some(&peer(&pki.front_proxy_other_cn)),
                &headers(&[("X-Remote-User", "u")]),
            )
            .unwrap();
        assert_eq!(user.username, "u");
        let message = untrusted(auth.authenticate(
            Some(&peer(&pki.other_ca_client)),
            &headers(&[("X-Remote-User", "u")]),
        ));
        assert!(message.contains("not signed"), "{message}");
    }

    #[test]
    fn frontproxy_username_headers_are_tried_in_order() {
        let pki = Pki::get();
        let mut data = configmap(&pki.front_proxy_ca_pem, "[]").data.unwrap();
        data.insert(
            USERNAME_HEADERS_KEY.into(),
            "[\"X-Remote-User\", \"X-Forwarded-User\"]".into(),
        );
        let auth = FrontProxyAuth::new(
            RequestHeaderConfig::from_configmap_data(&data).unwrap(),
            "test",
        )
        .unwrap();
        let client = peer(&pki.front_proxy_client);
        let first = headers(&[("X-Remote-User", "one"), ("X-Forwarded-User", "two")]);
        assert_eq!(
            auth.authenticate(Some(&client), &first).unwrap().username,
            "one"
        );
        let second = headers(&[("X-Remote-User", ""), ("X-Forwarded-User", "two")]);
        assert_eq!(
            auth.authenticate(Some(&client), &second).unwrap().username,
            "two"
        );
    }

    #[test]
    fn frontproxy_updates_rotate_the_ca_and_invalid_ones_are_ignored() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let user = headers(&[("X-Remote-User", "u")]);
        let old_client = peer(&pki.front_proxy_client);

        assert!(
            !auth
                .apply_configmap(&configmap(
                    &pki.front_proxy_ca_pem,
                    "[\"front-proxy-client\"]"
                ))
                .unwrap()
        );
        assert_eq!(auth.update_count(), 0);

        // An invalid version is ignored.
        let invalid = configmap(&pki.front_proxy_ca_pem, "front-proxy-client");
        assert!(auth.apply_configmap(&invalid).is_err());
        assert!(auth.last_error().unwrap().contains(ALLOWED_NAMES_KEY));
        assert!(auth.authenticate(Some(&old_client), &user).is_ok());

        // Rotation to a new CA: the old client is out, the new one is in.
        let new_ca = testing::ca("front-proxy-ca-2");
        let new_client = testing::client_cert(&new_ca, "front-proxy-client");
        assert!(
            auth.apply_configmap(&configmap(&new_ca.pem(), "[\"front-proxy-client\"]"))
                .unwrap()
        );
        assert_eq!(auth.update_count(), 1);
        assert_eq!(auth.last_error(), None);
        assert!(untrusted(auth.authenticate(Some(&old_client), &user)).contains("not signed"));
        assert_eq!(
            auth.authenticate(Some(&peer(&new_client)), &user)
                .unwrap()
                .username,
            "u"
        );
    }

    #[test]
    fn frontproxy_identity_headers_can_be_stripped() {
        let auth = auth("[]");
        let mut request = headers(&[
            ("X-Remote-User", "u"),
            ("X-Remote-Uid", "1"),
            ("X-Remote-Group", "g"),
            ("X-Remote-Extra-Scopes", "s"),
            ("Accept", "application/json"),
        ]);
        auth.strip_identity_headers(&mut request);
        assert_eq!(request.len(), 1);
        assert!(request.contains_key("accept"));
    }

    #[test]
    fn frontproxy_extra_keys_are_percent_decoded_like_go() {
        assert_eq!(unescape_extra_key("scopes"), "scopes");
        assert_eq!(unescape_extra_key("acme.com%2fproject"), "acme.com/project");
        assert_eq!(unescape_extra_key("%e2%9c%93"), "\u{2713}");
        assert_eq!(unescape_extra_key("a+b"), "a+b");
        assert_eq!(unescape_extra_key("bad%zz"), "bad%zz");
        assert_eq!(unescape_extra_key("short%2"), "short%2");
        assert_eq!(unescape_extra_key("%ff"), "%ff", "not UTF-8: kept");
    }

    async fn whoami(
        State(auth): State<Arc<FrontProxyAuth>>,
        request: axum::extract::Request,
    ) -> Response {
        let peer = request.extensions().get::<PeerCertificates>();
        match auth.authenticate(peer, request.headers()) {
            Ok(user) => Json(user).into_response(),
            Err(err) => (StatusCode::UNAUTHORIZED, err.to_string()).into_response(),
        }
    }

    async fn aggregated_server(auth: &Arc<FrontProxyAuth>) -> (TestServer, tempfile::TempDir) {
        let (certs, dir) = testing::server_certs();
        let tls = server_config(certs, Some(auth.client_verifier()));
        let router = Router::new()
            .route("/whoami", get(whoami))
            .with_state(auth.clone());
        (
            TestServer::start(tls, router, ServeOptions::default()).await,
            dir,
        )
    }

    const KUBE_APISERVER_HEADERS: &[(&str, &str)] = &[
        ("X-Remote-User", "alice@example.com"),
        ("X-Remote-Group", "team-a"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-Scopes", "read"),
        ("X-Remote-Extra-Acme.com%2Fteam", "platform"),
    ];

    #[tokio::test]
    async fn frontproxy_over_tls_trusted_client_is_authenticated_over_h2_and_http1() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let (server, _dir) = aggregated_server(&auth).await;
        for (alpn, version) in [("h2", Version::HTTP_2), ("http/1.1", Version::HTTP_11)] {
            let config =
                testing::client_config(&pki.ca_pem, Some(&pki.front_proxy_client), &[alpn]);
            let reply = testing::get(server.addr, config, "/whoami", KUBE_APISERVER_HEADERS)
                .await
                .unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            assert_eq!(reply.version, version);
            let user: Value = serde_json::from_str(&reply.body).unwrap();
            assert_eq!(
                user,
                json!({
                    "username": "alice@example.com",
                    "groups": ["team-a", "system:authenticated"],
                    "extra": {"acme.com/team": ["platform"], "scopes": ["read"]},
                })
            );
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn frontproxy_over_tls_without_certificate_gets_401() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let (server, _dir) = aggregated_server(&auth).await;
        let config = testing::client_config(&pki.ca_pem, None, &["h2"]);
        let reply = testing::get(server.addr, config, "/whoami", KUBE_APISERVER_HEADERS)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(
            reply.body.contains("no client certificate"),
            "{}",
            reply.body
        );
        server.stop().await;
    }

    /// rustls rejects a chain to another CA during the handshake (TLS 1.3: the client learns
    /// it from the alert on its first read), so the request never reaches the handler.
    #[tokio::test]
    async fn frontproxy_over_tls_certificate_of_another_ca_fails_the_handshake() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let (server, _dir) = aggregated_server(&auth).await;
        for alpn in ["h2", "http/1.1"] {
            let config = testing::client_config(&pki.ca_pem, Some(&pki.other_ca_client), &[alpn]);
            let result = testing::get(server.addr, config, "/whoami", KUBE_APISERVER_HEADERS).await;
            let err = match result {
                Ok(reply) => panic!(
                    "{alpn}: request reached the handler: {} {}",
                    reply.status, reply.body
                ),
                Err(err) => err,
            };
            let chain =
                std::iter::successors(Some(&*err as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ");
            assert!(
                chain.contains("UnknownCA") || chain.contains("BadCertificate"),
                "{alpn}: {chain}"
            );
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn frontproxy_over_tls_cn_not_allowed_gets_401() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let (server, _dir) = aggregated_server(&auth).await;
        let config = testing::client_config(&pki.ca_pem, Some(&pki.front_proxy_other_cn), &["h2"]);
        let reply = testing::get(server.addr, config, "/whoami", KUBE_APISERVER_HEADERS)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(
            reply.body.contains("CN `mallory` is not an allowed"),
            "{}",
            reply.body
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn frontproxy_over_tls_a_rotated_ca_applies_to_new_handshakes() {
        let pki = Pki::get();
        let auth = auth("[\"front-proxy-client\"]");
        let (server, _dir) = aggregated_server(&auth).await;
        let new_ca = testing::ca("front-proxy-ca-2");
        let new_client = testing::client_cert(&new_ca, "front-proxy-client");
        let new_config = testing::client_config(&pki.ca_pem, Some(&new_client), &["h2"]);
        assert!(
            testing::get(
                server.addr,
                new_config.clone(),
                "/whoami",
                KUBE_APISERVER_HEADERS
            )
            .await
            .is_err()
        );

        let mut bundle = pki.front_proxy_ca_pem.clone();
        bundle.push_str(&new_ca.pem());
        assert!(
            auth.apply_configmap(&configmap(&bundle, "[\"front-proxy-client\"]"))
                .unwrap()
        );
        let reply = testing::get(server.addr, new_config, "/whoami", KUBE_APISERVER_HEADERS)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        server.stop().await;
    }

    /// A stand-in for the Kubernetes API: GET of the ConfigMap, and list + watch of it (watch
    /// events come from the test through a channel).
    #[derive(Clone)]
    struct FakeApi {
        object: Option<Value>,
        events: Arc<Mutex<Option<mpsc::UnboundedReceiver<Value>>>>,
    }

    async fn fake_get(
        State(api): State<FakeApi>,
        Path((_ns, _name)): Path<(String, String)>,
    ) -> Response {
        match api.object {
            Some(object) => Json(object).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "configmaps \"extension-apiserver-authentication\" not found",
                    "reason": "NotFound", "code": 404,
                })),
            )
                .into_response(),
        }
    }

    async fn fake_list(
        State(api): State<FakeApi>,
        Path(_ns): Path<String>,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        assert_eq!(
            query.get("fieldSelector").map(String::as_str),
            Some("metadata.name=extension-apiserver-authentication")
        );
        if query.get("watch").map(String::as_str) != Some("true") {
            let items: Vec<Value> = api.object.iter().cloned().collect();
            return Json(json!({
                "apiVersion": "v1", "kind": "ConfigMapList",
                "metadata": {"resourceVersion": "42"}, "items": items,
            }))
            .into_response();
        }
        let receiver = api.events.lock().unwrap().take();
        let events = futures::stream::unfold(receiver, |receiver| async move {
            let mut receiver = receiver?;
            let event = receiver.recv().await?;
            let mut line = serde_json::to_vec(&event).unwrap();
            line.push(b'\n');
            Some((Ok::<_, Infallible>(Bytes::from(line)), Some(receiver)))
        })
        .chain(futures::stream::pending());
        Body::from_stream(events).into_response()
    }

    fn fake_client(object: Option<Value>) -> (kube::Client, mpsc::UnboundedSender<Value>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let api = FakeApi {
            object,
            events: Arc::new(Mutex::new(Some(receiver))),
        };
        let router = Router::new()
            .route("/api/v1/namespaces/{ns}/configmaps/{name}", get(fake_get))
            .route("/api/v1/namespaces/{ns}/configmaps", get(fake_list))
            .with_state(api);
        (kube::Client::new(router, "default"), sender)
    }

    #[tokio::test]
    async fn frontproxy_watch_follows_the_configmap_and_keeps_the_last_valid_settings() {
        let pki = Pki::get();
        let initial = configmap_json(&pki.front_proxy_ca_pem, "[\"front-proxy-client\"]");
        let (client, events) = fake_client(Some(initial.clone()));
        let cancel = CancellationToken::new();
        let auth = FrontProxyAuth::watch(client, CONFIGMAP, cancel.clone())
            .await
            .unwrap();
        assert_eq!(auth.config().allowed_names, ["front-proxy-client"]);

        let mut invalid = configmap_json(&pki.front_proxy_ca_pem, "not json");
        invalid["metadata"]["resourceVersion"] = json!("43");
        events
            .send(json!({"type": "MODIFIED", "object": invalid}))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while auth.last_error().is_none() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the invalid update is seen");
        assert_eq!(auth.config().allowed_names, ["front-proxy-client"]);

        let mut renamed = configmap_json(&pki.front_proxy_ca_pem, "[\"aggregator\"]");
        renamed["metadata"]["resourceVersion"] = json!("44");
        events
            .send(json!({"type": "MODIFIED", "object": renamed}))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while auth.update_count() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the valid update is applied");
        assert_eq!(auth.config().allowed_names, ["aggregator"]);
        assert_eq!(auth.last_error(), None);

        // Deleting the ConfigMap keeps the settings.
        events
            .send(json!({"type": "DELETED", "object": initial}))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(auth.config().allowed_names, ["aggregator"]);
        cancel.cancel();
    }

    #[tokio::test]
    async fn frontproxy_watch_fails_startup_clearly() {
        let (client, _events) = fake_client(None);
        let err = FrontProxyAuth::watch(client, CONFIGMAP, CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(err, FrontProxyError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains(CONFIGMAP), "{err}");

        let mut no_ca = configmap_json(&Pki::get().front_proxy_ca_pem, "[]");
        no_ca["data"].as_object_mut().unwrap().remove(CLIENT_CA_KEY);
        let (client, _events) = fake_client(Some(no_ca));
        let err = FrontProxyAuth::watch(client, CONFIGMAP, CancellationToken::new())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(CONFIGMAP) && message.contains("no front-proxy CA"),
            "{message}"
        );

        let (client, _events) = fake_client(None);
        let err = FrontProxyAuth::watch(
            client,
            "extension-apiserver-authentication",
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FrontProxyError::InvalidReference(_)), "{err}");
    }
}
