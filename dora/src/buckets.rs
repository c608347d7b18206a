//! The incremental computation: daily buckets per service and cell, kept up to date one event at
//! a time, and stored as [`DoraStatus`] (one per service).
//!
//! Every deployment and incident contributes to exactly one bucket (service × date × cell), so
//! service, team and person metrics are merges without double counting. An event changes the
//! buckets by subtracting the old contribution of whatever it touches and adding the new one:
//! a deployment adds itself and may take incidents from an older deployment; an incident
//! update (resolved, new root cause) replaces its contribution. The ledgers bound what can be
//! re-attributed: see [`DoraStatus::horizon`] and `docs/dora.md`.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp, civil::Date, tz::TimeZone};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::dora::{DoraDay, DoraDeployment, DoraIncident, DoraStatus};

use crate::{
    error::RestoreError,
    metrics::{Metrics, Scope, Totals, Window},
    model::{Cell, Config, Deploy, Event, Inc, MAX_INCIDENT_ID, Skip, clip, utc_date},
    samples::Samples,
};

/// What an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Applied {
    /// A new deployment or incident was counted.
    Counted,
    /// A known incident changed.
    Updated,
    /// A known incident, unchanged.
    Unchanged,
    /// A deployment the service has already counted.
    Duplicate,
    /// An incident that no longer names a service was taken out.
    Withdrawn,
    /// Nothing changed, and why.
    Ignored(Skip),
}

/// One bucket: a service's deployments and incidents of one UTC day credited to one cell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Day {
    deployments: u32,
    failed: u32,
    incidents: u32,
    lead_times: Samples,
    recoveries: Samples,
}

impl Day {
    fn is_empty(&self) -> bool {
        self.deployments == 0
            && self.failed == 0
            && self.incidents == 0
            && self.lead_times.is_empty()
            && self.recoveries.is_empty()
    }
}

/// A counted deployment as the ledger remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ledgered {
    id: String,
    finished: Timestamp,
    cell: Cell,
    /// Incidents attributed to it; the deployment is failed while this is above zero.
    incidents: u32,
}

/// Which deployment an incident is attributed to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Link {
    service: String,
    id: String,
    finished: Timestamp,
    cell: Cell,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    inc: Inc,
    link: Option<Link>,
}

impl Entry {
    /// The service and cell the incident is credited to.
    fn credited(&self) -> (&str, Cell) {
        match &self.link {
            Some(l) => (&l.service, l.cell.clone()),
            None => (
                &self.inc.services[0],
                Cell {
                    team: self.inc.team.clone(),
                    person: None,
                },
            ),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ServiceState {
    days: BTreeMap<(Date, Cell), Day>,
    dropped_days: u32,
    /// Days before this date are no longer changed.
    frozen_before: Option<Date>,
    /// Events at or before this instant are ignored.
    horizon: Option<Timestamp>,
    ignored_late: u32,
    deployments: BTreeMap<String, Ledgered>,
    last_dropped: Option<Ledgered>,
    /// Incidents credited to this service: (created, id).
    incidents: BTreeSet<(Timestamp, String)>,
}

impl ServiceState {
    fn day_mut(&mut self, date: Date, cell: &Cell, create: bool) -> Option<&mut Day> {
        if self.frozen_before.is_some_and(|f| date < f) {
            return None;
        }
        let key = (date, cell.clone());
        if create {
            Some(self.days.entry(key).or_default())
        } else {
            self.days.get_mut(&key)
        }
    }

    fn prune(&mut self, date: Date, cell: &Cell) {
        let key = (date, cell.clone());
        if self.days.get(&key).is_some_and(Day::is_empty) {
            self.days.remove(&key);
        }
    }

    /// Whether an event at `t` comes too late to be applied.
    fn too_late(&self, t: Timestamp) -> bool {
        self.horizon.is_some_and(|h| t <= h) || self.frozen_before.is_some_and(|f| utc_date(t) < f)
    }

    fn raise_horizon(&mut self, t: Timestamp) {
        self.horizon = Some(self.horizon.map_or(t, |h| h.max(t)));
    }

    fn ledgered_mut(&mut self, link: &Link) -> Option<&mut Ledgered> {
        if let Some(d) = self.deployments.get_mut(&link.id) {
            return Some(d);
        }
        self.last_dropped.as_mut().filter(|d| d.id == link.id)
    }

    fn lookup(&self, service: &str, id: &str) -> Option<Link> {
        self.deployments
            .get(id)
            .or(self.last_dropped.as_ref().filter(|d| d.id == id))
            .map(|d| link(service, d))
    }

    /// The last ledgered deployment that finished at or before `t`.
    fn last_before(&self, service: &str, t: Timestamp) -> Option<Link> {
        self.deployments
            .values()
            .chain(self.last_dropped.as_ref())
            .filter(|d| d.finished <= t)
            .max_by(|a, b| (a.finished, &a.id).cmp(&(b.finished, &b.id)))
            .map(|d| link(service, d))
    }
}

fn link(service: &str, d: &Ledgered) -> Link {
    Link {
        service: service.to_string(),
        id: d.id.clone(),
        finished: d.finished,
        cell: d.cell.clone(),
    }
}

/// The incremental DORA state of a set of services.
#[derive(Clone, Debug)]
pub struct Buckets {
    config: Config,
    services: BTreeMap<String, ServiceState>,
    incidents: BTreeMap<String, Entry>,
    /// Incident ids by each service they name (re-attribution when a deployment arrives).
    by_service: BTreeMap<String, BTreeSet<String>>,
    /// Incident ids by the deployment id they name as root cause.
    by_cause: BTreeMap<String, BTreeSet<String>>,
    /// Services whose bounds need enforcing after the current event.
    touched: BTreeSet<String>,
    /// Services whose status may have changed since [`Buckets::take_changed`] was last called.
    changed: BTreeSet<String>,
}

impl Buckets {
    pub fn new(config: Config) -> Self {
        let config = Config {
            limits: config.limits.clamped(),
            ..config
        };
        Self {
            config,
            services: BTreeMap::new(),
            incidents: BTreeMap::new(),
            by_service: BTreeMap::new(),
            by_cause: BTreeMap::new(),
            touched: BTreeSet::new(),
            changed: BTreeSet::new(),
        }
    }

    /// Fresh state from a sequence of events (a full recompute).
    pub fn from_events<'a>(config: Config, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut b = Self::new(config);
        for e in events {
            b.apply(e);
        }
        b
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Services with state, sorted.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// The services whose status may differ from what [`Buckets::status`] gave before the
    /// events applied since the last call (every service after [`Buckets::restore`] and
    /// [`Buckets::recompute_from`]), and forgets them. A writer stores only these: an
    /// incident moving to another deployment changes the services on both sides, and this
    /// names both, so no status has to be built and compared to find out.
    pub fn take_changed(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.changed)
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &Event) -> Applied {
        let applied = match event {
            Event::Deployment(d) => match self.config.deployment(d) {
                Ok(d) => self.add_deployment(d),
                Err(skip) => Applied::Ignored(skip),
            },
            Event::Incident(i) => match self.config.incident(i) {
                Ok(i) => self.upsert_incident(i),
                Err(Skip::NoService) => self.withdraw_incident(&clip(&i.id, MAX_INCIDENT_ID)),
                Err(skip) => Applied::Ignored(skip),
            },
        };
        self.enforce_bounds();
        applied
    }

    fn add_deployment(&mut self, d: Deploy) -> Applied {
        let st = self.services.entry(d.service.clone()).or_default();
        if st.too_late(d.finished) {
            st.ignored_late = st.ignored_late.saturating_add(1);
            self.changed.insert(d.service);
            return Applied::Ignored(Skip::TooLate);
        }
        if st.deployments.contains_key(&d.id)
            || st.last_dropped.as_ref().is_some_and(|l| l.id == d.id)
        {
            return Applied::Duplicate;
        }
        let cell = Cell {
            team: d.team.clone(),
            person: d.person.clone(),
        };
        let cap = self.config.limits.lead_times_per_day;
        if let Some(day) = st.day_mut(utc_date(d.finished), &cell, true) {
            day.deployments = day.deployments.saturating_add(1);
            for lt in &d.lead_times {
                day.lead_times.insert(*lt, cap);
            }
        }
        st.deployments.insert(
            d.id.clone(),
            Ledgered {
                id: d.id.clone(),
                finished: d.finished,
                cell,
                incidents: 0,
            },
        );
        self.touched.insert(d.service.clone());
        // Incidents this deployment may now explain: those it is named the cause of, and those
        // of its service created after it finished.
        let mut affected: BTreeSet<String> = self.by_cause.get(&d.id).cloned().unwrap_or_default();
        if let Some(ids) = self.by_service.get(&d.service) {
            affected.extend(
                ids.iter()
                    .filter(|id| {
                        self.incidents
                            .get(*id)
                            .is_some_and(|e| e.inc.created >= d.finished)
                    })
                    .cloned(),
            );
        }
        for id in affected {
            self.reattribute(&id);
        }
        Applied::Counted
    }

    fn upsert_incident(&mut self, inc: Inc) -> Applied {
        if let Some(old) = self.take_entry(&inc.id) {
            if old.inc == inc {
                self.insert_entry(old);
                return Applied::Unchanged;
            }
            let frozen = self.frozen(&old);
            self.remove_contribution(&old);
            let link = if frozen {
                old.link
            } else {
                self.attribute(&inc)
            };
            let entry = Entry { inc, link };
            self.add_contribution(&entry);
            self.insert_entry(entry);
            return Applied::Updated;
        }
        let link = self.attribute(&inc);
        let entry = Entry { inc, link };
        let (credited, _) = entry.credited();
        let credited = credited.to_string();
        let late = entry.inc.services.iter().chain([&credited]).any(|s| {
            self.services
                .get(s)
                .is_some_and(|st| st.too_late(entry.inc.created))
        });
        if late {
            let st = self.services.entry(credited.clone()).or_default();
            st.ignored_late = st.ignored_late.saturating_add(1);
            self.changed.insert(credited);
            return Applied::Ignored(Skip::TooLate);
        }
        self.add_contribution(&entry);
        self.insert_entry(entry);
        Applied::Counted
    }

    fn withdraw_incident(&mut self, id: &str) -> Applied {
        match self.take_entry(id) {
            Some(old) => {
                self.remove_contribution(&old);
                Applied::Withdrawn
            }
            None => Applied::Ignored(Skip::NoService),
        }
    }

    /// Re-runs the attribution of a known incident after the deployments changed.
    fn reattribute(&mut self, id: &str) {
        let Some(entry) = self.incidents.get(id) else {
            return;
        };
        if self.frozen(entry) {
            return;
        }
        let link = self.attribute(&entry.inc);
        if link == entry.link {
            return;
        }
        if let Some(mut entry) = self.take_entry(id) {
            self.remove_contribution(&entry);
            entry.link = link;
            self.add_contribution(&entry);
            self.insert_entry(entry);
        }
    }

    /// An incident whose attribution can no longer be recomputed: it was created at or before
    /// the horizon of the service it is credited to (the deployments before it may be gone
    /// from the ledger), or its deployment has left the ledger. It keeps its attribution.
    fn frozen(&self, e: &Entry) -> bool {
        let (service, _) = e.credited();
        let st = self.services.get(service);
        st.is_some_and(|st| st.too_late(e.inc.created))
            || e.link.as_ref().is_some_and(|l| {
                st.and_then(|st| st.lookup(service, &l.id))
                    .is_none_or(|found| found.finished != l.finished)
            })
    }

    /// Explicit root cause first (a counted deployment of that id: of the incident's services
    /// in their order, else of the service that sorts first), then the last deployment of one
    /// of its services at or before its creation (ties: greater id, then greater service).
    fn attribute(&self, inc: &Inc) -> Option<Link> {
        if let Some(cause) = &inc.caused_by {
            let explicit = inc
                .services
                .iter()
                .find_map(|s| self.services.get(s).and_then(|st| st.lookup(s, cause)))
                .or_else(|| self.services.iter().find_map(|(s, st)| st.lookup(s, cause)));
            if explicit.is_some() {
                return explicit;
            }
        }
        inc.services
            .iter()
            .filter_map(|s| {
                self.services
                    .get(s)
                    .and_then(|st| st.last_before(s, inc.created))
            })
            .max_by(|a, b| (a.finished, &a.id, &a.service).cmp(&(b.finished, &b.id, &b.service)))
    }

    fn add_contribution(&mut self, e: &Entry) {
        self.contribute(e, true);
    }

    fn remove_contribution(&mut self, e: &Entry) {
        self.contribute(e, false);
    }

    /// Adds or subtracts what an incident contributes: its count and recovery on the day it was
    /// created, and the failed mark of its deployment (which changes when the deployment's
    /// incident count goes from 0 to 1 or back).
    fn contribute(&mut self, e: &Entry, add: bool) {
        let (service, cell) = e.credited();
        let service = service.to_string();
        let cap = self.config.limits.recoveries_per_day;
        let st = self.services.entry(service.clone()).or_default();
        let date = utc_date(e.inc.created);
        if let Some(day) = st.day_mut(date, &cell, add) {
            if add {
                day.incidents = day.incidents.saturating_add(1);
                if let Some(r) = e.inc.recovery() {
                    day.recoveries.insert(r, cap);
                }
            } else {
                day.incidents = day.incidents.saturating_sub(1);
                if let Some(r) = e.inc.recovery() {
                    day.recoveries.remove(r);
                }
            }
        }
        st.prune(date, &cell);
        if let Some(link) = &e.link
            && let Some(d) = st.ledgered_mut(link)
            && d.finished == link.finished
        {
            let before = d.incidents;
            d.incidents = if add {
                before.saturating_add(1)
            } else {
                before.saturating_sub(1)
            };
            let after = d.incidents;
            let (date, cell) = (utc_date(d.finished), d.cell.clone());
            if (before == 0) != (after == 0)
                && let Some(day) = st.day_mut(date, &cell, add)
            {
                day.failed = if add {
                    day.failed.saturating_add(1)
                } else {
                    day.failed.saturating_sub(1)
                };
                st.prune(date, &cell);
            }
        }
        self.touched.insert(service);
    }

    fn insert_entry(&mut self, e: Entry) {
        let id = e.inc.id.clone();
        for s in &e.inc.services {
            self.by_service
                .entry(s.clone())
                .or_default()
                .insert(id.clone());
        }
        if let Some(c) = &e.inc.caused_by {
            self.by_cause
                .entry(c.clone())
                .or_default()
                .insert(id.clone());
        }
        let (service, _) = e.credited();
        let service = service.to_string();
        self.services
            .entry(service.clone())
            .or_default()
            .incidents
            .insert((e.inc.created, id.clone()));
        self.touched.insert(service);
        self.incidents.insert(id, e);
    }

    fn take_entry(&mut self, id: &str) -> Option<Entry> {
        let e = self.incidents.remove(id)?;
        for s in &e.inc.services {
            if let Some(ids) = self.by_service.get_mut(s) {
                ids.remove(id);
                if ids.is_empty() {
                    self.by_service.remove(s);
                }
            }
        }
        if let Some(c) = &e.inc.caused_by
            && let Some(ids) = self.by_cause.get_mut(c)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.by_cause.remove(c);
            }
        }
        let (service, _) = e.credited();
        if let Some(st) = self.services.get_mut(service) {
            st.incidents.remove(&(e.inc.created, id.to_string()));
        }
        Some(e)
    }

    /// Keeps every touched service within its bounds. Dropping a ledger entry raises the
    /// horizon (what came before can no longer be de-duplicated or attributed); dropping a
    /// date freezes the days before the next one.
    fn enforce_bounds(&mut self) {
        let limits = self.config.limits;
        while let Some(service) = self.touched.pop_first() {
            self.changed.insert(service.clone());
            let Some(st) = self.services.get_mut(&service) else {
                continue;
            };
            while st.deployments.len() > limits.deployments {
                let oldest = st
                    .deployments
                    .values()
                    .min_by(|a, b| (a.finished, &a.id).cmp(&(b.finished, &b.id)))
                    .map(|d| d.id.clone());
                let Some(d) = oldest.and_then(|id| st.deployments.remove(&id)) else {
                    break;
                };
                st.raise_horizon(d.finished);
                st.last_dropped = Some(d);
            }
            loop {
                let dates = st.days.keys().map(|(d, _)| *d).collect::<BTreeSet<_>>();
                if dates.len() <= limits.dates && st.days.len() <= limits.day_entries {
                    break;
                }
                let Some(oldest) = dates.first().copied() else {
                    break;
                };
                let before = st.days.len();
                st.days.retain(|(d, _), _| *d != oldest);
                let dropped = u32::try_from(before - st.days.len()).unwrap_or(u32::MAX);
                st.dropped_days = st.dropped_days.saturating_add(dropped);
                let next = oldest.tomorrow().unwrap_or(oldest);
                st.frozen_before = Some(st.frozen_before.map_or(next, |f| f.max(next)));
            }
            let mut evicted = Vec::new();
            while st.incidents.len() > limits.incidents {
                if let Some((_, id)) = st.incidents.pop_first() {
                    evicted.push(id);
                }
            }
            for id in evicted {
                // Its contribution stays; an update of it can no longer be told from a new
                // incident, so everything at or before its creation is now too late for the
                // services it names.
                if let Some(e) = self.take_entry(&id) {
                    let (credited, _) = e.credited();
                    for s in e.inc.services.iter().map(String::as_str).chain([credited]) {
                        self.services
                            .entry(s.to_string())
                            .or_default()
                            .raise_horizon(e.inc.created);
                        self.changed.insert(s.to_string());
                    }
                }
            }
        }
    }

    /// The four keys of a scope over a window.
    pub fn metrics(&self, scope: &Scope, end: Date, window: Window) -> Metrics {
        let start = window.start(end);
        let mut t = Totals::default();
        for (service, st) in self.scoped(scope) {
            let from = (start, Cell::default());
            for ((date, cell), day) in st.days.range(from..) {
                if *date > end {
                    break;
                }
                if scope.matches(service, cell) {
                    add_day(&mut t, day);
                }
            }
        }
        t.finish(window, end)
    }

    fn scoped<'a>(
        &'a self,
        scope: &'a Scope,
    ) -> Box<dyn Iterator<Item = (&'a String, &'a ServiceState)> + 'a> {
        match scope.service() {
            Some(s) => Box::new(self.services.get_key_value(s).into_iter()),
            None => Box::new(self.services.iter()),
        }
    }

    /// A scope's days merged per date (for a Team's or a User's status): the cell fields name
    /// the scope's team or person, and the merged samples keep the daily caps.
    pub fn rollup(&self, scope: &Scope) -> Vec<DoraDay> {
        let limits = self.config.limits;
        let mut merged: BTreeMap<Date, Day> = BTreeMap::new();
        for (service, st) in self.scoped(scope) {
            for ((date, cell), day) in &st.days {
                if !scope.matches(service, cell) {
                    continue;
                }
                let m = merged.entry(*date).or_default();
                m.deployments = m.deployments.saturating_add(day.deployments);
                m.failed = m.failed.saturating_add(day.failed);
                m.incidents = m.incidents.saturating_add(day.incidents);
                m.lead_times
                    .merge(&day.lead_times, limits.lead_times_per_day);
                m.recoveries
                    .merge(&day.recoveries, limits.recoveries_per_day);
            }
        }
        let (team, person) = match scope {
            Scope::Team(t) => (Some(t.clone()), None),
            Scope::Person(p) => (None, Some(p.clone())),
            _ => (None, None),
        };
        merged
            .into_iter()
            .map(|(date, day)| {
                export_day(
                    date,
                    &Cell {
                        team: team.clone(),
                        person: person.clone(),
                    },
                    &day,
                )
            })
            .collect()
    }

    /// The status of one service.
    pub fn status(&self, service: &str, updated_at: Option<Timestamp>) -> Option<DoraStatus> {
        let st = self.services.get(service)?;
        let mut deployments: Vec<&Ledgered> = st.deployments.values().collect();
        deployments.sort_by(|a, b| (b.finished, &b.id).cmp(&(a.finished, &a.id)));
        let incidents = st
            .incidents
            .iter()
            .rev()
            .filter_map(|(_, id)| self.incidents.get(id))
            .map(|e| DoraIncident {
                id: e.inc.id.clone(),
                created_at: Time(e.inc.created),
                resolved_at: e.inc.resolved.map(Time),
                services: e.inc.services.clone(),
                team: e.inc.team.clone(),
                caused_by: e.inc.caused_by.clone(),
                deployment: e.link.as_ref().map(|l| DoraDeployment {
                    id: l.id.clone(),
                    finished_at: Time(l.finished),
                    team: l.cell.team.clone(),
                    person: l.cell.person.clone(),
                    incidents: 0,
                }),
            })
            .collect();
        Some(DoraStatus {
            updated_at: updated_at.map(Time),
            days: st
                .days
                .iter()
                .map(|((date, cell), day)| export_day(*date, cell, day))
                .collect(),
            dropped_days: st.dropped_days,
            frozen_before: st.frozen_before.map(|d| d.to_string()),
            horizon: st.horizon.map(Time),
            ignored_late: st.ignored_late,
            deployments: deployments.into_iter().map(export_deployment).collect(),
            last_dropped_deployment: st.last_dropped.as_ref().map(export_deployment),
            incidents,
            // The controller's bookkeeping of recompute requests, not the engine's.
            recompute: None,
        })
    }

    /// The status of every service.
    pub fn statuses(&self, updated_at: Option<Timestamp>) -> BTreeMap<String, DoraStatus> {
        self.services
            .keys()
            .filter_map(|s| Some((s.clone(), self.status(s, updated_at)?)))
            .collect()
    }

    /// State from stored statuses (service → status), e.g. after a restart. An incident stored
    /// under two services (a write interrupted while it moved) is taken from the first.
    pub fn restore<I, S>(config: Config, statuses: I) -> Result<Self, RestoreError>
    where
        I: IntoIterator<Item = (S, DoraStatus)>,
        S: Into<String>,
    {
        let mut b = Self::new(config);
        let limits = b.config.limits;
        let mut entries = Vec::new();
        for (service, status) in statuses {
            let service: String = service.into();
            let mut st = ServiceState {
                dropped_days: status.dropped_days,
                frozen_before: status
                    .frozen_before
                    .as_deref()
                    .map(parse_date)
                    .transpose()?,
                horizon: status.horizon.map(|t| t.0),
                ignored_late: status.ignored_late,
                last_dropped: status.last_dropped_deployment.map(import_deployment),
                ..ServiceState::default()
            };
            for day in status.days {
                let date = parse_date(&day.date)?;
                let cell = Cell {
                    team: day.team,
                    person: day.person,
                };
                let d = Day {
                    deployments: day.deployments,
                    failed: day.failed_deployments,
                    incidents: day.incidents,
                    lead_times: Samples::from_parts(
                        day.lead_times,
                        day.lead_times_dropped,
                        limits.lead_times_per_day,
                    ),
                    recoveries: Samples::from_parts(
                        day.recoveries,
                        day.recoveries_dropped,
                        limits.recoveries_per_day,
                    ),
                };
                st.days.insert((date, cell), d);
            }
            for d in status.deployments {
                let d = import_deployment(d);
                st.deployments.insert(d.id.clone(), d);
            }
            for i in status.incidents {
                if i.services.is_empty() {
                    return Err(RestoreError::IncidentWithoutService(i.id));
                }
                let link = i.deployment.map(|d| {
                    let d = import_deployment(d);
                    link(&service, &d)
                });
                let inc = Inc {
                    id: i.id,
                    services: i.services,
                    team: i.team,
                    created: i.created_at.0,
                    resolved: i.resolved_at.map(|t| t.0),
                    caused_by: i.caused_by,
                };
                entries.push(Entry { inc, link });
            }
            b.touched.insert(service.clone());
            b.services.insert(service, st);
        }
        for e in entries {
            if !b.incidents.contains_key(&e.inc.id) {
                b.insert_entry(e);
            }
        }
        b.enforce_bounds();
        Ok(b)
    }

    /// Recomputes everything from `from` on from the given events, keeping the days before it
    /// as they are. The events should reach back far enough to attribute the incidents from
    /// `from` on (a month or a quarter before it); what they say about days before `from` only
    /// serves attribution. Events before `from` are ignored afterwards.
    pub fn recompute_from<'a>(&mut self, from: Date, events: impl IntoIterator<Item = &'a Event>) {
        let fresh = Self::from_events(self.config.clone(), events);
        let cut = from
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .ok()
            .and_then(|t| t.checked_sub(SignedDuration::from_secs(1)).ok());
        let mut old = std::mem::take(&mut self.services);
        let mut services = fresh.services;
        for (service, st) in services.iter_mut() {
            st.days.retain(|(d, _), _| *d >= from);
            if let Some(o) = old.remove(service) {
                merge_history(st, o, from);
            }
        }
        for (service, o) in old {
            let mut st = ServiceState::default();
            merge_history(&mut st, o, from);
            services.insert(service, st);
        }
        for st in services.values_mut() {
            st.frozen_before = Some(st.frozen_before.map_or(from, |f| f.max(from)));
            if let Some(cut) = cut {
                st.raise_horizon(cut);
            }
        }
        self.services = services;
        self.incidents = fresh.incidents;
        self.by_service = fresh.by_service;
        self.by_cause = fresh.by_cause;
        self.touched = self.services.keys().cloned().collect();
        self.enforce_bounds();
    }
}

/// Keeps the old days before `from`, the old horizon and counters.
fn merge_history(st: &mut ServiceState, old: ServiceState, from: Date) {
    st.days
        .extend(old.days.into_iter().filter(|((d, _), _)| *d < from));
    st.dropped_days = st.dropped_days.saturating_add(old.dropped_days);
    st.ignored_late = st.ignored_late.saturating_add(old.ignored_late);
    if let Some(h) = old.horizon {
        st.raise_horizon(h);
    }
    if let Some(f) = old.frozen_before {
        st.frozen_before = Some(st.frozen_before.map_or(f, |g| g.max(f)));
    }
}

/// The four keys over stored statuses (service → status), without building the state: what a
/// reader (the portal, the CLI) needs.
pub fn metrics_from_statuses<'a>(
    statuses: impl IntoIterator<Item = (&'a str, &'a DoraStatus)>,
    scope: &Scope,
    end: Date,
    window: Window,
) -> Result<Metrics, RestoreError> {
    let mut t = Totals::default();
    for (service, status) in statuses {
        if scope.service().is_some_and(|s| s != service) {
            continue;
        }
        for day in &status.days {
            let date = parse_date(&day.date)?;
            // Borrowed, not a `Cell`: readers merge many services' days per request.
            if window.contains(end, date)
                && scope.matches_parts(service, day.team.as_deref(), day.person.as_deref())
            {
                t.deployments = t.deployments.saturating_add(day.deployments);
                t.failed_deployments = t.failed_deployments.saturating_add(day.failed_deployments);
                t.incidents = t.incidents.saturating_add(day.incidents);
                t.lead_times.extend(&day.lead_times);
                t.lead_times_dropped = t.lead_times_dropped.saturating_add(day.lead_times_dropped);
                t.recoveries.extend(&day.recoveries);
                t.recoveries_dropped = t.recoveries_dropped.saturating_add(day.recoveries_dropped);
            }
        }
    }
    Ok(t.finish(window, end))
}

fn add_day(t: &mut Totals, day: &Day) {
    t.deployments = t.deployments.saturating_add(day.deployments);
    t.failed_deployments = t.failed_deployments.saturating_add(day.failed);
    t.incidents = t.incidents.saturating_add(day.incidents);
    t.lead_times.extend(day.lead_times.values());
    t.lead_times_dropped = t
        .lead_times_dropped
        .saturating_add(day.lead_times.dropped());
    t.recoveries.extend(day.recoveries.values());
    t.recoveries_dropped = t
        .recoveries_dropped
        .saturating_add(day.recoveries.dropped());
}

fn export_day(date: Date, cell: &Cell, day: &Day) -> DoraDay {
    DoraDay {
        date: date.to_string(),
        team: cell.team.clone(),
        person: cell.person.clone(),
        deployments: day.deployments,
        failed_deployments: day.failed,
        incidents: day.incidents,
        lead_times: day.lead_times.values().to_vec(),
        lead_times_dropped: day.lead_times.dropped(),
        recoveries: day.recoveries.values().to_vec(),
        recoveries_dropped: day.recoveries.dropped(),
    }
}

fn export_deployment(d: &Ledgered) -> DoraDeployment {
    DoraDeployment {
        id: d.id.clone(),
        finished_at: Time(d.finished),
        team: d.cell.team.clone(),
        person: d.cell.person.clone(),
        incidents: d.incidents,
    }
}

fn import_deployment(d: DoraDeployment) -> Ledgered {
    Ledgered {
        id: d.id,
        finished: d.finished_at.0,
        cell: Cell {
            team: d.team,
            person: d.person,
        },
        incidents: d.incidents,
    }
}

fn parse_date(s: &str) -> Result<Date, RestoreError> {
    // Stored dates are `YYYY-MM-DD` (the schema's pattern), and readers parse every day of
    // every status they merge: read that shape directly (`Date::new` still rejects
    // 2024-02-31), and leave anything else to the full parser and its message.
    let b = s.as_bytes();
    let digit = |i: usize| b[i].is_ascii_digit().then(|| b[i] - b'0');
    let two = |i: usize| i8::try_from(digit(i)? * 10 + digit(i + 1)?).ok();
    let four = |i: usize| Some(i16::from(two(i)?) * 100 + i16::from(two(i + 2)?));
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && let (Some(y), Some(m), Some(d)) = (four(0), two(5), two(8))
    {
        return Date::new(y, m, d).map_err(|e| RestoreError::Date {
            date: s.to_string(),
            reason: e.to_string(),
        });
    }
    s.parse::<Date>().map_err(|e| RestoreError::Date {
        date: s.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_dates_parse_like_the_full_parser() {
        for ok in ["2024-03-01", "2024-02-29", "0001-01-01", "9999-12-31"] {
            assert_eq!(parse_date(ok).unwrap(), ok.parse::<Date>().unwrap(), "{ok}");
        }
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "",
            "2024-03-0x",
        ] {
            let e = parse_date(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }
}
