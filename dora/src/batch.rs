//! The four keys computed from scratch: settle the events (de-duplicate, keep each incident's
//! last version, attribute), then count over the window. This is the reference the
//! incremental [`Buckets`](crate::Buckets) must agree with, so it is written as plainly as
//! possible and shares only the normalisation with it.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::{
    metrics::{Metrics, Scope, Totals, Window},
    model::{Cell, Config, Deploy, Event, Inc, Skip, utc_date},
};

/// Deployments and incidents after de-duplication and attribution.
#[derive(Clone, Debug)]
pub struct Settled {
    deployments: Vec<Deploy>,
    /// Each incident with the index of the deployment it is attributed to.
    incidents: Vec<(Inc, Option<usize>)>,
}

impl Settled {
    /// Counted deployments, one per service and id.
    pub fn deployment_count(&self) -> usize {
        self.deployments.len()
    }

    /// Counted incidents, one per id.
    pub fn incident_count(&self) -> usize {
        self.incidents.len()
    }

    /// The deployment (service, id) an incident is attributed to.
    pub fn attribution(&self, incident: &str) -> Option<(&str, &str)> {
        self.incidents
            .iter()
            .find(|(i, _)| i.id == incident)
            .and_then(|(_, d)| *d)
            .map(|d| {
                let d = &self.deployments[d];
                (d.service.as_str(), d.id.as_str())
            })
    }

    /// The four keys of a scope over a window.
    pub fn metrics(&self, scope: &Scope, end: Date, window: Window) -> Metrics {
        let mut t = Totals::default();
        let mut failed = vec![false; self.deployments.len()];
        for (_, d) in &self.incidents {
            if let Some(d) = d {
                failed[*d] = true;
            }
        }
        for (d, failed) in self.deployments.iter().zip(failed) {
            let cell = Cell {
                team: d.team.clone(),
                person: d.person.clone(),
            };
            if scope.matches(&d.service, &cell) && window.contains(end, utc_date(d.finished)) {
                t.deployments += 1;
                t.failed_deployments += u32::from(failed);
                t.lead_times.extend(&d.lead_times);
            }
        }
        for (i, d) in &self.incidents {
            let (service, cell) = match d {
                Some(d) => {
                    let d = &self.deployments[*d];
                    let cell = Cell {
                        team: d.team.clone(),
                        person: d.person.clone(),
                    };
                    (d.service.as_str(), cell)
                }
                None => {
                    let cell = Cell {
                        team: i.team.clone(),
                        person: None,
                    };
                    (i.services[0].as_str(), cell)
                }
            };
            if scope.matches(service, &cell) && window.contains(end, utc_date(i.created)) {
                t.incidents += 1;
                t.recoveries.extend(i.recovery());
            }
        }
        t.finish(window, end)
    }
}

/// Settles a sequence of events: the first counted version of a deployment (per service and
/// id) wins, because a later status of the same deployment (GitHub `inactive`, a re-sent
/// webhook) must not un-count or move it; the last version of an incident wins, because
/// incidents change (resolved, re-attributed).
pub fn settle<'a>(config: &Config, events: impl IntoIterator<Item = &'a Event>) -> Settled {
    let mut deployments: Vec<Deploy> = Vec::new();
    let mut seen: BTreeMap<(String, String), ()> = BTreeMap::new();
    let mut incidents: BTreeMap<String, Option<Inc>> = BTreeMap::new();
    for e in events {
        match e {
            Event::Deployment(d) => {
                if let Ok(d) = config.deployment(d)
                    && seen.insert((d.service.clone(), d.id.clone()), ()).is_none()
                {
                    deployments.push(d);
                }
            }
            Event::Incident(i) => match config.incident(i) {
                Ok(i) => {
                    incidents.insert(i.id.clone(), Some(i));
                }
                // A version that names no service withdraws the incident.
                Err(Skip::NoService) => {
                    incidents.insert(
                        crate::model::clip(&i.id, crate::model::MAX_INCIDENT_ID),
                        None,
                    );
                }
                Err(_) => {}
            },
        }
    }
    let incidents = incidents
        .into_values()
        .flatten()
        .map(|i| {
            let d = attribute(&i, &deployments);
            (i, d)
        })
        .collect();
    Settled {
        deployments,
        incidents,
    }
}

/// The explicit root-cause reference when it names a counted deployment (of one of the
/// incident's services first, in their order, else of the service that sorts first); otherwise
/// the last deployment of one of its services that finished at or before the incident was
/// created (ties: the greater id, then the greater service).
fn attribute(i: &Inc, deployments: &[Deploy]) -> Option<usize> {
    if let Some(cause) = &i.caused_by {
        let named = |d: &&Deploy| &d.id == cause;
        let explicit = i
            .services
            .iter()
            .find_map(|s| {
                deployments
                    .iter()
                    .position(|d| named(&d) && &d.service == s)
            })
            .or_else(|| {
                deployments
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| named(d))
                    .min_by(|(_, a), (_, b)| a.service.cmp(&b.service))
                    .map(|(n, _)| n)
            });
        if explicit.is_some() {
            return explicit;
        }
    }
    deployments
        .iter()
        .enumerate()
        .filter(|(_, d)| i.services.contains(&d.service) && d.finished <= i.created)
        .max_by(|(_, a), (_, b)| {
            (a.finished, &a.id, &a.service).cmp(&(b.finished, &b.id, &b.service))
        })
        .map(|(n, _)| n)
}

/// The four keys of a scope over a window, computed from scratch from the events.
pub fn batch<'a>(
    config: &Config,
    events: impl IntoIterator<Item = &'a Event>,
    scope: &Scope,
    end: Date,
    window: Window,
) -> Metrics {
    settle(config, events).metrics(scope, end, window)
}
