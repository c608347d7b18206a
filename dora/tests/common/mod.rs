//! Helpers shared by the integration tests.
#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};
use nexus_dora::{Deployment, Event, Incident};

pub const CHECKOUT: &str = "component:shop/checkout";
pub const SEARCH: &str = "component:shop/search";

pub fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

/// A deployment finished at `finished`, with commits `before` seconds earlier (negative: after).
pub fn deploy(
    id: &str,
    service: &str,
    person: &str,
    environment: &str,
    status: &str,
    finished: &str,
    before: &[i64],
) -> Event {
    let finished_at = at(finished);
    let team = if service == CHECKOUT {
        "payments"
    } else {
        "discovery"
    };
    Event::Deployment(Deployment {
        id: id.into(),
        service: service.into(),
        team: Some(team.into()),
        person: Some(person.into()),
        environment: environment.into(),
        status: status.into(),
        finished_at,
        commit_times: before
            .iter()
            .map(|s| finished_at - SignedDuration::from_secs(*s))
            .collect(),
    })
}

pub fn incident(
    id: &str,
    services: &[&str],
    created: &str,
    resolved: Option<&str>,
    caused_by: Option<&str>,
) -> Event {
    let team = if services.first() == Some(&CHECKOUT) {
        "payments"
    } else {
        "discovery"
    };
    Event::Incident(Incident {
        id: id.into(),
        services: services.iter().map(|s| s.to_string()).collect(),
        team: Some(team.into()),
        created_at: at(created),
        resolved_at: resolved.map(at),
        caused_by: caused_by.map(str::to_string),
    })
}
