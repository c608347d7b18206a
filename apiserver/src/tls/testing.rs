//! Test support: a generated PKI (rcgen), a TLS test server and an HTTP/1.1 + h2 client that
//! offers ALPN and client certificates.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{Router, body::Bytes};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::{body::Incoming, client::conn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{CertReloader, ServeOptions, crypto_provider, serve_with_options};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A certificate (PEM) and its key (PKCS#8 PEM).
pub(crate) struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Every certificate the tests use, generated once per test binary.
pub(crate) struct Pki {
    /// CA of the serving certificates.
    pub ca_pem: String,
    /// Serving certificate for `localhost` and `127.0.0.1`.
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// Its successor (same CA, same names, other key): what a reload brings.
    pub server2_cert_pem: String,
    pub server2_key_pem: String,
    /// kube-apiserver's `--requestheader-client-ca-file`.
    pub front_proxy_ca_pem: String,
    /// kube-apiserver's `--proxy-client-cert-file`: CN `front-proxy-client`.
    pub front_proxy_client: Identity,
    /// Signed by the front-proxy CA, CN `mallory` (not an allowed name).
    pub front_proxy_other_cn: Identity,
    /// Another CA, and a client certificate with CN `front-proxy-client` it signed.
    pub other_ca_pem: String,
    pub other_ca_client: Identity,
}

impl Pki {
    pub(crate) fn get() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(Pki::generate)
    }

    fn generate() -> Pki {
        let serving_ca = ca("nexus-test-ca");
        let names = ["localhost", "127.0.0.1"];
        let server = leaf(&serving_ca, "nexus-apiserver", &names, Use::Server);
        let server2 = leaf(&serving_ca, "nexus-apiserver", &names, Use::Server);
        let front_proxy_ca = ca("front-proxy-ca");
        let other_ca = ca("other-ca");
        Pki {
            ca_pem: serving_ca.pem(),
            server_cert_pem: server.cert_pem,
            server_key_pem: server.key_pem,
            server2_cert_pem: server2.cert_pem,
            server2_key_pem: server2.key_pem,
            front_proxy_ca_pem: front_proxy_ca.pem(),
            front_proxy_client: leaf(&front_proxy_ca, "front-proxy-client", &[], Use::Client),
            front_proxy_other_cn: leaf(&front_proxy_ca, "mallory", &[], Use::Client),
            other_ca_pem: other_ca.pem(),
            other_ca_client: leaf(&other_ca, "front-proxy-client", &[], Use::Client),
        }
    }
}

enum Use {
    Server,
    Client,
}

fn name(cn: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name
}

pub(crate) fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    sans: &[&str],
    usage: Use,
) -> Identity {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = name(cn);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![match usage {
        Use::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Use::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A client certificate signed by `issuer` with common name `cn`.
pub(crate) fn client_cert(issuer: &CertifiedIssuer<'static, KeyPair>, cn: &str) -> Identity {
    leaf(issuer, cn, &[], Use::Client)
}

/// The first certificate of a PEM text.
pub(crate) fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// A [`CertReloader`] serving [`Pki::server_cert_pem`] from `tls.crt`/`tls.key` in a fresh
/// directory (kept alive by the returned guard).
pub(crate) fn server_certs() -> (Arc<CertReloader>, tempfile::TempDir) {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, &pki.server_cert_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    (CertReloader::load(cert, key).unwrap(), dir)
}

/// A client trusting `ca_pem`, presenting `identity` if given, offering `alpn`.
pub(crate) fn client_config(
    ca_pem: &str,
    identity: Option<&Identity>,
    alpn: &[&str],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(der(ca_pem)).unwrap();
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(identity) => {
            let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// A running [`serve_with_options`] on 127.0.0.1.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub cancel: CancellationToken,
    pub task: JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(
        tls: Arc<ServerConfig>,
        router: Router,
        options: ServeOptions,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve_with_options(
            listener,
            tls,
            router,
            cancel.clone(),
            options,
        ));
        Self { addr, cancel, task }
    }

    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

enum Sender {
    H1(conn::http1::SendRequest<Empty<Bytes>>),
    H2(conn::http2::SendRequest<Empty<Bytes>>),
}

/// One client connection, speaking what ALPN settled (`h2`, else HTTP/1.1).
pub(crate) struct Connection {
    pub server_cert: CertificateDer<'static>,
    pub alpn: Option<Vec<u8>>,
    sender: Sender,
}

/// TLS handshake + HTTP connection to `addr` as `localhost`.
pub(crate) async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<Connection, BoxError> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (_, session) = tls.get_ref();
    let server_cert = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or("server sent no certificate")?
        .clone()
        .into_owned();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(tls);
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, connection) = conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(connection);
        Sender::H2(sender)
    } else {
        let (sender, connection) = conn::http1::handshake(io).await?;
        tokio::spawn(connection);
        Sender::H1(sender)
    };
    Ok(Connection {
        server_cert,
        alpn,
        sender,
    })
}

impl Connection {
    /// Sends `GET path` with `headers` (repeat a name to send several values).
    pub(crate) async fn send(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, BoxError> {
        let mut request = Request::get(match self.sender {
            Sender::H1(_) => path.to_owned(),
            Sender::H2(_) => format!("https://localhost{path}"),
        });
        if matches!(self.sender, Sender::H1(_)) {
            request = request.header("host", "localhost");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new())?;
        Ok(match &mut self.sender {
            Sender::H1(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Sender::H2(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
        })
    }

    /// [`Self::send`], then the whole body as text.
    pub(crate) async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Version, String), BoxError> {
        let response = self.send(path, headers).await?;
        let (status, version) = (response.status(), response.version());
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, version, String::from_utf8(body.to_vec())?))
    }
}

pub(crate) struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub body: String,
}

/// One request on a new connection.
pub(crate) async fn get(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, BoxError> {
    let mut connection = connect(addr, config).await?;
    let (status, version, body) = connection.get(path, headers).await?;
    Ok(Reply {
        status,
        version,
        body,
    })
}
