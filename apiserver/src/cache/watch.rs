//! List once, then watch — per kind, never polling. The watch resumes from the last
//! resourceVersion it saw (bookmarks keep that current), so a reconnect after an outage replays
//! what was missed; when the apiserver no longer has that version (410 Gone) the kind is listed
//! again and the difference applied ([`super::Cache::replace_kind`]).

use std::{sync::Arc, time::Duration};

use futures::TryStreamExt;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, ListParams, WatchEvent, WatchParams},
};
use nexus_api::EntityKind;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Cache, object_ref};

pub const GROUP: &str = "catalog.nexus.dev";
pub const VERSION: &str = "v1alpha1";
const PAGE_SIZE: u32 = 500;
/// Server-side watch timeout; the watch is re-opened from the last version after it.
const WATCH_TIMEOUT_SECONDS: u32 = 290;

pub fn api_resource(kind: EntityKind) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.as_str().into(),
        plural: kind.plural().into(),
    }
}

/// Starts one list/watch loop per catalog kind.
pub fn spawn_all(
    client: Client,
    cache: Arc<Cache>,
    namespace: Option<String>,
    cancel: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    EntityKind::ALL
        .into_iter()
        .map(|kind| {
            let (client, cache, namespace, cancel) = (
                client.clone(),
                cache.clone(),
                namespace.clone(),
                cancel.clone(),
            );
            tokio::spawn(async move {
                tokio::select! {
                    () = run_kind(client, cache, kind, namespace) => {}
                    () = cancel.cancelled() => {}
                }
            })
        })
        .collect()
}

struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Self { next: Self::FIRST }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

enum WatchEnd {
    /// The server closed the watch (timeout): reopen from the same version.
    Closed,
    /// The version is too old: list again.
    Gone,
    /// Connection or server trouble: back off, then reopen.
    Failed,
}

pub async fn run_kind(
    client: Client,
    cache: Arc<Cache>,
    kind: EntityKind,
    namespace: Option<String>,
) {
    let resource = api_resource(kind);
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    };
    let mut backoff = Backoff::new();
    loop {
        let mut version = match list(&api, &cache, kind).await {
            Ok((count, version)) => {
                cache.sync.listed(kind);
                cache.metrics.relist(kind);
                tracing::info!(kind = kind.as_str(), count, %version, "listed");
                backoff.reset();
                version
            }
            Err(error) => {
                cache.sync.disconnected(kind);
                tracing::warn!(kind = kind.as_str(), %error, "list failed; retrying");
                backoff.wait().await;
                continue;
            }
        };
        loop {
            match watch(&api, &cache, kind, &mut version).await {
                WatchEnd::Closed => backoff.reset(),
                WatchEnd::Gone => {
                    tracing::info!(
                        kind = kind.as_str(),
                        "watch version expired (410); relisting"
                    );
                    break;
                }
                WatchEnd::Failed => {
                    cache.sync.disconnected(kind);
                    backoff.wait().await;
                }
            }
        }
    }
}

/// Lists `kind` page by page into the cache (each page applied as it arrives, so a 100k list
/// never holds more than one page of decoded objects), then deletes what the list no longer
/// has. Returns the number listed and the list's resourceVersion.
async fn list(
    api: &Api<DynamicObject>,
    cache: &Cache,
    kind: EntityKind,
) -> Result<(usize, String), kube::Error> {
    let mut seen = std::collections::HashSet::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = api.list(&params).await?;
        let objects: Vec<Value> = page
            .items
            .into_iter()
            .filter_map(|object| match serde_json::to_value(object) {
                Ok(value) => Some(value),
                Err(error) => {
                    tracing::warn!(%error, "skipping unserialisable object");
                    None
                }
            })
            .collect();
        seen.extend(cache.apply_page(kind, objects));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => {
                let count = seen.len();
                cache.retain_kind(kind, &seen);
                return Ok((count, page.metadata.resource_version.unwrap_or_default()));
            }
        }
    }
}

async fn watch(
    api: &Api<DynamicObject>,
    cache: &Cache,
    kind: EntityKind,
    version: &mut String,
) -> WatchEnd {
    let params = WatchParams::default().timeout(WATCH_TIMEOUT_SECONDS);
    let stream = match api.watch(&params, version).await {
        Ok(stream) => stream,
        Err(kube::Error::Api(status)) if status.code == 410 => return WatchEnd::Gone,
        Err(error) => {
            tracing::warn!(kind = kind.as_str(), %error, "watch failed; retrying");
            return WatchEnd::Failed;
        }
    };
    cache.sync.connected(kind);
    let mut stream = std::pin::pin!(stream.into_stream());
    loop {
        match stream.try_next().await {
            Ok(Some(event)) => match event {
                WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                    remember(version, &object);
                    cache.metrics.watch_event(kind);
                    match serde_json::to_value(object) {
                        Ok(value) => cache.apply(kind, value),
                        Err(_) => cache.metrics.malformed(kind),
                    }
                }
                WatchEvent::Deleted(object) => {
                    remember(version, &object);
                    cache.metrics.watch_event(kind);
                    if let Some(id) = serde_json::to_value(&object)
                        .ok()
                        .and_then(|v| object_ref(kind, &v))
                    {
                        cache.delete(&id);
                    }
                }
                WatchEvent::Bookmark(bookmark) => {
                    *version = bookmark.metadata.resource_version;
                }
                WatchEvent::Error(status) if status.code == 410 => return WatchEnd::Gone,
                WatchEvent::Error(status) => {
                    tracing::warn!(kind = kind.as_str(), message = %status.message, "watch error event");
                    return WatchEnd::Failed;
                }
            },
            Ok(None) => return WatchEnd::Closed,
            // One event that does not decode must not stop the kind: count it and go on.
            Err(kube::Error::SerdeError(error)) => {
                cache.metrics.malformed(kind);
                tracing::warn!(kind = kind.as_str(), %error, "skipping undecodable watch event");
            }
            Err(error) => {
                tracing::warn!(kind = kind.as_str(), %error, "watch stream broke; resuming");
                return WatchEnd::Failed;
            }
        }
    }
}

fn remember(version: &mut String, object: &DynamicObject) {
    if let Some(rv) = &object.metadata.resource_version {
        version.clone_from(rv);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        convert::Infallible,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use axum::{
        Json, Router,
        body::{Body, Bytes},
        extract::{Query, State},
        response::{IntoResponse, Response},
        routing::get,
    };
    use serde_json::json;

    use super::*;
    use crate::metrics::Metrics;

    fn component(name: &str, rv: &str) -> Value {
        json!({"apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Component",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
            "spec": {"title": name}})
    }

    #[derive(Clone, Default)]
    struct Fake {
        lists: Arc<AtomicUsize>,
        watches: Arc<AtomicUsize>,
    }

    fn lines(events: Vec<Value>, then_hang: bool) -> Response {
        let chunks: Vec<Result<Bytes, Infallible>> = events
            .into_iter()
            .map(|e| Ok(Bytes::from(format!("{e}\n"))))
            .collect();
        let stream = futures::stream::iter(chunks);
        if then_hang {
            Body::from_stream(futures::StreamExt::chain(
                stream,
                futures::stream::pending(),
            ))
            .into_response()
        } else {
            Body::from_stream(stream).into_response()
        }
    }

    /// First list: a, b @10. First watch: ADDED c, then 410 Gone. Second list (b was deleted
    /// meanwhile): a, c @20. Second watch: MODIFIED a, then stays open.
    async fn components(
        State(fake): State<Fake>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        if q.get("watch").map(String::as_str) == Some("true") {
            return match fake.watches.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    assert_eq!(q.get("resourceVersion").map(String::as_str), Some("10"));
                    lines(
                        vec![
                            json!({"type": "ADDED", "object": component("c", "11")}),
                            json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}}),
                        ],
                        false,
                    )
                }
                _ => lines(
                    vec![json!({"type": "MODIFIED", "object": component("a", "21")})],
                    true,
                ),
            };
        }
        let (items, rv) = match fake.lists.fetch_add(1, Ordering::SeqCst) {
            0 => (vec![component("a", "1"), component("b", "2")], "10"),
            _ => (vec![component("a", "1"), component("c", "11")], "20"),
        };
        Json(
            json!({"apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "ComponentList",
            "metadata": {"resourceVersion": rv}, "items": items}),
        )
        .into_response()
    }

    #[tokio::test]
    async fn gone_relists_and_applies_the_difference() {
        let fake = Fake::default();
        let router = Router::new()
            .route(
                "/apis/catalog.nexus.dev/v1alpha1/components",
                get(components),
            )
            .with_state(fake.clone());
        let client = Client::new(router, "default");
        let (cache, indexer) =
            Cache::new(Duration::from_millis(5), Arc::new(Metrics::new())).unwrap();
        std::thread::spawn(move || indexer.run());
        let task = tokio::spawn(run_kind(client, cache.clone(), EntityKind::Component, None));
        let id = |n: &str| nexus_api::EntityRef::new(EntityKind::Component, "ns", n);
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let done = {
                    let store = cache.read();
                    store
                        .get(&id("a"))
                        .is_some_and(|a| a.resource_version == "21")
                        && store.get(&id("b")).is_none()
                        && store.get(&id("c")).is_some()
                };
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the cache converges on the second list plus the watch");
        assert_eq!(
            fake.lists.load(Ordering::SeqCst),
            2,
            "410 Gone relists once"
        );
        assert_eq!(cache.read().len(), 2);
        let relists = cache
            .metrics
            .relists
            .with_label_values(&["Component"])
            .get();
        assert_eq!(relists, 2);
        task.abort();
    }
}
