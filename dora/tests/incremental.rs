//! Property: for any sequence of events (any order, duplicates, updates, late arrivals), the
//! incremental buckets give the same metrics as the batch computation — directly, and after a
//! round trip through the stored status (JSON) at any point. The sequences stay within the
//! bounds (at most 15 deployments with 2 commits each, 8 incidents), which is where the two
//! must agree exactly.
#![allow(clippy::unwrap_used)]

use jiff::{SignedDuration, Timestamp, civil::date};
use nexus_api::dora::DoraStatus;
use nexus_dora::{Buckets, Config, Deployment, Event, Incident, Scope, Window, batch};
use proptest::prelude::*;

const SERVICES: [&str; 3] = ["component:a/one", "component:a/two", "component:b/three"];
const TEAMS: [&str; 2] = ["red", "blue"];
const PEOPLE: [&str; 3] = ["ann", "ben", "cat"];

/// 2024-03-01T00:00:00Z plus minutes.
fn t(minutes: i64) -> Timestamp {
    let base: Timestamp = "2024-03-01T00:00:00Z".parse().unwrap();
    base + SignedDuration::from_mins(minutes)
}

/// Ten days of minutes, so events share days and cross day boundaries.
const SPAN: i64 = 10 * 24 * 60;

fn deployment() -> impl Strategy<Value = Event> {
    (
        0..10u8,
        0..SERVICES.len(),
        proptest::option::of(0..TEAMS.len()),
        proptest::option::of(0..PEOPLE.len()),
        prop::sample::select(vec!["production", "Prod", "staging"]),
        prop::sample::select(vec!["success", "succeeded", "failure", "in_progress"]),
        0..SPAN,
        prop::collection::vec(-120..(4 * 24 * 60i64), 0..=2),
    )
        .prop_map(|(id, s, team, person, env, status, at, commits)| {
            Event::Deployment(Deployment {
                id: format!("d{id}"),
                service: SERVICES[s].into(),
                team: team.map(|n| TEAMS[n].into()),
                person: person.map(|n| PEOPLE[n].into()),
                environment: env.into(),
                status: status.into(),
                finished_at: t(at),
                commit_times: commits.into_iter().map(|c| t(at - c)).collect(),
            })
        })
}

fn incident() -> impl Strategy<Value = Event> {
    (
        0..8u8,
        prop::collection::vec(0..SERVICES.len(), 0..=2),
        proptest::option::of(0..TEAMS.len()),
        0..SPAN,
        proptest::option::of(0..(3 * 24 * 60i64)),
        proptest::option::of(0..10u8),
    )
        .prop_map(|(id, services, team, at, took, cause)| {
            Event::Incident(Incident {
                id: format!("i{id}"),
                services: services.into_iter().map(|s| SERVICES[s].into()).collect(),
                team: team.map(|n| TEAMS[n].into()),
                created_at: t(at),
                resolved_at: took.map(|m| t(at + m)),
                caused_by: cause.map(|c| format!("d{c}")),
            })
        })
}

/// Up to 15 deployment events and 12 incident events, shuffled, some repeated verbatim.
fn sequence() -> impl Strategy<Value = Vec<Event>> {
    (
        prop::collection::vec(deployment(), 0..=15),
        prop::collection::vec(incident(), 0..=12),
        prop::collection::vec(any::<prop::sample::Index>(), 0..=5),
    )
        .prop_flat_map(|(deployments, incidents, repeats)| {
            let mut all: Vec<Event> = deployments.into_iter().chain(incidents).collect();
            if !all.is_empty() {
                let copies: Vec<Event> = repeats.iter().map(|i| i.get(&all).clone()).collect();
                all.extend(copies);
            }
            Just(all).prop_shuffle()
        })
}

fn scopes() -> Vec<Scope> {
    let mut s = vec![Scope::All];
    s.extend(SERVICES.iter().map(|x| Scope::Service(x.to_string())));
    s.extend(TEAMS.iter().map(|x| Scope::Team(x.to_string())));
    s.extend(PEOPLE.iter().map(|x| Scope::Person(x.to_string())));
    s
}

/// Every scope, window and end date from before the first event to after the last.
fn assert_agrees(b: &Buckets, events: &[Event]) -> Result<(), TestCaseError> {
    let config = Config::default();
    let mut end = date(2024, 2, 28);
    while end <= date(2024, 3, 14) {
        for w in Window::ALL {
            for scope in scopes() {
                let inc = b.metrics(&scope, end, w);
                let bat = batch(&config, events, &scope, end, w);
                prop_assert_eq!(inc, bat, "{} {:?} {:?}", end, w, scope);
            }
        }
        end = end.tomorrow().unwrap();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_batch(events in sequence()) {
        let b = Buckets::from_events(Config::default(), &events);
        assert_agrees(&b, &events)?;
    }

    #[test]
    fn incremental_through_stored_status_equals_batch(
        events in sequence(),
        split in any::<prop::sample::Index>(),
    ) {
        let at = split.index(events.len() + 1);
        let first = Buckets::from_events(Config::default(), &events[..at]);
        // What the controller writes and reads back: JSON.
        let stored: Vec<(String, String)> = first
            .statuses(None)
            .into_iter()
            .map(|(s, st)| (s, serde_json::to_string(&st).unwrap()))
            .collect();
        let read = stored
            .into_iter()
            .map(|(s, json)| (s, serde_json::from_str::<DoraStatus>(&json).unwrap()));
        let mut b = Buckets::restore(Config::default(), read).unwrap();
        for e in &events[at..] {
            b.apply(e);
        }
        assert_agrees(&b, &events)?;
        // And the state itself round-trips.
        let again = Buckets::restore(Config::default(), b.statuses(None)).unwrap();
        prop_assert_eq!(again.statuses(None), b.statuses(None));
        // A reader of the stored statuses gets the same figures as the state.
        let stored = b.statuses(None);
        for end in [date(2024, 3, 5), date(2024, 3, 12)] {
            for w in Window::ALL {
                for scope in scopes() {
                    let read = nexus_dora::metrics_from_statuses(
                        stored.iter().map(|(s, st)| (s.as_str(), st)),
                        &scope,
                        end,
                        w,
                    )
                    .unwrap();
                    prop_assert_eq!(read, b.metrics(&scope, end, w), "{} {:?} {:?}", end, w, scope);
                }
            }
        }
    }

    #[test]
    fn take_changed_names_every_service_whose_status_changed(events in sequence()) {
        // Small ledgers, so evictions (which move horizons of other services) happen too.
        let limits = nexus_dora::Limits { deployments: 2, incidents: 2, dates: 3, ..Default::default() };
        let mut b = Buckets::new(Config::default().with_limits(limits));
        let mut before = b.statuses(None);
        for e in &events {
            b.apply(e);
            let changed = b.take_changed();
            let after = b.statuses(None);
            for (service, status) in &after {
                if !changed.contains(service) {
                    prop_assert_eq!(Some(status), before.get(service), "{} changed unannounced by {:?}", service, e);
                }
            }
            before = after;
        }
    }

    #[test]
    fn team_and_person_rollups_merge_the_service_buckets(events in sequence()) {
        let b = Buckets::from_events(Config::default(), &events);
        for scope in scopes() {
            let days = b.rollup(&scope);
            let deployments: u32 = days.iter().map(|d| d.deployments).sum();
            let incidents: u32 = days.iter().map(|d| d.incidents).sum();
            let m = b.metrics(&scope, date(2024, 3, 31), Window::Quarter);
            prop_assert_eq!((deployments, incidents), (m.deployments, m.incidents));
        }
    }
}
