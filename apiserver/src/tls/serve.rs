//! Serving an axum [`Router`] over TLS: HTTP/1.1 and HTTP/2 (ALPN `h2`, which kube-apiserver
//! uses towards aggregated APIs), the client certificate chain of each connection in every
//! request's extensions, and graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{Request, body::Incoming};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use rustls::{ServerConfig, server::danger::ClientCertVerifier};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use super::{CertReloader, PeerCertificates, crypto_provider};

/// Timeouts of [`serve_with_options`]; [`serve`] uses the defaults.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Longest a TLS handshake may take (a slow or silent client is dropped after it).
    pub handshake_timeout: Duration,
    /// After cancellation, how long in-flight requests may take to finish before their
    /// connections are closed (long-lived streams such as SSE end here).
    pub shutdown_grace: Duration,
    /// Longest a client may take to send the headers of an HTTP/1.1 request.
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// The rustls configuration of a face: ring, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, the
/// serving certificate from `certs`, and client certificates checked by `client_verifier` when
/// given (none are asked for otherwise).
pub fn server_config(
    certs: Arc<CertReloader>,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> Arc<ServerConfig> {
    #[allow(clippy::expect_used)]
    let builder = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        // Invariant: the ring provider (with the `tls12` feature this crate enables) has cipher
        // suites and key exchanges for both versions.
        .expect("the ring provider supports TLS 1.2 and 1.3");
    let builder = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Serves `router` on `listener` over TLS until `cancel`, with [`ServeOptions::default`].
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    cancel: CancellationToken,
) {
    serve_with_options(listener, tls, router, cancel, ServeOptions::default()).await;
}

/// Serves `router` on `listener` over TLS until `cancel`.
///
/// Each connection is handled in its own task (handshake included, so a slow client never
/// blocks `accept`). Every request carries the connection's [`PeerCertificates`] and
/// [`ConnectInfo<SocketAddr>`] in its extensions. On `cancel` the listener closes, idle
/// connections close, in-flight requests get `shutdown_grace` to finish; then the remaining
/// connections are dropped and this returns.
pub async fn serve_with_options(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    cancel: CancellationToken,
    options: ServeOptions,
) {
    let local = listener.local_addr().ok();
    info!(addr = ?local, "serving HTTPS");
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let hard_stop = CancellationToken::new();

    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // E.g. out of file descriptors: don't spin.
                    warn!(addr = ?local, error = %err, "cannot accept connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            stream,
            remote,
            acceptor.clone(),
            router.clone(),
            options,
            cancel.clone(),
            hard_stop.clone(),
            graceful.watcher(),
        ));
    }

    drop(listener);
    let open = graceful.count();
    debug!(addr = ?local, open, "shutting down HTTPS listener");
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            addr = ?local,
            grace = ?options.shutdown_grace,
            "requests still running after the shutdown grace period; closing their connections"
        );
    }
    hard_stop.cancel();
    info!(addr = ?local, "HTTPS listener stopped");
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    options: ServeOptions,
    cancel: CancellationToken,
    hard_stop: CancellationToken,
    watcher: hyper_util::server::graceful::Watcher,
) {
    // Small writes (SSE events, h2 frames) go out at once.
    let _ = stream.set_nodelay(true);
    let handshake = tokio::time::timeout(options.handshake_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        () = cancel.cancelled() => return,
        handshake = handshake => match handshake {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                log_handshake_error(remote, &err);
                return;
            }
            Err(_) => {
                debug!(%remote, timeout = ?options.handshake_timeout, "TLS handshake timed out");
                return;
            }
        },
    };

    let (_, session) = tls.get_ref();
    let peer = PeerCertificates(
        session
            .peer_certificates()
            .filter(|chain| !chain.is_empty())
            .map(|chain| Arc::new(chain.iter().map(|c| c.clone().into_owned()).collect())),
    );
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);

    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(peer.clone());
        request.extensions_mut().insert(ConnectInfo(remote));
        let router = router.clone();
        async move { router.oneshot(request).await }
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30));
    // Honour what ALPN settled; without ALPN the protocol is detected from the first bytes.
    let builder = match alpn.as_deref() {
        Some(b"h2") => builder.http2_only(),
        Some(b"http/1.1") => builder.http1_only(),
        _ => builder,
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    let conn = watcher.watch(conn);
    tokio::select! {
        served = conn => if let Err(err) = served {
            debug!(%remote, error = %err, "connection ended with an error");
        },
        () = hard_stop.cancelled() => debug!(%remote, "connection closed at shutdown"),
    }
}

fn log_handshake_error(remote: SocketAddr, err: &std::io::Error) {
    let tls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls_error {
        // A client certificate that does not chain to the trusted CA is worth seeing.
        Some(rustls::Error::InvalidCertificate(reason)) => {
            warn!(%remote, ?reason, "TLS handshake failed: client certificate rejected");
        }
        _ => debug!(%remote, error = %err, "TLS handshake failed"),
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::{
        body::{Body, Bytes},
        routing::get,
    };
    use futures::StreamExt;
    use http::{StatusCode, Version};
    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::tls::testing::{self, Pki, TestServer};

    fn router() -> Router {
        Router::new()
            .route(
                "/hello",
                get(|req: axum::extract::Request| async move {
                    let peer = req.extensions().get::<PeerCertificates>().cloned();
                    let remote = req.extensions().get::<ConnectInfo<SocketAddr>>().is_some();
                    format!(
                        "hello {:?} peer={} connect_info={remote}",
                        req.version(),
                        peer.map_or("missing".to_owned(), |p| p.0.is_some().to_string()),
                    )
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            )
            .route(
                "/events",
                get(|| async {
                    // One event, then the stream stays open: only reachable by the client if
                    // nothing buffers the response.
                    let first = futures::stream::once(async {
                        Ok::<_, Infallible>(Bytes::from_static(b"data: first\n\n"))
                    });
                    let body = Body::from_stream(first.chain(futures::stream::pending()));
                    ([("content-type", "text/event-stream")], body)
                }),
            )
    }

    async fn start(options: ServeOptions) -> (TestServer, Arc<CertReloader>, tempfile::TempDir) {
        let (reloader, dir) = testing::server_certs();
        let tls = server_config(reloader.clone(), None);
        (
            TestServer::start(tls, router(), options).await,
            reloader,
            dir,
        )
    }

    #[tokio::test]
    async fn tls_serves_http1_and_h2_by_alpn() {
        let pki = Pki::get();
        let (server, _, _dir) = start(ServeOptions::default()).await;

        for (alpn, negotiated, version) in [
            (&["h2", "http/1.1"][..], Some(&b"h2"[..]), Version::HTTP_2),
            (&["http/1.1"][..], Some(&b"http/1.1"[..]), Version::HTTP_11),
            (&[][..], None, Version::HTTP_11),
        ] {
            let config = testing::client_config(&pki.ca_pem, None, alpn);
            let mut conn = testing::connect(server.addr, config).await.unwrap();
            assert_eq!(conn.alpn.as_deref(), negotiated, "{alpn:?}");
            let (status, got_version, body) = conn.get("/hello", &[]).await.unwrap();
            assert_eq!(status, StatusCode::OK, "{alpn:?}");
            assert_eq!(got_version, version, "{alpn:?}");
            assert_eq!(
                body,
                format!("hello {version:?} peer=false connect_info=true"),
                "{alpn:?}"
            );
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn tls_new_connections_see_a_reloaded_certificate() {
        let pki = Pki::get();
        let (server, reloader, dir) = start(ServeOptions::default()).await;
        let config = testing::client_config(&pki.ca_pem, None, &["h2"]);

        let mut before = testing::connect(server.addr, config.clone()).await.unwrap();
        assert_eq!(before.server_cert, testing::der(&pki.server_cert_pem));

        std::fs::write(dir.path().join("tls.crt"), &pki.server2_cert_pem).unwrap();
        std::fs::write(dir.path().join("tls.key"), &pki.server2_key_pem).unwrap();
        assert!(reloader.reload_if_changed().unwrap());
        let after = testing::connect(server.addr, config.clone()).await.unwrap();
        assert_eq!(after.server_cert, testing::der(&pki.server2_cert_pem));
        // The connection opened before keeps working.
        let (status, _, _) = before.get("/hello", &[]).await.unwrap();
        assert_eq!(status, StatusCode::OK);

        std::fs::write(dir.path().join("tls.crt"), "garbage").unwrap();
        assert!(reloader.reload_if_changed().is_err());
        let still = testing::connect(server.addr, config).await.unwrap();
        assert_eq!(still.server_cert, testing::der(&pki.server2_cert_pem));
        server.stop().await;
    }

    #[tokio::test]
    async fn tls_event_streams_are_not_buffered_over_http1_and_h2() {
        let pki = Pki::get();
        let (server, _, _dir) = start(ServeOptions::default()).await;
        for (alpn, version) in [("h2", Version::HTTP_2), ("http/1.1", Version::HTTP_11)] {
            let config = testing::client_config(&pki.ca_pem, None, &[alpn]);
            let mut conn = testing::connect(server.addr, config).await.unwrap();
            let response = conn.send("/events", &[]).await.unwrap();
            assert_eq!(response.version(), version);
            let mut body = response.into_body();
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .unwrap_or_else(|_| panic!("{alpn}: first event not delivered"))
                .unwrap()
                .unwrap();
            assert_eq!(
                frame.into_data().unwrap(),
                Bytes::from_static(b"data: first\n\n")
            );
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn tls_a_silent_client_neither_blocks_accept_nor_stays() {
        let pki = Pki::get();
        let options = ServeOptions {
            handshake_timeout: Duration::from_millis(300),
            ..ServeOptions::default()
        };
        let (server, _, _dir) = start(options).await;

        let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let config = testing::client_config(&pki.ca_pem, None, &["h2"]);
        let reply = testing::get(server.addr, config, "/hello", &[])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);

        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
            .await
            .expect("the server drops a client that does not handshake");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn tls_shutdown_lets_requests_finish_then_closes_streams() {
        let pki = Pki::get();
        let options = ServeOptions {
            shutdown_grace: Duration::from_millis(500),
            ..ServeOptions::default()
        };
        let (server, _, _dir) = start(options).await;

        // Idle keep-alive connections do not hold the shutdown up.
        let mut idle = Vec::new();
        for alpn in ["h2", "http/1.1"] {
            let config = testing::client_config(&pki.ca_pem, None, &[alpn]);
            let mut conn = testing::connect(server.addr, config.clone()).await.unwrap();
            assert_eq!(conn.get("/hello", &[]).await.unwrap().0, StatusCode::OK);
            idle.push(conn);
        }

        let config = testing::client_config(&pki.ca_pem, None, &["h2"]);
        let mut streaming = testing::connect(server.addr, config.clone()).await.unwrap();
        let events = streaming.send("/events", &[]).await.unwrap();
        let mut slow_conn = testing::connect(server.addr, config.clone()).await.unwrap();
        let slow = tokio::spawn(async move { slow_conn.get("/slow", &[]).await });
        tokio::time::sleep(Duration::from_millis(50)).await;

        let started = std::time::Instant::now();
        server.cancel.cancel();
        let (status, _, body) = slow.await.unwrap().unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
        tokio::time::timeout(Duration::from_secs(5), server.task)
            .await
            .expect("serve returns after the grace period")
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "the stream had its grace"
        );

        // The endless stream was cut, and nothing listens any more.
        let rest = tokio::time::timeout(Duration::from_secs(5), events.into_body().collect()).await;
        assert!(rest.is_ok(), "the endless stream is closed at shutdown");
        drop(idle);
        assert!(testing::connect(server.addr, config).await.is_err());
    }
}
