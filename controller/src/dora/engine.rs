//! The DORA state of every service and what it takes to keep the stored statuses equal to it:
//! the incremental buckets of `nexus-dora`, restored from the statuses (nothing is recomputed
//! from scratch unless asked), fed only the events that are new to this process, and the
//! statuses to write — only those that changed. No I/O: the runner in `mod.rs` watches and
//! writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::{Timestamp, civil::Date};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::{
    EntityRef,
    dora::{DoraRecompute, DoraRecomputeOutcome, DoraStatus},
};
use nexus_dora::{Applied, Buckets, ConvertError, Deployment, Event, Incident, Skip, utc_date};

use super::world::{World, service};

/// How long a successful deployment whose commit is in no push of its repository waits for the
/// push before it is counted without a lead time: push and deployment events arrive in either
/// order (webhooks, polls), and a deployment is counted once.
pub const PUSH_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// What distinguishes one version of a deployment record from another, for "is this new?".
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    environment: String,
    status: String,
    finished: i64,
}

impl Fingerprint {
    fn of(d: &Deployment) -> Self {
        Self {
            environment: d.environment.clone(),
            status: d.status.clone(),
            finished: d.finished_at.as_second(),
        }
    }

    /// A record that could not be converted: remembered so it is reported once.
    fn invalid() -> Self {
        Self {
            environment: String::new(),
            status: "<invalid>".into(),
            finished: i64::MIN,
        }
    }
}

/// Why a stored status is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub component: EntityRef,
    pub reason: String,
}

/// A status to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub component: EntityRef,
    pub status: DoraStatus,
}

pub struct Engine {
    buckets: Buckets,
    /// The production names the buckets' matcher was built with (from the prod Environments).
    prod_names: Vec<String>,
    /// What is stored (or being stored) per service.
    written: BTreeMap<String, DoraStatus>,
    /// Services whose stored status cannot be read back: never written, so nothing stored is
    /// lost; reported instead.
    unreadable: BTreeMap<String, String>,
    /// Per service, the version of each listed deployment already fed.
    seen_deployments: HashMap<String, HashMap<String, Fingerprint>>,
    /// The version of each incident already fed.
    seen_incidents: HashMap<String, Incident>,
    /// Services fed at least once since the buckets were built.
    fed: HashSet<String>,
    /// Incidents held in the restored ledgers.
    restored_incidents: HashSet<String>,
    /// Services to write even when their buckets did not change (a recompute was recorded).
    force: BTreeSet<String>,
    /// Components holding deployments that wait for their push, and when to look again.
    waiting: BTreeMap<EntityRef, Timestamp>,
    /// Events by kind and result since the last [`Engine::take_counts`].
    counts: BTreeMap<(&'static str, &'static str), u64>,
}

impl Engine {
    /// Builds the state from the stored statuses: `previous`'s view of what is stored when
    /// given (a rebuild after the production Environments changed), else the Components'
    /// `status.dora`. A status that does not read back is left alone and reported. Incidents
    /// of the restored ledgers that no longer exist are withdrawn.
    pub fn build(world: &World, previous: Option<&Engine>) -> (Engine, Vec<Unreadable>) {
        let config = world.config();
        let mut valid: Vec<(String, DoraStatus)> = Vec::new();
        let mut unreadable = Vec::new();
        for (key, c) in &world.components {
            let s = service(key);
            let stored = match previous {
                Some(p) => p.written.get(&s).or(c.stored.as_ref()),
                None => c.stored.as_ref(),
            };
            let Some(stored) = stored else { continue };
            // Restore one at a time, so one bad status does not stop the others.
            match Buckets::restore(config.clone(), [(s.clone(), stored.clone())]) {
                Ok(_) => valid.push((s, stored.clone())),
                Err(e) => unreadable.push(Unreadable {
                    component: key.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        let restored_incidents: HashSet<String> = valid
            .iter()
            .flat_map(|(_, st)| st.incidents.iter().map(|i| i.id.clone()))
            .collect();
        let buckets = match Buckets::restore(config.clone(), valid.clone()) {
            Ok(b) => b,
            // Each status restored alone above; together they cannot fail. Should they, the
            // empty state writes nothing over them (every service is marked unreadable).
            Err(e) => {
                unreadable.extend(valid.drain(..).filter_map(|(s, _)| {
                    Some(Unreadable {
                        component: s.parse().ok()?,
                        reason: e.to_string(),
                    })
                }));
                Buckets::new(config)
            }
        };
        let mut engine = Engine {
            buckets,
            prod_names: world.prod_names(),
            written: valid.into_iter().collect(),
            unreadable: unreadable
                .iter()
                .map(|u| (service(&u.component), u.reason.clone()))
                .collect(),
            seen_deployments: HashMap::new(),
            seen_incidents: HashMap::new(),
            fed: HashSet::new(),
            restored_incidents,
            force: BTreeSet::new(),
            waiting: BTreeMap::new(),
            counts: BTreeMap::new(),
        };
        let present: HashSet<String> = world
            .incidents
            .keys()
            .map(|k| format!("{}/{}", k.namespace, k.name))
            .collect();
        let gone: Vec<String> = engine
            .restored_incidents
            .iter()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            engine.withdraw(&id);
        }
        (engine, unreadable)
    }

    /// Whether the production Environments changed since the buckets were built (then they
    /// must be rebuilt with the new matcher).
    pub fn matcher_changed(&self, world: &World) -> bool {
        self.prod_names != world.prod_names()
    }

    pub fn is_unreadable(&self, component: &EntityRef) -> bool {
        self.unreadable.contains_key(&service(component))
    }

    /// What is stored (or being stored) for a Component.
    pub fn written(&self, component: &EntityRef) -> Option<&DoraStatus> {
        self.written.get(&service(component))
    }

    pub fn services(&self) -> usize {
        self.written.len()
    }

    pub fn take_counts(&mut self) -> BTreeMap<(&'static str, &'static str), u64> {
        std::mem::take(&mut self.counts)
    }

    fn count(&mut self, kind: &'static str, result: &'static str) {
        *self.counts.entry((kind, result)).or_default() += 1;
    }

    fn count_applied(&mut self, kind: &'static str, applied: Applied) {
        let result = match applied {
            Applied::Counted => "counted",
            Applied::Updated => "updated",
            Applied::Unchanged => "unchanged",
            Applied::Duplicate => "duplicate",
            Applied::Withdrawn => "withdrawn",
            Applied::Ignored(Skip::NotProduction) => "not_production",
            Applied::Ignored(Skip::NotSuccessful) => "not_successful",
            Applied::Ignored(Skip::MissingId) => "missing_id",
            Applied::Ignored(Skip::NoService) => "no_service",
            Applied::Ignored(Skip::TooLate) => "too_late",
        };
        self.count(kind, result);
    }

    /// Whether an event of a service at `t` falls at or before what its stored status can
    /// still take (its horizon, or a frozen day).
    fn too_late(&self, service: &str, t: Timestamp) -> bool {
        let Some(st) = self.written.get(service) else {
            return false;
        };
        st.horizon
            .as_ref()
            .is_some_and(|h| t.as_second() <= h.0.as_second())
            || st
                .frozen_before
                .as_deref()
                .and_then(|f| f.parse::<Date>().ok())
                .is_some_and(|f| utc_date(t) < f)
    }

    /// Feeds the deployments of a Component that are new to this process. The first time a
    /// service is fed after the buckets were built, a deployment its stored status can no
    /// longer take was already handled before (it is what moved the horizon) and is skipped
    /// quietly; after that, such a deployment is new and late, and the status counts it in
    /// `ignoredLate`.
    ///
    /// A successful production deployment whose commit is in no push of the linked Repository
    /// waits up to [`PUSH_GRACE`] after it finished for the push (see [`Engine::due`]).
    pub fn feed_component(&mut self, world: &World, key: &EntityRef, now: Timestamp) {
        let service = service(key);
        self.waiting.remove(key);
        if self.unreadable.contains_key(&service) || !world.components.contains_key(key) {
            return;
        }
        let unpushed = world.unpushed(key);
        let config = self.buckets.config().clone();
        let first = self.fed.insert(service.clone());
        let mut seen = self.seen_deployments.remove(&service).unwrap_or_default();
        let mut listed: HashMap<String, Fingerprint> = HashMap::new();
        for converted in world.deployments(key, &config) {
            let d = match converted {
                Ok(d) => d,
                Err(ConvertError::MissingFinishTime { id }) => {
                    if seen.get(&id) != Some(&Fingerprint::invalid()) {
                        tracing::warn!(component = %key, deployment = %id, "deployment record has neither updatedAt nor createdAt; not counted");
                        self.count("deployment", "invalid");
                    }
                    listed.insert(id, Fingerprint::invalid());
                    continue;
                }
                // A pipeline run still running: it counts once it finishes.
                Err(_) => continue,
            };
            let fingerprint = Fingerprint::of(&d);
            let new = seen.remove(&d.id).as_ref() != Some(&fingerprint);
            listed.insert(d.id.clone(), fingerprint);
            if !new {
                continue;
            }
            if first && config.classify(&d).is_ok() && self.too_late(&service, d.finished_at) {
                self.count("deployment", "known");
                continue;
            }
            let until = d
                .finished_at
                .checked_add(PUSH_GRACE)
                .unwrap_or(d.finished_at);
            if unpushed.contains(&d.id) && config.classify(&d).is_ok() && now < until {
                // Not remembered as fed: the next look (at `until` at the latest) feeds it.
                listed.remove(&d.id);
                let at = self.waiting.entry(key.clone()).or_insert(until);
                *at = (*at).min(until);
                self.count("deployment", "waiting_for_push");
                continue;
            }
            let applied = self.buckets.apply(&Event::Deployment(d));
            self.count_applied("deployment", applied);
        }
        // Ids no longer listed are forgotten: the lists are bounded, so this memory is too.
        self.seen_deployments.insert(service, listed);
    }

    /// Feeds an Incident's current version (or its withdrawal, once deleted) when it changed.
    pub fn feed_incident(&mut self, world: &World, key: &EntityRef) {
        let id = format!("{}/{}", key.namespace, key.name);
        match world.incident(key) {
            None => self.withdraw(&id),
            Some(Err(e)) => {
                tracing::warn!(incident = %key, error = %e, "incident not counted");
                self.count("incident", "invalid");
            }
            Some(Ok(incident)) => {
                let previous = self.seen_incidents.get(&id);
                if previous == Some(&incident) {
                    return;
                }
                let first = previous.is_none() && !self.restored_incidents.contains(&id);
                if first
                    && incident
                        .services
                        .iter()
                        .any(|s| self.too_late(s, incident.created_at))
                {
                    // Handled before the buckets were built (its ledger entry has been dropped)
                    // or too old to attribute: either way nothing to count again.
                    self.count("incident", "known");
                } else {
                    let applied = self.buckets.apply(&Event::Incident(incident.clone()));
                    self.count_applied("incident", applied);
                }
                self.seen_incidents.insert(id, incident);
            }
        }
    }

    /// Components whose deployments waited for their push and are due at `now` (forgotten
    /// here: feeding them again decides anew).
    pub fn due(&mut self, now: Timestamp) -> Vec<EntityRef> {
        let due: Vec<EntityRef> = self
            .waiting
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            self.waiting.remove(k);
        }
        due
    }

    /// When the next component waiting for a push is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.waiting.values().min().copied()
    }

    fn withdraw(&mut self, id: &str) {
        let known = self.seen_incidents.remove(id).is_some() | self.restored_incidents.remove(id);
        if !known {
            return;
        }
        let withdrawal = Incident {
            id: id.to_string(),
            services: Vec::new(),
            team: None,
            created_at: Timestamp::UNIX_EPOCH,
            resolved_at: None,
            caused_by: None,
        };
        let applied = self.buckets.apply(&Event::Incident(withdrawal));
        self.count_applied("incident", applied);
    }

    /// The statuses that changed since the last call and differ from what is stored, stamped
    /// `updatedAt = now`. Only services that exist as Components are written.
    pub fn collect(&mut self, world: &World, now: Timestamp) -> Vec<Write> {
        let forced = std::mem::take(&mut self.force);
        let mut services = self.buckets.take_changed();
        services.extend(forced.iter().cloned());
        let mut out = Vec::new();
        for s in services {
            let Ok(component) = s.parse::<EntityRef>() else {
                continue;
            };
            if !world.components.contains_key(&component) || self.unreadable.contains_key(&s) {
                continue;
            }
            let previous = self.written.get(&s);
            let recompute = previous.and_then(|p| p.recompute.clone());
            let Some(mut status) = self.buckets.status(&s, None).or_else(|| {
                // A recompute recorded on a service without events yet.
                recompute.as_ref().map(|_| DoraStatus::default())
            }) else {
                continue;
            };
            status.recompute = recompute;
            if !forced.contains(&s) && previous.is_some_and(|p| same_content(p, &status)) {
                continue;
            }
            status.updated_at = Some(Time(now));
            self.written.insert(s, status.clone());
            out.push(Write { component, status });
        }
        out
    }

    /// Recomputes every service from `request` (a `YYYY-MM-DD` date) on, from the events the
    /// catalog still lists, keeping the days before it. Refused when the date is not a date,
    /// lies in the future, or is earlier than the oldest day some bounded source list still
    /// covers completely (recomputing those days would lose deployments that only the stored
    /// buckets remember). The outcome is recorded on the requesting Component.
    pub fn recompute(
        &mut self,
        world: &World,
        component: &EntityRef,
        request: &str,
        now: Timestamp,
    ) -> DoraRecompute {
        let outcome = self.try_recompute(world, request, utc_date(now));
        let (outcome, message) = match outcome {
            Ok(message) => (DoraRecomputeOutcome::Recomputed, message),
            Err(message) => (DoraRecomputeOutcome::Rejected, message),
        };
        let record = DoraRecompute {
            requested: request.chars().take(64).collect(),
            outcome,
            message: message.chars().take(1024).collect(),
            at: Time(now),
        };
        let s = service(component);
        self.written.entry(s.clone()).or_default().recompute = Some(record.clone());
        self.force.insert(s);
        record
    }

    fn try_recompute(
        &mut self,
        world: &World,
        request: &str,
        today: Date,
    ) -> Result<String, String> {
        let from: Date = request
            .trim()
            .parse()
            .map_err(|e| format!("{request:?} is not a date (YYYY-MM-DD): {e}"))?;
        if from > today {
            return Err(format!("{from} is in the future (today is {today} UTC)"));
        }
        if let Some((earliest, what)) = world.coverage()
            && from < earliest
        {
            return Err(format!(
                "{what} is full and starts on the day before {earliest}: days before {earliest} would lose deployments that only the stored buckets remember; recompute from {earliest} or later"
            ));
        }
        let config = self.buckets.config().clone();
        let mut events: Vec<Event> = Vec::new();
        let mut seen_deployments: HashMap<String, HashMap<String, Fingerprint>> = HashMap::new();
        for key in world.components.keys() {
            let s = service(key);
            if self.unreadable.contains_key(&s) {
                continue;
            }
            let listed = seen_deployments.entry(s).or_default();
            for d in world.deployments(key, &config).into_iter().flatten() {
                listed.insert(d.id.clone(), Fingerprint::of(&d));
                events.push(Event::Deployment(d));
            }
        }
        // A deployment counted on or after `from` that the catalog no longer lists (it left a
        // bounded list) would be lost: only the stored buckets remember it.
        let mut lost: Option<(Date, String)> = None;
        for (s, status) in &self.written {
            let listed = seen_deployments.get(s);
            let forgotten = status
                .deployments
                .iter()
                .filter(|d| listed.is_none_or(|l| !l.contains_key(&d.id)))
                .map(|d| (d.id.as_str(), d.finished_at.0))
                // The ledger is bounded too: what left it is not listed either.
                .chain(
                    status
                        .last_dropped_deployment
                        .iter()
                        .map(|d| (d.id.as_str(), d.finished_at.0)),
                );
            for (id, finished) in forgotten {
                let day = utc_date(finished);
                if day >= from && lost.as_ref().is_none_or(|(d, _)| day > *d) {
                    lost = Some((day, format!("deployment {id} of {s} ({day})")));
                }
            }
        }
        if let Some((day, what)) = lost {
            let next = day.tomorrow().unwrap_or(day);
            return Err(format!(
                "{what} is no longer listed in the catalog and only the stored buckets remember it; recompute from {next} or later"
            ));
        }
        let mut seen_incidents = HashMap::new();
        for key in world.incidents.keys() {
            if let Some(Ok(i)) = world.incident(key) {
                seen_incidents.insert(i.id.clone(), i.clone());
                events.push(Event::Incident(i));
            }
        }
        let deployments = events
            .iter()
            .filter(|e| matches!(e, Event::Deployment(d) if config.classify(d).is_ok()))
            .count();
        let incidents = seen_incidents.len();
        self.buckets.recompute_from(from, &events);
        // Everything listed has been applied: it is not new any more.
        self.fed = seen_deployments.keys().cloned().collect();
        self.seen_deployments = seen_deployments;
        self.seen_incidents = seen_incidents;
        self.restored_incidents.clear();
        Ok(format!(
            "recomputed every service from {from} on from {deployments} production deployments and {incidents} incidents still listed; days before {from} kept"
        ))
    }
}

/// Equal apart from `updatedAt`.
fn same_content(a: &DoraStatus, b: &DoraStatus) -> bool {
    let mut a = a.clone();
    a.updated_at = b.updated_at.clone();
    a == *b
}
