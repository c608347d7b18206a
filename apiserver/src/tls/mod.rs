//! TLS for both faces: a serving certificate reloaded from files ([`CertReloader`]), the rustls
//! server configuration ([`server_config`]) and an accept loop that serves an axum router over
//! TLS with HTTP/1.1 and HTTP/2 ([`serve()`]).
//!
//! The aggregated face asks for (but does not require) a client certificate: kube-apiserver
//! presents its front-proxy client certificate, verified against the cluster's front-proxy CA
//! (see [`crate::authn::frontproxy`]); the verified chain reaches handlers as the
//! [`PeerCertificates`] request extension.

pub mod reload;
pub mod serve;
#[cfg(test)]
pub(crate) mod testing;

use std::{
    path::PathBuf,
    sync::{Arc, LazyLock},
};

use rustls::crypto::CryptoProvider;
use rustls_pki_types::CertificateDer;

pub use reload::CertReloader;
pub use serve::{ServeOptions, serve, serve_with_options, server_config};

/// Client certificate chain of the connection a request came on (end entity first), as
/// presented and verified during the TLS handshake; `None` when the client sent none.
/// [`serve()`] inserts it into the extensions of every request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerCertificates(pub Option<Arc<Vec<CertificateDer<'static>>>>);

impl PeerCertificates {
    /// The client's own certificate (first of the chain).
    pub fn end_entity(&self) -> Option<&CertificateDer<'static>> {
        self.0.as_deref().and_then(|chain| chain.first())
    }
}

/// Why a certificate/key pair cannot be served. Each message names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} file {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} file {}: {problem}", path.display())]
    Invalid {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error(
        "TLS key file {} does not match the certificate in {} (the key belongs to another \
         certificate; both files must come from the same Secret)",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

/// The crypto provider of every TLS configuration of this crate (ring), independent of any
/// process-wide default.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}
