//! The scorecard controller (leader only) and the promotion gates (every replica).
//!
//! - `engine` — what the watches delivered, what needs evaluating, each entity's results and
//!   the writes they call for; pure, unit-tested.
//! - this module — the loop: watches of Scorecards and every catalog kind feed the engine;
//!   changes are debounced into batches; each Scorecard is swept every `spec.sweepInterval`;
//!   a new (clock) day re-evaluates everything and then takes the day's snapshots.
//! - `writer` — the writes, in lanes so that the writes about one object stay in order: entity
//!   results (server-side apply of `status.scorecards`, field manager `nexus-scorecards`),
//!   Scorecard status, snapshots and their retention.
//! - `gate` — the gate decision read from the cluster (any replica), the `/gate/…` endpoint
//!   for pipelines (Azure DevOps "Invoke REST API" checks, `nexus gate`), and the check the
//!   actions controller runs before a gated Action.
//! - `github` — GitHub deployment protection rules: `deployment_protection_rule` deliveries
//!   are answered through the run's callback URL, with a check run on the commit.
//! - `clock` — "now" for rules and snapshot days; injectable for tests.

pub mod clock;
pub mod engine;
pub mod gate;
pub mod github;
pub mod metrics;
pub mod writer;

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream::BoxStream};
use kube::{
    Api, Client, Resource,
    api::DynamicObject,
    runtime::{
        WatchStreamExt,
        events::{Event as KubeEvent, EventType, Recorder},
        watcher,
    },
};
use nexus_api::{EntityKind, scorecards::Scorecard};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::{
    clock::{Clock, day_of},
    engine::{Compile, Engine},
    metrics::ScorecardMetrics,
    writer::{Feedback, Write, Writer},
};

/// Field manager of everything the scorecard controller writes.
pub const MANAGER: &str = "nexus-scorecards";

/// How the scorecard controller runs (from the controller's flags).
#[derive(Clone)]
pub struct Settings {
    /// Watch only this namespace (all when None).
    pub namespace: Option<String>,
    /// Changes are collected this long before a batch evaluates them.
    pub debounce: Duration,
    /// Days of snapshots kept (today included); 0 keeps every snapshot.
    pub retention_days: u32,
    pub clock: Arc<dyn Clock>,
    /// Parallel writers (writes about one object stay in order).
    pub writers: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("namespace", &self.namespace)
            .field("debounce", &self.debounce)
            .field("retention_days", &self.retention_days)
            .field("writers", &self.writers)
            .finish_non_exhaustive()
    }
}

/// What the watches deliver.
enum Msg {
    Entity(EntityKind, Box<watcher::Event<DynamicObject>>),
    Scorecard(Box<watcher::Event<Scorecard>>),
    WatchError(&'static str, String),
}

/// Entities evaluated between two yields to the runtime (a full sweep of 100,000 entities takes
/// seconds; the watches and the writers keep running meanwhile).
const CHUNK: usize = 256;

/// Runs the scorecard controller until `shutdown` fires (leader only).
pub async fn run(
    client: Client,
    recorder: Recorder,
    metrics: ScorecardMetrics,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let (feedback_tx, mut feedback) = mpsc::unbounded_channel::<Feedback>();
    let writer = Writer::start(
        client.clone(),
        metrics.clone(),
        settings.namespace.clone(),
        settings.retention_days,
        settings.writers.max(1),
        feedback_tx,
        shutdown.clone(),
    );
    let mut events = futures::stream::select_all(watches(&client, settings.namespace.as_deref()));
    let mut engine = Engine::new(Some(metrics.clone()));
    // Entity kinds and Scorecards listed at least once: evaluation waits for all of them, so
    // no rule sees a relation missing merely because its kind was not listed yet.
    let mut listed: HashSet<Option<EntityKind>> = HashSet::new();
    let mut synced = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    info!(?settings, "scorecard controller started");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            msg = events.next() => {
                let Some(msg) = msg else { break };
                handle(&mut engine, &recorder, msg, &mut listed).await;
                if !synced && listed.len() == EntityKind::ALL.len() + 1 {
                    synced = true;
                    info!("every catalog kind and the scorecards are listed; evaluating");
                    new_day(&mut engine, &writer, settings.clock.as_ref()).await;
                }
            }
            Some(fb) = feedback.recv() => match fb {
                Feedback::EntityFailed(r) => engine.entity_write_failed(&r),
                Feedback::StatusFailed { namespace, name } => engine.status_write_failed(&namespace, &name),
                Feedback::SnapshotFailed { namespace, name } => engine.snapshot_failed(&namespace, &name),
            },
            _ = tick.tick() => {
                if synced {
                    new_day(&mut engine, &writer, settings.clock.as_ref()).await;
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                deadline = None;
                batch(&mut engine, &writer, &metrics, settings.clock.as_ref()).await;
            }
        }
        metrics.pending.set(engine.pending() as i64);
        if synced && deadline.is_none() && engine.has_work(Instant::now()) {
            deadline = Some(tokio::time::Instant::now() + settings.debounce);
        }
    }
    info!("scorecard controller stopped");
}

/// Checks the clock's day: a new day (or the first check after a start) re-evaluates every
/// scorecard and runs snapshot retention.
async fn new_day(engine: &mut Engine, writer: &Writer, clock: &dyn Clock) {
    let today = day_of(clock.now());
    if engine.set_today(&today) {
        writer.send_any(Write::Retention { today }).await;
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One watch per catalog kind (as JSON: rules read whole objects) and one of Scorecards.
fn watches(client: &Client, namespace: Option<&str>) -> Vec<BoxStream<'static, Msg>> {
    let mut streams: Vec<BoxStream<'static, Msg>> = Vec::new();
    for kind in EntityKind::ALL {
        let ar = crate::ingestion::apply::api_resource(kind);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let s = watcher(api, watcher::Config::default())
            .default_backoff()
            // managedFields are the bulk of an object and nothing here reads them.
            .modify(|o| o.meta_mut().managed_fields = None)
            .map(move |e| match e {
                Ok(e) => Msg::Entity(kind, Box::new(e)),
                Err(e) => Msg::WatchError(kind.as_str(), e.to_string()),
            })
            .boxed();
        streams.push(s);
    }
    let api: Api<Scorecard> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let s = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|o| o.meta_mut().managed_fields = None)
        .map(|e| match e {
            Ok(e) => Msg::Scorecard(Box::new(e)),
            Err(e) => Msg::WatchError("Scorecard", e.to_string()),
        })
        .boxed();
    streams.push(s);
    streams
}

async fn handle(
    engine: &mut Engine,
    recorder: &Recorder,
    msg: Msg,
    listed: &mut HashSet<Option<EntityKind>>,
) {
    match msg {
        Msg::Entity(kind, event) => match *event {
            watcher::Event::Init => engine.begin_relist(kind),
            watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                engine.apply_entity(kind, entity_json(o));
            }
            watcher::Event::Delete(o) => {
                if let (Some(ns), Some(name)) = (o.metadata.namespace, o.metadata.name) {
                    engine.delete_entity(&nexus_api::EntityRef::new(kind, ns, name));
                }
            }
            watcher::Event::InitDone => {
                engine.end_relist(kind);
                listed.insert(Some(kind));
            }
        },
        Msg::Scorecard(event) => match *event {
            watcher::Event::Init => engine.begin_relist_scorecards(),
            watcher::Event::InitApply(sc) | watcher::Event::Apply(sc) => {
                let outcome = engine.apply_scorecard(&sc, Instant::now());
                report_compile(recorder, &sc, outcome).await;
            }
            watcher::Event::Delete(sc) => {
                if let (Some(ns), Some(name)) = (&sc.metadata.namespace, &sc.metadata.name) {
                    engine.delete_scorecard(ns, name);
                }
            }
            watcher::Event::InitDone => {
                engine.end_relist_scorecards();
                listed.insert(None);
            }
        },
        Msg::WatchError(kind, e) => {
            warn!(kind, error = %e, "scorecard watch failed; retrying");
        }
    }
}

/// A watched object as the JSON rules see (`DynamicObject` keeps apiVersion and kind apart).
fn entity_json(o: DynamicObject) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or_default()
}

async fn report_compile(recorder: &Recorder, sc: &Scorecard, outcome: Compile) {
    let name = format!(
        "{}/{}",
        sc.metadata.namespace.as_deref().unwrap_or_default(),
        sc.metadata.name.as_deref().unwrap_or_default()
    );
    match outcome {
        Compile::Unchanged => {}
        Compile::Compiled => {
            info!(scorecard = %name, generation = ?sc.metadata.generation, "scorecard compiled");
        }
        Compile::Failed(errors) => {
            warn!(scorecard = %name, generation = ?sc.metadata.generation, errors = %errors.join("; "), "scorecard does not compile; not evaluated");
            let event = KubeEvent {
                type_: EventType::Warning,
                reason: "CompileFailed".into(),
                note: Some(errors.join("; ").chars().take(900).collect()),
                action: "Compile".into(),
                secondary: None,
            };
            if let Err(e) = recorder.publish(&event, &sc.object_ref(&())).await {
                debug!(error = %e, "could not publish event");
            }
        }
    }
}

/// One evaluation batch: every dirty entity against its scorecards, then the statuses and the
/// snapshots that became due.
async fn batch(
    engine: &mut Engine,
    writer: &Writer,
    metrics: &ScorecardMetrics,
    clock: &dyn Clock,
) {
    let timer = metrics.batch_duration.start_timer();
    let now = clock.now();
    let items = engine.plan(Instant::now());
    let count = items.len();
    for (i, (entity, which)) in items.into_iter().enumerate() {
        if let Some(w) = engine.evaluate(&entity, &which, now) {
            writer.send(Write::Entity(w)).await;
        }
        if i % CHUNK == CHUNK - 1 {
            tokio::task::yield_now().await;
        }
    }
    for s in engine.finish_batch(now) {
        writer.send(Write::Status(s)).await;
    }
    for s in engine.snapshots_due() {
        writer.send(Write::Snapshot(s)).await;
    }
    timer.observe_duration();
    debug!(entities = count, "scorecard batch done");
}
