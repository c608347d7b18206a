//! One kube-runtime controller per catalog kind, all feeding and reading one relation graph.
//!
//! Per kind: watcher → (graph update) → reflector → Controller, plus a requeue channel the
//! graph uses to reconcile entities whose relations changed because of *another* object.

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt, channel::mpsc};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    core::DeserializeGuard,
    runtime::{
        Controller, WatchStreamExt,
        controller::{self, Action},
        events::{Event as KubeEvent, EventType},
        reflector::{self, ObjectRef},
        watcher,
    },
};
use nexus_api::{
    CatalogEntity, DeclaredRef, EntityKind, EntityRef, EntityStatus,
    catalog::*,
    conditions::{self, READY, TRUE},
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::{
    cached::Cached,
    context::Context,
    graph::Node,
    status::{self, MANAGER},
};

/// Settings of the per-kind controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Coalesces bursts of triggers for one object.
    pub debounce: Duration,
    /// Reconciles running at once, per kind.
    pub concurrency: u16,
    /// Safety-net resync of each object (no write unless something changed); `None`: rely on
    /// watches alone, which also saves a scheduler entry per object.
    pub resync: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(300),
            concurrency: 8,
            resync: None,
        }
    }
}

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
    #[error("status patch failed: {0}")]
    Patch(#[source] kube::Error),
    #[error("cannot serialise status: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::MissingMetadata(_) => "missing_metadata",
            Error::Patch(_) => "patch",
            Error::Serialize(_) => "serialize",
        }
    }
}

/// Runs the controllers of every catalog kind until `shutdown` fires.
pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
    tokio::join!(
        run_kind::<Component>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<System>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Domain>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Repository>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Pipeline>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<AzureResource>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Environment>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Team>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<User>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<ApiEntity>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Package>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Incident>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<WorkItem>(ctx.clone(), settings.clone(), shutdown.clone()),
        run_kind::<Runbook>(ctx.clone(), settings.clone(), shutdown.clone()),
    );
}

fn key_of<K: CatalogEntity, R: Resource>(obj: &R) -> Option<EntityRef> {
    let meta = obj.meta();
    Some(EntityRef::new(
        K::KIND,
        meta.namespace.clone()?,
        meta.name.clone()?,
    ))
}

fn node_of<K: CatalogEntity>(obj: &DeserializeGuard<K>) -> Node {
    match &obj.0 {
        Ok(o) => {
            // The text as written only matters for references that do not parse; the graph
            // holds one per reference of every entity, so don't keep it otherwise.
            let strip = |mut r: DeclaredRef| {
                if r.target.is_ok() {
                    r.raw = String::new();
                }
                r
            };
            let refs: Vec<DeclaredRef> = o.declared_refs().into_iter().map(strip).collect();
            let mut owner_inputs = o.owner_inputs(&refs);
            owner_inputs.explicit = owner_inputs.explicit.map(strip);
            Node {
                refs,
                owner_inputs,
                match_keys: o.match_keys(),
                invalid: None,
            }
        }
        Err(e) => Node {
            invalid: Some(e.error.clone()),
            ..Default::default()
        },
    }
}

/// Applies one watch event to the graph and requeues whoever it affects.
fn on_event<K: CatalogEntity>(ctx: &Context, event: &watcher::Event<DeserializeGuard<K>>) {
    let kind = K::KIND.as_str();
    let mut affected = HashSet::new();
    let mut all_synced = false;
    {
        let Ok(mut graph) = ctx.graph.write() else {
            return;
        };
        match event {
            watcher::Event::Init => {
                ctx.metrics
                    .watch_events
                    .with_label_values(&[kind, "init"])
                    .inc();
                graph.begin_relist(K::KIND);
            }
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                ctx.metrics
                    .watch_events
                    .with_label_values(&[kind, "apply"])
                    .inc();
                if let Err(e) = &obj.0 {
                    ctx.metrics.invalid_objects.with_label_values(&[kind]).inc();
                    warn!(kind, name = obj.meta().name.as_deref(), error = %e.error, "object does not deserialise; reporting it in its status");
                }
                if let Some(key) = key_of::<K, _>(obj) {
                    ctx.mark_pending(&key);
                    if !graph.contains(&key) {
                        ctx.note_create();
                    }
                    affected = graph.upsert(key, node_of(obj));
                }
            }
            watcher::Event::Delete(obj) => {
                ctx.metrics
                    .watch_events
                    .with_label_values(&[kind, "delete"])
                    .inc();
                if let Some(key) = key_of::<K, _>(obj) {
                    ctx.mark_started(&key);
                    affected = graph.remove(&key);
                }
            }
            watcher::Event::InitDone => {
                ctx.metrics
                    .watch_events
                    .with_label_values(&[kind, "init_done"])
                    .inc();
                affected = graph.end_relist(K::KIND);
                all_synced = graph.is_synced(&EntityKind::ALL);
            }
        }
        ctx.metrics
            .entities
            .with_label_values(&[kind])
            .set(graph.count(K::KIND) as i64);
    }
    if all_synced && !ctx.is_synced() {
        info!("every catalog kind is listed; reconciling");
        ctx.set_synced();
    }
    ctx.requeue_all(affected);
}

async fn run_kind<K: CatalogEntity>(
    ctx: Arc<Context>,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let api: Api<DeserializeGuard<K>> = match &ctx.watch_namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let (tx, rx) = mpsc::unbounded::<ObjectRef<Cached<K>>>();
    ctx.register_requeue(
        K::KIND,
        Box::new(move |ns, name| {
            let _ = tx.unbounded_send(ObjectRef::new(&name).within(&ns));
        }),
    );
    let (reader, writer) = reflector::store();
    let graph_ctx = ctx.clone();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        // managedFields are the bulk of an object and nothing here reads them.
        .modify(|o| o.meta_mut().managed_fields = None)
        .map_ok(move |event| {
            on_event::<K>(&graph_ctx, &event);
            narrow(event)
        })
        .reflect(writer)
        .touched_objects();
    let config = controller::Config::default()
        .debounce(settings.debounce)
        .concurrency(settings.concurrency);
    let resync = settings.resync;
    Controller::for_stream(stream, reader)
        .reconcile_on(rx)
        .with_config(config)
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(
            move |obj, ctx| reconcile::<K>(obj, ctx, resync),
            error_policy::<K>,
            ctx,
        )
        .for_each(|res| async move {
            match res {
                Ok(_) => {}
                Err(controller::Error::ReconcilerFailed(e, obj)) => {
                    warn!(kind = K::KIND.as_str(), object = %obj, error = %e, "reconcile failed");
                }
                Err(e) => debug!(kind = K::KIND.as_str(), error = %e, "controller event"),
            }
        })
        .await;
    info!(kind = K::KIND.as_str(), "controller stopped");
}

/// The graph has what it needs of the spec; keep only what the reconciler reads.
fn narrow<K: CatalogEntity>(
    event: watcher::Event<DeserializeGuard<K>>,
) -> watcher::Event<Cached<K>> {
    match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(Cached::from_guard(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(Cached::from_guard(o)),
        watcher::Event::InitApply(o) => watcher::Event::InitApply(Cached::from_guard(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

async fn reconcile<K: CatalogEntity>(
    obj: Arc<Cached<K>>,
    ctx: Arc<Context>,
    resync: Option<Duration>,
) -> Result<Action, Error> {
    let key = key_of::<K, _>(&*obj).ok_or(Error::MissingMetadata("name or namespace"))?;
    let span = info_span!("reconcile", kind = K::KIND.as_str(), namespace = %key.namespace, name = %key.name);
    async move {
        ctx.wait_synced().await;
        // During a bulk import, wait for it to settle so the status is written once with all
        // its relations rather than again for every relation that arrives later.
        ctx.settle().await;
        ctx.mark_started(&key);
        let kind = K::KIND.as_str();
        let timer = ctx
            .metrics
            .reconcile_duration
            .with_label_values(&[kind])
            .start_timer();
        let view = match ctx.graph.read() {
            Ok(g) => g.view(&key),
            Err(_) => return Ok(Action::requeue(Duration::from_secs(1))),
        };
        let current = obj.status.as_ref();
        let existing = current.map(|c| c.conditions()).unwrap_or_default();
        let existing = existing.as_slice();
        let generation = obj.meta().generation;
        let desired = status::desired(&view, generation, existing, Timestamp::now());
        let write = match &obj.invalid {
            None => status::needs_write(current, &desired),
            // An object that does not deserialise shows no status to compare with; write once
            // per generation.
            Some(_) => ctx.first_invalid_visit(&key, generation),
        };
        if write {
            patch_status::<K>(&ctx, &key, &desired).await?;
            ctx.metrics.status_writes.with_label_values(&[kind]).inc();
            publish_transition::<K>(&ctx, &obj, existing, &desired).await;
        } else {
            ctx.metrics
                .status_writes_skipped
                .with_label_values(&[kind])
                .inc();
        }
        timer.observe_duration();
        ctx.metrics
            .reconciles
            .with_label_values(&[kind, "ok"])
            .inc();
        Ok(resync.map_or_else(Action::await_change, Action::requeue))
    }
    .instrument(span)
    .await
}

async fn patch_status<K: CatalogEntity>(
    ctx: &Context,
    key: &EntityRef,
    desired: &EntityStatus,
) -> Result<(), Error> {
    let api: Api<DeserializeGuard<K>> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": &*key.name },
        "status": serde_json::to_value(desired)?,
    });
    api.patch_status(
        &key.name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(Error::Patch)?;
    Ok(())
}

/// Publishes a Kubernetes Event when readiness changes (not on the first Ready=True, which
/// would add one event per entity to every bulk import).
async fn publish_transition<K: CatalogEntity>(
    ctx: &Context,
    obj: &Cached<K>,
    existing: &[Condition],
    desired: &EntityStatus,
) {
    let was = conditions::find(existing, READY).map(|c| c.status.clone());
    let Some(now) = conditions::find(&desired.conditions, READY) else {
        return;
    };
    if was.as_deref() == Some(now.status.as_str()) || (was.is_none() && now.status == TRUE) {
        return;
    }
    let event = KubeEvent {
        type_: if now.status == TRUE {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: now.reason.clone(),
        note: Some(now.message.chars().take(900).collect()),
        action: "Resolve".into(),
        secondary: None,
    };
    let reference = obj.object_ref(&());
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        debug!(error = %e, "could not publish event");
    }
}

fn error_policy<K: CatalogEntity>(obj: Arc<Cached<K>>, err: &Error, ctx: Arc<Context>) -> Action {
    let kind = K::KIND.as_str();
    ctx.metrics
        .reconciles
        .with_label_values(&[kind, "error"])
        .inc();
    ctx.metrics
        .reconcile_errors
        .with_label_values(&[kind, err.metric_label()])
        .inc();
    warn!(kind, name = %obj.name_any(), error = %err, "reconcile error; retrying");
    Action::requeue(Duration::from_secs(5))
}
