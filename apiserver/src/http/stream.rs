//! Live updates: Server-Sent Events of entity changes, filtered to what the caller may see.
//!
//! Events: `ready` (once, with cache freshness), `change` (`{type, ref, resourceVersion,
//! entity}`), `status` (freshness changed: the cache went stale or caught up), and `resync`
//! (the client fell too far behind and should refetch what it shows). Browsers use a fetch-based
//! SSE client, since EventSource cannot send the Authorization header.
//!
//! Self-service actions ride along: `run` (`{type, namespace, name, phase, action}`) and
//! `approval` (`{type, namespace, name, run, stage, phase}`, phase being the decision) for
//! every change the caller may see (RBAC `list` on the resource in its namespace; only the
//! `namespace` filter applies to them), so a run page follows its run without reloading.

use std::{
    convert::Infallible,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{RawQuery, State},
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, stream};
use nexus_api::{EntityKind, EntityRef};
use serde_json::json;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::{ApiError, SharedState, params::Params, portal::authenticate};
use crate::{
    authn::UserInfo,
    authz::Visibility,
    cache::{
        actions::{ActionChange, ActionKind},
        store::Change,
        sync::Freshness,
    },
    query::{Summary, parse_kind, parse_ref},
};

/// How often a stream re-derives the caller's visibility (permission changes take effect).
const VISIBILITY_REFRESH: Duration = Duration::from_secs(10);
/// How often freshness is checked for `status` events.
const STATUS_CHECK: Duration = Duration::from_secs(1);

struct Filters {
    kinds: Vec<EntityKind>,
    namespaces: Vec<String>,
    refs: Vec<EntityRef>,
}

impl Filters {
    fn pass(&self, id: &EntityRef) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&id.kind))
            && (self.namespaces.is_empty() || self.namespaces.iter().any(|n| **n == *id.namespace))
            && (self.refs.is_empty() || self.refs.contains(id))
    }
}

struct ClientGauge(Arc<crate::metrics::Metrics>);

impl Drop for ClientGauge {
    fn drop(&mut self) {
        self.0.stream_clients.dec();
    }
}

struct Subscription {
    state: SharedState,
    user: Arc<UserInfo>,
    visibility: Arc<Visibility>,
    refreshed: Instant,
    /// Store layout the visibility was derived for; a new (kind, namespace) forces a refresh.
    layout: u64,
    rx: Receiver<Arc<Change>>,
    actions: Receiver<Arc<ActionChange>>,
    filters: Filters,
    freshness: Option<Freshness>,
    _gauge: ClientGauge,
}

pub async fn portal_stream(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let params = Params::parse(raw.as_deref(), &["kind", "namespace", "ref"])?;
    let filters = Filters {
        kinds: params
            .list("kind")
            .iter()
            .map(|k| parse_kind(k))
            .collect::<Result<_, _>>()?,
        namespaces: params.list("namespace"),
        refs: params
            .list("ref")
            .iter()
            .map(|r| parse_ref(r))
            .collect::<Result<_, _>>()?,
    };
    let caller = state
        .authorize(user, "watch", "entities", None, None)
        .await?;
    // Subscribe before answering, so nothing between the caller's fetch and this stream is lost.
    let rx = state.cache.subscribe();
    let actions = state.cache.actions.subscribe();
    state.metrics.stream_clients.inc();
    let subscription = Subscription {
        user: caller.user,
        visibility: caller.visibility,
        refreshed: Instant::now(),
        layout: state.cache.read().layout_version(),
        rx,
        actions,
        filters,
        freshness: None,
        _gauge: ClientGauge(state.metrics.clone()),
        state: state.clone(),
    };
    let keepalive = state.sse_keepalive;
    let events = stream::unfold(subscription, |mut sub| async move {
        let event = sub.next_event().await?;
        Some((Ok(event), sub))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(keepalive)))
}

impl Subscription {
    /// The next event to send, or `None` to end the stream.
    async fn next_event(&mut self) -> Option<Event> {
        if self.freshness.is_none() {
            let freshness = self.state.cache.sync.freshness();
            self.freshness = Some(freshness);
            return Some(json_event("ready", &json!({ "cache": freshness })));
        }
        loop {
            let received = tokio::select! {
                received = self.rx.recv() => received,
                action = self.actions.recv() => match action {
                    Ok(change) => match self.action_event(&change).await {
                        Some(event) => return Some(event),
                        None => continue,
                    },
                    Err(RecvError::Lagged(missed)) => {
                        return Some(json_event(
                            "resync",
                            &json!({ "missed": missed, "message": "too many changes at once; refetch what you show" }),
                        ));
                    }
                    // The action cache lives as long as the entity cache: treat it the same.
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(STATUS_CHECK) => {
                    let now = self.state.cache.sync.freshness();
                    let was = self.freshness.unwrap_or(now);
                    if now.synced != was.synced || (now.stale_seconds > 0.0) != (was.stale_seconds > 0.0) {
                        self.freshness = Some(now);
                        return Some(json_event("status", &json!({ "cache": now })));
                    }
                    continue;
                }
            };
            match received {
                Ok(change) => {
                    let id = &change.entity().id;
                    if !self.filters.pass(id) {
                        continue;
                    }
                    // Deleting the last entity of a (kind, namespace) drops that pair from the
                    // refreshed visibility; whoever saw the entity must still get its DELETED.
                    let was_visible = self.visibility.can_see(id);
                    self.refresh_visibility().await;
                    let deleted = matches!(*change, Change::Deleted(_));
                    if !(self.visibility.can_see(id) || (deleted && was_visible)) {
                        continue;
                    }
                    let entity = change.entity();
                    return Some(
                        json_event(
                            "change",
                            &json!({
                                "type": change.type_name(),
                                "ref": id.to_string(),
                                "resourceVersion": entity.resource_version,
                                "entity": Summary::of(entity),
                            }),
                        )
                        .id(entity.resource_version.clone()),
                    );
                }
                Err(RecvError::Lagged(missed)) => {
                    return Some(json_event(
                        "resync",
                        &json!({ "missed": missed, "message": "too many changes at once; refetch what you show" }),
                    ));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The `run` or `approval` event for a change the caller may see.
    async fn action_event(&self, change: &ActionChange) -> Option<Event> {
        let name = match change.kind {
            ActionKind::Run => "run",
            ActionKind::Approval => "approval",
            ActionKind::Action => return None,
        };
        if !(self.filters.namespaces.is_empty()
            || self.filters.namespaces.contains(&change.namespace))
        {
            return None;
        }
        // Cached per (user, namespace) by the authorizer, so a burst of changes costs one review.
        let allowed = crate::actions::access::allowed_in(
            self.state.resolver.authorizer(),
            &self.user,
            "list",
            change.kind,
            &change.namespace,
        )
        .await
        .unwrap_or(false);
        allowed.then(|| json_event(name, &serde_json::to_value(change).unwrap_or_default()))
    }

    async fn refresh_visibility(&mut self) {
        let layout = self.state.cache.read().layout_version();
        if layout == self.layout && self.refreshed.elapsed() < VISIBILITY_REFRESH {
            return;
        }
        self.refreshed = Instant::now();
        self.layout = layout;
        let fresh = self
            .state
            .resolver
            .resolve(&self.user, &self.state.cache)
            .await;
        // A stale answer may hide what could not be asked (kube-apiserver restarting): keep the
        // last complete one until permissions can be checked again.
        if !fresh.stale {
            self.visibility = fresh;
        }
    }
}

fn json_event(name: &str, body: &serde_json::Value) -> Event {
    Event::default().event(name).data(body.to_string())
}
