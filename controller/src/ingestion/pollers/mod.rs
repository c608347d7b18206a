//! Pollers: periodic REST reads of each integration (leader only).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Shared;

/// Runs every integration's poller until shutdown.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let _ = shared;
    shutdown.cancelled().await;
}
