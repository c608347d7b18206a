//! List-then-watch of a kind the cache keeps as JSON (actions, scorecards): kube-runtime's
//! watcher with back-off, managed fields dropped, events handed over as `serde_json::Value`.
//! The catalog kinds have their own loop (`watch.rs`: resume, bookmarks, page-by-page relist).

use futures::StreamExt;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// What a handler sees: a (re)list starts, each object, the list ends; then changes.
pub enum JsonEvent {
    Init,
    InitDone,
    Apply(Value),
    Delete(Value),
}

/// Watches `ar` (in `namespace`, or cluster-wide) until `cancel`, calling `on` for every event.
/// Watch errors (typically the CRD is not installed yet) are logged at debug and retried with
/// back-off.
pub fn spawn(
    client: &Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    cancel: CancellationToken,
    mut on: impl FnMut(JsonEvent) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let kind = ar.kind.clone();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(|o| o.metadata.managed_fields = None);
        let mut stream = std::pin::pin!(stream);
        let events = async {
            while let Some(event) = stream.next().await {
                let event = match event {
                    Ok(e) => e,
                    Err(error) => {
                        tracing::debug!(%kind, %error, "watch error; retrying");
                        continue;
                    }
                };
                let json = |o: DynamicObject| serde_json::to_value(o).ok();
                match event {
                    watcher::Event::Init => on(JsonEvent::Init),
                    watcher::Event::InitDone => {
                        tracing::info!(%kind, "listed");
                        on(JsonEvent::InitDone);
                    }
                    watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                        if let Some(v) = json(o) {
                            on(JsonEvent::Apply(v));
                        }
                    }
                    watcher::Event::Delete(o) => {
                        if let Some(v) = json(o) {
                            on(JsonEvent::Delete(v));
                        }
                    }
                }
            }
        };
        tokio::select! {
            () = events => {}
            () = cancel.cancelled() => {}
        }
    })
}
