//! The DORA controller: keeps every Component's `status.dora` (the four keys in bounded daily
//! buckets) current from the deployments recorded on it and on Environments, its
//! Repository's pushes (commit times for lead time), the runs of Pipelines that deploy it to
//! production, and the Incidents affecting it.
//!
//! - `world` — what it keeps of the catalog, and the events derived from it (pure);
//! - `engine` — the incremental buckets of `nexus-dora`, restored from the stored statuses,
//!   fed only what is new, and which statuses to write (pure);
//! - this module — the watches, the batching loop, the writes (server-side apply, field
//!   manager [`MANAGER`], only on change), Events and metrics.
//!
//! One state for all services, because an incident affecting two services is attributed to
//! one deployment of either: the loop below is the only owner of it. Runs on the leader.

pub mod engine;
#[cfg(test)]
mod tests;
pub mod world;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    fmt::Debug,
    time::Duration,
};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Api, Client, Resource,
    api::{Patch, PatchParams},
    core::DeserializeGuard,
    runtime::{
        WatchStreamExt,
        events::{Event as KubeEvent, EventType, Recorder},
        watcher,
    },
};
use nexus_api::{
    EntityKind, EntityRef,
    catalog::{Component, Environment, Incident, Pipeline, Repository, User},
    dora::{DoraRecomputeOutcome, DoraStatus},
};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::{
    engine::{Engine, Write},
    world::World,
};

/// Field manager of `status.dora`.
pub const MANAGER: &str = "nexus-dora";

/// Status writes in flight at once.
const PARALLEL_WRITES: usize = 8;
/// Wait before writing again after a failed write.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How the DORA controller runs (from the controller's flags).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch only this namespace (all when None).
    pub namespace: Option<String>,
    /// Changes arriving within this time are handled together (one pass, one write per
    /// service).
    pub debounce: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("status patch of {component} failed: {source}")]
    Patch {
        component: EntityRef,
        #[source]
        source: kube::Error,
    },
    #[error("cannot serialise the status of {component}: {source}")]
    Serialize {
        component: EntityRef,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Patch { .. } => "patch",
            Error::Serialize { .. } => "serialize",
        }
    }
}

/// DORA controller metrics, registered in the controller's registry.
#[derive(Clone, Debug)]
pub struct DoraMetrics {
    /// Events by kind (deployment, incident) and what the engine did with them.
    pub events: IntCounterVec,
    /// Status writes by result (ok, error).
    pub writes: IntCounterVec,
    pub pass_duration: Histogram,
    /// Services whose status is kept.
    pub services: IntGauge,
    /// Components whose stored status cannot be read back (left alone).
    pub unreadable: IntGauge,
    pub recomputes: IntCounterVec,
}

impl DoraMetrics {
    #[allow(clippy::expect_used)] // static metric definitions
    pub fn new(registry: &Registry) -> Self {
        let events = IntCounterVec::new(
            Opts::new(
                "nexus_dora_events_total",
                "Deployments and incidents fed to the DORA buckets, by kind and result (counted, duplicate, not_production, too_late, known, …)",
            ),
            &["kind", "result"],
        )
        .expect("metric");
        let writes = IntCounterVec::new(
            Opts::new(
                "nexus_dora_status_writes_total",
                "status.dora patches, by result (ok, error: retried, rejected: refused by the apiserver)",
            ),
            &["result"],
        )
        .expect("metric");
        let pass_duration = Histogram::with_opts(
            HistogramOpts::new(
                "nexus_dora_pass_duration_seconds",
                "One pass over the changed objects (feed, collect), without the writes",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )
        .expect("metric");
        let services = IntGauge::new(
            "nexus_dora_services",
            "Components whose status.dora the controller keeps",
        )
        .expect("metric");
        let unreadable = IntGauge::new(
            "nexus_dora_unreadable_statuses",
            "Components whose stored status.dora cannot be read back; they are not written",
        )
        .expect("metric");
        let recomputes = IntCounterVec::new(
            Opts::new(
                "nexus_dora_recomputes_total",
                "Recompute requests (annotation dora.nexus.dev/recompute), by outcome",
            ),
            &["outcome"],
        )
        .expect("metric");
        for c in [
            Box::new(events.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(writes.clone()),
            Box::new(pass_duration.clone()),
            Box::new(services.clone()),
            Box::new(unreadable.clone()),
            Box::new(recomputes.clone()),
        ] {
            // Registered once per process; a second DORA controller in tests shares nothing.
            let _ = registry.register(c);
        }
        Self {
            events,
            writes,
            pass_duration,
            services,
            unreadable,
            recomputes,
        }
    }
}

/// One watch event, of one of the watched kinds.
enum Change<K> {
    /// A relist begins: objects not listed again until `Listed` are gone.
    Relist,
    Apply(K),
    Delete(EntityRef),
    Listed,
    /// An object that does not deserialise: what was kept of it stays.
    Invalid(EntityRef, String),
}

enum Msg {
    Component(Change<Component>),
    Repository(Change<Repository>),
    Environment(Change<Environment>),
    Pipeline(Change<Pipeline>),
    User(Change<User>),
    Incident(Change<Incident>),
}

const WATCHED: [EntityKind; 6] = [
    EntityKind::Component,
    EntityKind::Repository,
    EntityKind::Environment,
    EntityKind::Pipeline,
    EntityKind::User,
    EntityKind::Incident,
];

fn key_of<K: Resource>(kind: EntityKind, obj: &K) -> Option<EntityRef> {
    let m = obj.meta();
    Some(EntityRef::new(
        kind,
        m.namespace.clone().unwrap_or_else(|| "default".into()),
        m.name.clone()?,
    ))
}

fn spawn_watch<K>(
    client: Client,
    namespace: Option<String>,
    kind: EntityKind,
    tx: mpsc::UnboundedSender<Msg>,
    wrap: fn(Change<K>) -> Msg,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    tokio::spawn(async move {
        let api: Api<DeserializeGuard<K>> = match &namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        };
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            // managedFields are the bulk of an object and nothing here reads them.
            .modify(|o| o.meta_mut().managed_fields = None);
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                e = stream.next() => e,
            };
            let change = match event {
                None => return,
                Some(Err(e)) => {
                    debug!(kind = kind.as_str(), error = %e, "DORA watch error; backing off");
                    continue;
                }
                Some(Ok(watcher::Event::Init)) => Change::Relist,
                Some(Ok(watcher::Event::InitDone)) => Change::Listed,
                Some(Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o))) => {
                    let Some(key) = key_of(kind, &o) else {
                        continue;
                    };
                    match o.0 {
                        Ok(obj) => Change::Apply(obj),
                        Err(e) => Change::Invalid(key, e.error),
                    }
                }
                Some(Ok(watcher::Event::Delete(o))) => {
                    let Some(key) = key_of(kind, &o) else {
                        continue;
                    };
                    Change::Delete(key)
                }
            };
            if tx.send(wrap(change)).is_err() {
                return;
            }
        }
    })
}

/// The loop's state besides the engine.
struct Loop {
    client: Client,
    recorder: Recorder,
    metrics: DoraMetrics,
    world: World,
    engine: Option<Engine>,
    /// Kinds listed at least once (the engine is built once every kind is).
    listed: HashSet<EntityKind>,
    relisting: HashMap<EntityKind, HashSet<EntityRef>>,
    dirty_components: BTreeSet<EntityRef>,
    dirty_incidents: BTreeSet<EntityRef>,
    /// Components whose stored `status.dora` differs from what was written (someone else
    /// changed it, or an older watch event): written again.
    rewrite: BTreeSet<EntityRef>,
    /// Recompute requests: Component → annotation value.
    recompute: BTreeMap<EntityRef, String>,
    /// Writes that failed, retried with the current status.
    retry: BTreeSet<EntityRef>,
    /// When deployments waiting for their push are due.
    next_due: Option<tokio::time::Instant>,
}

/// Runs the DORA controller until `shutdown` (leader only).
pub async fn run(
    client: Client,
    recorder: Recorder,
    registry: &Registry,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ns = settings.namespace.clone();
    let watches = vec![
        spawn_watch::<Component>(
            client.clone(),
            ns.clone(),
            EntityKind::Component,
            tx.clone(),
            Msg::Component,
            shutdown.clone(),
        ),
        spawn_watch::<Repository>(
            client.clone(),
            ns.clone(),
            EntityKind::Repository,
            tx.clone(),
            Msg::Repository,
            shutdown.clone(),
        ),
        spawn_watch::<Environment>(
            client.clone(),
            ns.clone(),
            EntityKind::Environment,
            tx.clone(),
            Msg::Environment,
            shutdown.clone(),
        ),
        spawn_watch::<Pipeline>(
            client.clone(),
            ns.clone(),
            EntityKind::Pipeline,
            tx.clone(),
            Msg::Pipeline,
            shutdown.clone(),
        ),
        spawn_watch::<User>(
            client.clone(),
            ns.clone(),
            EntityKind::User,
            tx.clone(),
            Msg::User,
            shutdown.clone(),
        ),
        spawn_watch::<Incident>(
            client.clone(),
            ns.clone(),
            EntityKind::Incident,
            tx.clone(),
            Msg::Incident,
            shutdown.clone(),
        ),
    ];
    drop(tx);
    let mut state = Loop {
        client,
        recorder,
        metrics: DoraMetrics::new(registry),
        world: World::default(),
        engine: None,
        listed: HashSet::new(),
        relisting: HashMap::new(),
        dirty_components: BTreeSet::new(),
        dirty_incidents: BTreeSet::new(),
        rewrite: BTreeSet::new(),
        recompute: BTreeMap::new(),
        retry: BTreeSet::new(),
        next_due: None,
    };
    info!("DORA controller started");
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let tick = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                state.handle(msg);
                if state.pending() {
                    // The earlier of a pending look-again and the end of this batch.
                    let end = tokio::time::Instant::now() + settings.debounce;
                    deadline = Some(deadline.map_or(end, |d| d.min(end)));
                }
            }
            () = tick => {
                deadline = None;
                state.pass().await;
                if !state.retry.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + RETRY_AFTER);
                } else if state.pending() {
                    deadline = Some(tokio::time::Instant::now() + settings.debounce);
                }
                if let Some(due) = state.next_due {
                    deadline = Some(deadline.map_or(due, |d| d.min(due)));
                }
            }
        }
    }
    for w in watches {
        w.abort();
    }
    info!("DORA controller stopped");
}

impl Loop {
    fn synced(&self) -> bool {
        WATCHED.iter().all(|k| self.listed.contains(k))
    }

    /// Whether a pass has work.
    fn pending(&self) -> bool {
        self.synced()
            && (self.engine.is_none()
                || !self.dirty_components.is_empty()
                || !self.dirty_incidents.is_empty()
                || !self.rewrite.is_empty()
                || !self.recompute.is_empty()
                || !self.retry.is_empty())
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Component(c) => self.on_change(EntityKind::Component, c, |s, c| {
                if let Some(key) = s.world.upsert_component(&c) {
                    s.component_seen(&key);
                    s.dirty_components.insert(key.clone());
                    Some(key)
                } else {
                    None
                }
            }),
            Msg::Repository(c) => self.on_change(EntityKind::Repository, c, |s, r| {
                let affected = s.world.upsert_repository(&r);
                s.dirty_components.extend(affected);
                key_of(EntityKind::Repository, &r)
            }),
            Msg::Environment(c) => self.on_change(EntityKind::Environment, c, |s, e| {
                let affected = s.world.upsert_environment(&e);
                s.dirty_components.extend(affected);
                key_of(EntityKind::Environment, &e)
            }),
            Msg::Pipeline(c) => self.on_change(EntityKind::Pipeline, c, |s, p| {
                let affected = s.world.upsert_pipeline(&p);
                s.dirty_components.extend(affected);
                key_of(EntityKind::Pipeline, &p)
            }),
            Msg::User(c) => self.on_change(EntityKind::User, c, |s, u| {
                s.world.upsert_user(&u);
                key_of(EntityKind::User, &u)
            }),
            Msg::Incident(c) => self.on_change(EntityKind::Incident, c, |s, i| {
                let key = s.world.upsert_incident(&i)?;
                s.dirty_incidents.insert(key.clone());
                Some(key)
            }),
        }
    }

    fn on_change<K>(
        &mut self,
        kind: EntityKind,
        change: Change<K>,
        apply: impl FnOnce(&mut Self, K) -> Option<EntityRef>,
    ) {
        match change {
            Change::Relist => {
                self.relisting.insert(kind, HashSet::new());
            }
            Change::Apply(obj) => {
                if let Some(key) = apply(self, obj)
                    && let Some(seen) = self.relisting.get_mut(&kind)
                {
                    seen.insert(key);
                }
            }
            Change::Invalid(key, error) => {
                warn!(object = %key, %error, "object does not deserialise; DORA keeps what it knew of it");
                if let Some(seen) = self.relisting.get_mut(&kind) {
                    seen.insert(key);
                }
            }
            Change::Delete(key) => self.remove(&key),
            Change::Listed => {
                if let Some(seen) = self.relisting.remove(&kind) {
                    for key in self.keys_of(kind) {
                        if !seen.contains(&key) {
                            self.remove(&key);
                        }
                    }
                }
                if self.listed.insert(kind) && self.synced() {
                    info!("every kind DORA needs is listed");
                }
            }
        }
    }

    fn keys_of(&self, kind: EntityKind) -> Vec<EntityRef> {
        let w = &self.world;
        match kind {
            EntityKind::Component => w.components.keys().cloned().collect(),
            EntityKind::Repository => w.repositories.keys().cloned().collect(),
            EntityKind::Environment => w.environments.keys().cloned().collect(),
            EntityKind::Pipeline => w.pipelines.keys().cloned().collect(),
            EntityKind::User => w.user_keys(),
            EntityKind::Incident => w.incidents.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn remove(&mut self, key: &EntityRef) {
        match key.kind {
            EntityKind::Component => {
                self.world.remove_component(key);
                self.dirty_components.remove(key);
                self.rewrite.remove(key);
                self.recompute.remove(key);
                self.retry.remove(key);
            }
            EntityKind::Repository => {
                let affected = self.world.remove_repository(key);
                self.dirty_components.extend(affected);
            }
            EntityKind::Environment => {
                let affected = self.world.remove_environment(key);
                self.dirty_components.extend(affected);
            }
            EntityKind::Pipeline => {
                let affected = self.world.remove_pipeline(key);
                self.dirty_components.extend(affected);
            }
            EntityKind::User => self.world.remove_user(key),
            EntityKind::Incident => {
                self.world.incidents.remove(key);
                self.dirty_incidents.insert(key.clone());
            }
            _ => {}
        }
    }

    /// After a Component changed: a new recompute request, or a stored status that is not
    /// the one written.
    fn component_seen(&mut self, key: &EntityRef) {
        let Some(engine) = &self.engine else { return };
        let Some(facts) = self.world.components.get(key) else {
            return;
        };
        let written = engine.written(key);
        if let Some(request) = &facts.recompute {
            let handled = written
                .and_then(|w| w.recompute.as_ref())
                .is_some_and(|r| &r.requested == request);
            if handled {
                self.recompute.remove(key);
            } else {
                self.recompute.insert(key.clone(), request.clone());
            }
        }
        if let Some(written) = written
            && facts.stored.as_ref() != Some(written)
        {
            self.rewrite.insert(key.clone());
        }
    }

    async fn pass(&mut self) {
        if !self.synced() {
            return;
        }
        let timer = self.metrics.pass_duration.start_timer();
        let rebuild = match &self.engine {
            None => true,
            Some(e) => e.matcher_changed(&self.world),
        };
        if rebuild {
            let (engine, unreadable) = Engine::build(&self.world, self.engine.as_ref());
            info!(
                services = engine.services(),
                unreadable = unreadable.len(),
                "DORA state restored from the stored statuses"
            );
            self.metrics.unreadable.set(unreadable.len() as i64);
            for u in &unreadable {
                warn!(component = %u.component, reason = %u.reason, "status.dora cannot be read back; it is left as it is and not updated");
                self.publish(
                    &u.component,
                    EventType::Warning,
                    "DoraStatusUnreadable",
                    format!(
                        "status.dora cannot be read back ({}); Nexus leaves it as it is and does not update it. Remove status.dora (kubectl patch --subresource=status) to start this service afresh.",
                        u.reason
                    ),
                )
                .await;
            }
            self.engine = Some(engine);
            self.dirty_components
                .extend(self.world.components.keys().cloned());
            self.dirty_incidents
                .extend(self.world.incidents.keys().cloned());
            let keys: Vec<EntityRef> = self.world.components.keys().cloned().collect();
            for key in keys {
                self.component_seen(&key);
            }
        }
        // Whole seconds, as status timestamps are stored: what is written then reads back equal
        // to what the engine remembers, so the watch event of a write is not taken for a change.
        let now = Timestamp::now();
        let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let mut notes = Vec::new();
        for (key, request) in std::mem::take(&mut self.recompute) {
            if engine.is_unreadable(&key) {
                continue;
            }
            let record = engine.recompute(&self.world, &key, &request, now);
            let outcome = match record.outcome {
                DoraRecomputeOutcome::Recomputed => "recomputed",
                DoraRecomputeOutcome::Rejected => "rejected",
            };
            self.metrics.recomputes.with_label_values(&[outcome]).inc();
            info!(component = %key, request, outcome, message = %record.message, "DORA recompute");
            notes.push((key, record));
        }
        self.dirty_components.extend(engine.due(now));
        for key in std::mem::take(&mut self.dirty_components) {
            engine.feed_component(&self.world, &key, now);
        }
        // Deployments waiting for their push: look again when the first one is due.
        self.next_due = engine.next_due().map(|at| {
            let wait = at.duration_since(now).unsigned_abs();
            tokio::time::Instant::now() + wait.min(Duration::from_secs(600))
        });
        for key in std::mem::take(&mut self.dirty_incidents) {
            engine.feed_incident(&self.world, &key);
        }
        let mut writes = engine.collect(&self.world, now);
        for key in std::mem::take(&mut self.rewrite)
            .into_iter()
            .chain(std::mem::take(&mut self.retry))
        {
            if !writes.iter().any(|w| w.component == key)
                && self.world.components.contains_key(&key)
                && let Some(status) = engine.written(&key)
            {
                writes.push(Write {
                    component: key,
                    status: status.clone(),
                });
            }
        }
        for ((kind, result), n) in engine.take_counts() {
            self.metrics
                .events
                .with_label_values(&[kind, result])
                .inc_by(n);
        }
        self.metrics.services.set(engine.services() as i64);
        timer.observe_duration();

        let client = self.client.clone();
        let results: Vec<(EntityRef, Result<(), Error>)> = futures::stream::iter(writes)
            .map(|w| {
                let client = client.clone();
                async move {
                    let r = write_status(&client, &w.component, &w.status).await;
                    (w.component, r)
                }
            })
            .buffer_unordered(PARALLEL_WRITES)
            .collect()
            .await;
        for (key, result) in results {
            match result {
                Ok(()) => self.metrics.writes.with_label_values(&["ok"]).inc(),
                // Deleted meanwhile: nothing to write to.
                Err(Error::Patch {
                    source: kube::Error::Api(e),
                    ..
                }) if e.code == 404 => {}
                // The apiserver refuses this status (schema, size): writing it again would be
                // refused again. The next change of the service writes anew.
                Err(Error::Patch {
                    source: kube::Error::Api(e),
                    ..
                }) if e.code == 400 || e.code == 422 => {
                    self.metrics.writes.with_label_values(&["rejected"]).inc();
                    warn!(component = %key, reason = %e.message, "the apiserver rejected status.dora; not retried");
                    self.publish(
                        &key,
                        EventType::Warning,
                        "DoraStatusRejected",
                        format!("status.dora was rejected by the apiserver: {}", e.message),
                    )
                    .await;
                }
                Err(e) => {
                    self.metrics.writes.with_label_values(&["error"]).inc();
                    warn!(error = %e, kind = e.metric_label(), "DORA status write failed; retrying");
                    self.retry.insert(key);
                }
            }
        }
        for (key, record) in notes {
            let type_ = match record.outcome {
                DoraRecomputeOutcome::Recomputed => EventType::Normal,
                DoraRecomputeOutcome::Rejected => EventType::Warning,
            };
            let reason = match record.outcome {
                DoraRecomputeOutcome::Recomputed => "DoraRecomputed",
                DoraRecomputeOutcome::Rejected => "DoraRecomputeRejected",
            };
            self.publish(&key, type_, reason, record.message).await;
        }
    }

    async fn publish(&self, key: &EntityRef, type_: EventType, reason: &str, note: String) {
        let reference = ObjectReference {
            api_version: Some(Component::api_version(&()).to_string()),
            kind: Some(Component::kind(&()).to_string()),
            namespace: Some(key.namespace.to_string()),
            name: Some(key.name.to_string()),
            ..Default::default()
        };
        let event = KubeEvent {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(900).collect()),
            action: "ComputeDora".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            debug!(error = %e, "could not publish event");
        }
    }
}

/// Server-side apply of `status.dora` alone, under [`MANAGER`]: the catalog controller's and
/// ingestion's fields are theirs.
async fn write_status(client: &Client, key: &EntityRef, status: &DoraStatus) -> Result<(), Error> {
    let api: Api<DeserializeGuard<Component>> = Api::namespaced(client.clone(), &key.namespace);
    let dora = serde_json::to_value(status).map_err(|source| Error::Serialize {
        component: key.clone(),
        source,
    })?;
    let body = json!({
        "apiVersion": Component::api_version(&()),
        "kind": Component::kind(&()),
        "metadata": {"name": &*key.name},
        "status": {"dora": dora},
    });
    api.patch_status(
        &key.name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(|source| Error::Patch {
        component: key.clone(),
        source,
    })?;
    Ok(())
}
