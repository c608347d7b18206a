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
        let mut version = match list(&api).await {
            Ok((objects, version)) => {
                let count = objects.len();
                cache.replace_kind(kind, objects);
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

async fn list(api: &Api<DynamicObject>) -> Result<(Vec<Value>, String), kube::Error> {
    let mut objects = Vec::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = api.list(&params).await?;
        for object in page.items {
            match serde_json::to_value(object) {
                Ok(value) => objects.push(value),
                Err(error) => tracing::warn!(%error, "skipping unserialisable object"),
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => {
                return Ok((objects, page.metadata.resource_version.unwrap_or_default()));
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
