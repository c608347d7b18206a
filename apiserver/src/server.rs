//! Plain-HTTP `/metrics`, `/healthz` and `/readyz` (ready once every kind has been listed).

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use tokio_util::sync::CancellationToken;

use crate::cache::Cache;

pub async fn serve(
    addr: SocketAddr,
    cache: Arc<Cache>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(cache);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
}

async fn metrics(State(cache): State<Arc<Cache>>) -> impl IntoResponse {
    let freshness = cache.sync.freshness();
    cache.metrics.stale_seconds.set(freshness.stale_seconds);
    cache
        .metrics
        .index_pending
        .set(i64::try_from(cache.index.pending()).unwrap_or(i64::MAX));
    (
        [("content-type", "text/plain; version=0.0.4")],
        cache.metrics.render(),
    )
}

async fn readyz(State(cache): State<Arc<Cache>>) -> impl IntoResponse {
    if cache.sync.freshness().synced {
        (StatusCode::OK, "synced")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "cache syncing")
    }
}
