//! nexus-apiserver: an in-memory read cache of the Nexus catalog, fed by watches, served as the
//! aggregated Kubernetes API `portal.nexus.dev/v1alpha1` and as the portal's HTTPS API `/api/v1`.
//!
//! Layout: `cache/` (watch → store, search index, sync state, scorecard snapshots), `query/`
//! (search, entity, graph, team, dashboard, insights: one handler set for both faces), `authn/`
//! (front-proxy certificates, Entra JWTs, dev tokens), `authz/` (SubjectAccessReview →
//! per-user visibility), `http/` (the two faces, live stream, OpenAPI), `tls/` (rustls,
//! certificate reload).

pub mod actions;
pub mod authn;
pub mod authz;
pub mod cache;
pub mod config;
pub mod http;
pub mod metrics;
pub mod query;
pub mod server;
pub mod tls;

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::{
    authn::{bearer::BearerAuth, frontproxy::FrontProxyAuth},
    authz::{Authorizer, grants::NameGrants, visibility::VisibilityResolver},
    cache::{Cache, watch},
    config::ServeConfig,
    http::AppState,
    metrics::Metrics,
    tls::CertReloader,
};

pub async fn run(cfg: ServeConfig) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("cannot reach Kubernetes (in-cluster config or KUBECONFIG)")?;
    let cancel = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());

    let (cache, indexer) = Cache::new(cfg.index_commit_interval, metrics.clone())
        .context("creating the search index")?;
    std::thread::Builder::new()
        .name("search-index".into())
        .spawn(move || indexer.run())
        .context("starting the search index thread")?;
    let mut watches = watch::spawn_all(
        client.clone(),
        cache.clone(),
        cfg.watch_namespace.clone(),
        cancel.clone(),
    );
    cache
        .write_scorecards()
        .set_retention_days(cfg.insights_retention_days);
    watches.extend(cache::scorecards::spawn(
        client.clone(),
        cache.clone(),
        cfg.watch_namespace.clone(),
        cancel.clone(),
    ));
    watches.extend(cache::actions::spawn(
        client.clone(),
        cache.clone(),
        cfg.watch_namespace.clone(),
        cancel.clone(),
    ));

    let certs = CertReloader::load(cfg.tls_cert_file.clone(), cfg.tls_key_file.clone())?;
    certs.spawn_watch(cfg.cert_reload_interval, cancel.clone());
    let portal_certs = match (&cfg.portal_tls_cert_file, &cfg.portal_tls_key_file) {
        (Some(cert), Some(key)) => {
            let certs = CertReloader::load(cert.clone(), key.clone())?;
            certs.spawn_watch(cfg.cert_reload_interval, cancel.clone());
            certs
        }
        _ => certs.clone(),
    };

    let front_proxy =
        FrontProxyAuth::watch(client.clone(), &cfg.requestheader_configmap, cancel.clone())
            .await
            .with_context(|| {
                format!(
                    "reading front-proxy settings from ConfigMap {}",
                    cfg.requestheader_configmap
                )
            })?;
    let bearer = if cfg.dev_auth || cfg.oidc.oidc_issuer_url.is_some() {
        let bearer = BearerAuth::from_config(&cfg)?;
        if bearer.is_dev() {
            tracing::warn!(
                key = %cfg.dev_key_file.display(),
                "DEV-AUTH: the portal accepts tokens signed by a local key; never use this outside `make dev`"
            );
        }
        Some(Arc::new(bearer))
    } else {
        tracing::info!("portal API disabled: no --oidc-issuer-url (or --dev-auth)");
        None
    };

    let authorizer = Arc::new(Authorizer::new(
        client.clone(),
        cfg.authz_cache_ttl,
        metrics.clone(),
    ));
    let grants = Arc::new(NameGrants::default());
    grants.spawn_watch(client.clone(), cancel.clone());
    let resolver = Arc::new(VisibilityResolver::with_grants(
        authorizer,
        grants,
        cfg.authz_cache_ttl,
    ));
    let state = Arc::new(AppState {
        cache: cache.clone(),
        resolver,
        metrics: metrics.clone(),
        front_proxy: Some(front_proxy.clone()),
        bearer: bearer.clone(),
        sse_keepalive: cfg.sse_keepalive,
        actions: actions::Backends {
            kube: Some(client.clone()),
            audit: match &cfg.audit_url {
                Some(url) => Some(Arc::new(
                    actions::audit::AuditSource::new(url, cfg.audit_token_file.clone())
                        .map_err(anyhow::Error::msg)?,
                )),
                None => None,
            },
        },
    });

    let mut servers = tokio::task::JoinSet::new();
    let aggregated = tokio::net::TcpListener::bind(cfg.aggregated_addr)
        .await
        .with_context(|| format!("binding --aggregated-addr {}", cfg.aggregated_addr))?;
    servers.spawn(tls::serve(
        aggregated,
        tls::server_config(certs.clone(), Some(front_proxy.client_verifier())),
        http::aggregated::router(state.clone()),
        cancel.clone(),
    ));
    let portal_app = match &cfg.portal_ui.portal_assets_dir {
        Some(dir) if bearer.is_some() => {
            let dev = bearer.as_ref().is_some_and(|b| b.is_dev());
            let issuer = cfg.oidc.oidc_issuer_url.as_deref();
            let assets = http::assets::Assets::new(dir, &cfg.portal_ui, dev, issuer)?;
            tracing::info!(dir = %dir.display(), "serving the portal app");
            Some(Arc::new(assets))
        }
        Some(_) => anyhow::bail!(
            "--portal-assets-dir needs the portal API (--oidc-issuer-url or --dev-auth)"
        ),
        None => None,
    };
    if bearer.is_some() {
        let portal = tokio::net::TcpListener::bind(cfg.portal_addr)
            .await
            .with_context(|| format!("binding --portal-addr {}", cfg.portal_addr))?;
        servers.spawn(tls::serve(
            portal,
            tls::server_config(portal_certs, None),
            http::assets::with_portal_app(http::portal::router(state.clone()), portal_app),
            cancel.clone(),
        ));
    }
    let metrics_addr = cfg.metrics_addr;
    let metrics_cache = cache.clone();
    let metrics_cancel = cancel.clone();
    servers.spawn(async move {
        if let Err(error) = server::serve(metrics_addr, metrics_cache, metrics_cancel).await {
            tracing::error!(%error, addr = %metrics_addr, "metrics server failed");
        }
    });

    shutdown_signal().await;
    tracing::info!("shutting down");
    cancel.cancel();
    while servers.join_next().await.is_some() {}
    for watch in watches {
        watch.abort();
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
