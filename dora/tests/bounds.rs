//! The bounds: what exceeding each one drops, and that the status says so; the stored status;
//! recomputing from a date.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jiff::civil::date;
use nexus_api::dora::{DoraStatus, MAX_DORA_LEAD_TIMES_PER_DAY};
use nexus_dora::{
    Applied, Buckets, Config, Event, Limits, Scope, Skip, Window, batch, metrics_from_statuses,
};

fn limits() -> Limits {
    Limits {
        dates: 3,
        day_entries: 4,
        lead_times_per_day: 4,
        recoveries_per_day: 2,
        deployments: 3,
        incidents: 2,
    }
}

fn small() -> Config {
    Config::default().with_limits(limits())
}

fn status(b: &Buckets) -> DoraStatus {
    b.status(CHECKOUT, None).unwrap()
}

#[test]
fn a_full_day_drops_lead_times_and_says_so() {
    let mut b = Buckets::new(Config::default().with_limits(Limits {
        lead_times_per_day: 4,
        ..Limits::default()
    }));
    // Ten deployments on 03-01, one commit each, 1..10 hours before.
    for n in 1..=10 {
        let finished = format!("2024-03-01T{:02}:00:00Z", 10 + n);
        b.apply(&deploy(
            &format!("d{n}"),
            CHECKOUT,
            "ann",
            "prod",
            "success",
            &finished,
            &[n * 3600],
        ));
    }
    let day = &status(&b).days[0];
    assert_eq!(day.deployments, 10);
    assert_eq!(day.lead_times.len(), 4);
    assert_eq!(day.lead_times_dropped, 6);
    assert!(day.lead_times.is_sorted());
    let m = b.metrics(&Scope::All, date(2024, 3, 1), Window::Day);
    assert_eq!(
        (m.deployments, m.lead_time_samples, m.lead_times_dropped),
        (10, 4, 6)
    );
    assert!(!m.exact());
    // The kept four are a function of the values, not of the arrival order.
    let mut r = Buckets::new(b.config().clone());
    for n in (1..=10).rev() {
        let finished = format!("2024-03-01T{:02}:00:00Z", 10 + n);
        r.apply(&deploy(
            &format!("d{n}"),
            CHECKOUT,
            "ann",
            "prod",
            "success",
            &finished,
            &[n * 3600],
        ));
    }
    assert_eq!(status(&r).days, status(&b).days);
}

#[test]
fn too_many_dates_drop_the_oldest_and_freeze_them() {
    let mut b = Buckets::new(small());
    for d in 1..=5 {
        let finished = format!("2024-03-{d:02}T12:00:00Z");
        b.apply(&deploy(
            &format!("d{d}"),
            CHECKOUT,
            "ann",
            "prod",
            "success",
            &finished,
            &[],
        ));
    }
    let s = status(&b);
    let dates: Vec<&str> = s.days.iter().map(|d| d.date.as_str()).collect();
    assert_eq!(dates, ["2024-03-03", "2024-03-04", "2024-03-05"]);
    assert_eq!(s.dropped_days, 2);
    assert_eq!(s.frozen_before.as_deref(), Some("2024-03-03"));
    // A late deployment on a dropped date is not counted, and counted as ignored.
    let late = deploy(
        "d0",
        CHECKOUT,
        "ann",
        "prod",
        "success",
        "2024-03-02T12:00:00Z",
        &[],
    );
    assert_eq!(b.apply(&late), Applied::Ignored(Skip::TooLate));
    assert_eq!(status(&b).ignored_late, 1);
}

#[test]
fn too_many_entries_drop_the_oldest_date() {
    let mut b = Buckets::new(small());
    // Three people on 03-01 and two on 03-02: five entries over two dates, four allowed.
    for (n, p) in ["ann", "ben", "cat"].iter().enumerate() {
        b.apply(&deploy(
            &format!("a{n}"),
            CHECKOUT,
            p,
            "prod",
            "success",
            "2024-03-01T12:00:00Z",
            &[],
        ));
    }
    for (n, p) in ["ann", "ben"].iter().enumerate() {
        b.apply(&deploy(
            &format!("b{n}"),
            CHECKOUT,
            p,
            "prod",
            "success",
            "2024-03-02T12:00:00Z",
            &[],
        ));
    }
    let s = status(&b);
    assert_eq!(s.days.len(), 2);
    assert!(s.days.iter().all(|d| d.date == "2024-03-02"));
    assert_eq!(s.dropped_days, 3);
}

#[test]
fn a_full_deployment_ledger_drops_the_oldest_and_raises_the_horizon() {
    let mut b = Buckets::new(small());
    for d in 1..=5 {
        let finished = format!("2024-03-{d:02}T12:00:00Z");
        b.apply(&deploy(
            &format!("d{d}"),
            CHECKOUT,
            "ann",
            "prod",
            "success",
            &finished,
            &[],
        ));
    }
    let s = status(&b);
    let ids: Vec<&str> = s.deployments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d5", "d4", "d3"], "newest first");
    assert_eq!(
        s.last_dropped_deployment.as_ref().map(|d| d.id.as_str()),
        Some("d2")
    );
    assert_eq!(
        s.horizon.as_ref().map(|t| t.0),
        Some(at("2024-03-02T12:00:00Z"))
    );
    // d1 again can no longer be told from a new deployment: ignored, not counted twice.
    let again = deploy(
        "d1",
        CHECKOUT,
        "ann",
        "prod",
        "success",
        "2024-03-01T12:00:00Z",
        &[],
    );
    assert_eq!(b.apply(&again), Applied::Ignored(Skip::TooLate));
    // Three: the date bound (3) has dropped 03-01 and 03-02.
    assert_eq!(
        b.metrics(&Scope::All, date(2024, 3, 5), Window::Week)
            .deployments,
        3
    );
    // An incident after the horizon with no newer deployment before it is still attributed to
    // the last dropped deployment (d2), whose day is still there.
    let mut b = Buckets::new(Config::default().with_limits(Limits {
        deployments: 1,
        ..Limits::default()
    }));
    for d in ["2024-03-01T12:00:00Z", "2024-03-05T12:00:00Z"] {
        b.apply(&deploy(d, CHECKOUT, "ann", "prod", "success", d, &[]));
    }
    // Ledger: 03-05; dropped: 03-01 (horizon). An incident on 03-04 → the 03-01 deployment.
    b.apply(&incident(
        "i",
        &[CHECKOUT],
        "2024-03-04T00:00:00Z",
        None,
        None,
    ));
    let m = b.metrics(&Scope::All, date(2024, 3, 5), Window::Week);
    assert_eq!(
        (m.deployments, m.failed_deployments, m.incidents),
        (2, 1, 1)
    );
    let s = status(&b);
    assert_eq!(s.last_dropped_deployment.unwrap().incidents, 1);
}

#[test]
fn a_full_incident_ledger_drops_the_oldest_and_keeps_its_count() {
    let mut b = Buckets::new(Config::default().with_limits(Limits {
        incidents: 2,
        ..Limits::default()
    }));
    b.apply(&deploy(
        "d",
        CHECKOUT,
        "ann",
        "prod",
        "success",
        "2024-03-01T00:00:00Z",
        &[],
    ));
    for n in 1..=3 {
        let created = format!("2024-03-0{}T00:00:00Z", n + 1);
        b.apply(&incident(
            &format!("i{n}"),
            &[CHECKOUT],
            &created,
            None,
            None,
        ));
    }
    let s = status(&b);
    let ids: Vec<&str> = s.incidents.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["i3", "i2"]);
    assert_eq!(
        s.horizon.as_ref().map(|t| t.0),
        Some(at("2024-03-02T00:00:00Z"))
    );
    // i1 is still counted; an update of it comes too late to be told from a new incident.
    let update = incident(
        "i1",
        &[CHECKOUT],
        "2024-03-02T00:00:00Z",
        Some("2024-03-02T01:00:00Z"),
        None,
    );
    assert_eq!(b.apply(&update), Applied::Ignored(Skip::TooLate));
    let m = b.metrics(&Scope::All, date(2024, 3, 4), Window::Week);
    assert_eq!(
        (m.incidents, m.recovery_samples, m.failed_deployments),
        (3, 0, 1)
    );
    // The ledgered ones still update.
    let update = incident(
        "i3",
        &[CHECKOUT],
        "2024-03-04T00:00:00Z",
        Some("2024-03-04T00:30:00Z"),
        None,
    );
    assert_eq!(b.apply(&update), Applied::Updated);
    let m = b.metrics(&Scope::All, date(2024, 3, 4), Window::Week);
    assert_eq!(m.recovery_time_seconds, Some(1_800.0));
}

#[test]
fn exported_statuses_stay_within_the_schema() {
    let mut b = Buckets::new(Config::default());
    for n in 0..40 {
        b.apply(&deploy(
            &format!("d{n}"),
            CHECKOUT,
            "ann",
            "prod",
            "success",
            "2024-03-01T12:00:00Z",
            &[60, 120],
        ));
    }
    let s = status(&b);
    assert_eq!(s.days[0].lead_times.len(), MAX_DORA_LEAD_TIMES_PER_DAY);
    assert_eq!(s.days[0].lead_times_dropped, 80 - 32);
}

#[test]
fn status_json_shape() {
    let mut b = Buckets::new(Config::default());
    b.apply(&deploy(
        "d1",
        CHECKOUT,
        "ann",
        "prod",
        "success",
        "2024-03-01T12:00:00Z",
        &[3600],
    ));
    b.apply(&incident(
        "i1",
        &[CHECKOUT],
        "2024-03-01T13:00:00Z",
        Some("2024-03-01T13:10:00Z"),
        None,
    ));
    let json = serde_json::to_value(
        b.status(CHECKOUT, Some(at("2024-03-02T00:00:00Z")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "updatedAt": "2024-03-02T00:00:00Z",
            "days": [{
                "date": "2024-03-01", "team": "payments", "person": "ann",
                "deployments": 1, "failedDeployments": 1, "incidents": 1,
                "leadTimes": [3600], "recoveries": [600]
            }],
            "deployments": [{
                "id": "d1", "finishedAt": "2024-03-01T12:00:00Z", "team": "payments",
                "person": "ann", "incidents": 1
            }],
            "incidents": [{
                "id": "i1", "createdAt": "2024-03-01T13:00:00Z",
                "resolvedAt": "2024-03-01T13:10:00Z", "services": [CHECKOUT], "team": "payments",
                "deployment": {
                    "id": "d1", "finishedAt": "2024-03-01T12:00:00Z", "team": "payments",
                    "person": "ann"
                }
            }]
        })
    );
}

#[test]
fn readers_get_the_same_metrics_from_the_statuses() {
    let events = sample();
    let b = Buckets::from_events(Config::default(), &events);
    let statuses = b.statuses(None);
    for scope in [
        Scope::All,
        Scope::Team("discovery".into()),
        Scope::Person("ann".into()),
    ] {
        for w in Window::ALL {
            let read = metrics_from_statuses(
                statuses.iter().map(|(s, st)| (s.as_str(), st)),
                &scope,
                date(2024, 3, 10),
                w,
            )
            .unwrap();
            assert_eq!(read, b.metrics(&scope, date(2024, 3, 10), w));
        }
    }
    let mut bad = statuses.get(CHECKOUT).unwrap().clone();
    bad.days[0].date = "2024-13-01".into();
    assert!(
        metrics_from_statuses(
            [(CHECKOUT, &bad)],
            &Scope::All,
            date(2024, 3, 10),
            Window::Day
        )
        .is_err()
    );
    assert!(Buckets::restore(Config::default(), [(CHECKOUT, bad)]).is_err());
}

fn sample() -> Vec<Event> {
    vec![
        deploy(
            "c1",
            CHECKOUT,
            "ann",
            "prod",
            "success",
            "2024-03-01T12:00:00Z",
            &[3600],
        ),
        deploy(
            "c2",
            CHECKOUT,
            "ben",
            "prod",
            "success",
            "2024-03-05T12:00:00Z",
            &[7200],
        ),
        deploy(
            "s1",
            SEARCH,
            "ann",
            "prod",
            "success",
            "2024-03-06T12:00:00Z",
            &[600],
        ),
        incident(
            "i1",
            &[CHECKOUT],
            "2024-03-02T00:00:00Z",
            Some("2024-03-02T02:00:00Z"),
            None,
        ),
        incident("i2", &[SEARCH], "2024-03-07T00:00:00Z", None, None),
        deploy(
            "c3",
            CHECKOUT,
            "ann",
            "prod",
            "success",
            "2024-03-09T12:00:00Z",
            &[60],
        ),
        incident(
            "i3",
            &[CHECKOUT],
            "2024-03-09T13:00:00Z",
            Some("2024-03-09T13:05:00Z"),
            None,
        ),
    ]
}

#[test]
fn recompute_from_a_date_keeps_the_days_before_it() {
    let events = sample();
    let config = Config::default();
    let whole = Buckets::from_events(config.clone(), &events);
    // Replaying the same events from 03-05 on changes nothing.
    let mut b = whole.clone();
    b.recompute_from(date(2024, 3, 5), &events);
    for w in Window::ALL {
        assert_eq!(
            b.metrics(&Scope::All, date(2024, 3, 10), w),
            whole.metrics(&Scope::All, date(2024, 3, 10), w)
        );
    }
    // Replaying without c2 (say it was not production after all) fixes the days from 03-05
    // on and keeps 03-01..03-04 as they were.
    let without_c2: Vec<Event> = events
        .iter()
        .filter(|e| !matches!(e, Event::Deployment(d) if d.id == "c2"))
        .cloned()
        .collect();
    let mut b = whole.clone();
    b.recompute_from(date(2024, 3, 5), &without_c2);
    let m = b.metrics(&Scope::All, date(2024, 3, 10), Window::Week);
    assert_eq!(
        m,
        batch(
            &config,
            &without_c2,
            &Scope::All,
            date(2024, 3, 10),
            Window::Week
        )
    );
    assert_eq!(m.deployments, 2);
    let s = b.status(CHECKOUT, None).unwrap();
    assert_eq!(s.days[0].date, "2024-03-01");
    assert_eq!(s.frozen_before.as_deref(), Some("2024-03-05"));
    // Events before the cut are now too late.
    let late = deploy(
        "c0",
        CHECKOUT,
        "ann",
        "prod",
        "success",
        "2024-03-04T12:00:00Z",
        &[],
    );
    assert_eq!(b.apply(&late), Applied::Ignored(Skip::TooLate));
}

#[test]
fn withdrawn_incident() {
    let mut b = Buckets::from_events(Config::default(), &sample());
    assert_eq!(
        b.metrics(&Scope::All, date(2024, 3, 10), Window::Week)
            .incidents,
        2
    );
    // A new version of i3 that names no service takes it out, as batch does.
    let gone = incident("i3", &[], "2024-03-09T13:00:00Z", None, None);
    assert_eq!(b.apply(&gone), Applied::Withdrawn);
    let mut events = sample();
    events.push(gone);
    let m = b.metrics(&Scope::All, date(2024, 3, 10), Window::Week);
    assert_eq!(
        m,
        batch(
            &Config::default(),
            &events,
            &Scope::All,
            date(2024, 3, 10),
            Window::Week
        )
    );
    // i2 is left, and it still fails s1.
    assert_eq!((m.incidents, m.failed_deployments), (1, 1));
}
