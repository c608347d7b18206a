//! A fixed event set with every expected value computed by hand (in the comments), checked
//! against both the batch and the incremental computation.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jiff::civil::{Date, date};
use nexus_dora::{
    Applied, Buckets, Config, Event, Metrics, Scope, Skip, Tier, Window, batch, settle,
};

const DAY: i64 = 86_400;
const H: i64 = 3_600;

/// Two services: checkout (team payments) and search (team discovery); alice, bob and carol
/// deploy. Events arrive out of order on purpose: an incident before the deployments that
/// explain it, a late deployment that takes an incident from an older one.
///
/// Counted deployments (finished, person, lead times in seconds):
/// - co-0 2024-02-15 10:00 alice  [1_728_000]            (20 days)
/// - co-1 2024-03-04 10:00 alice  [7_200, 18_000]
/// - co-2 2024-03-10 12:00 bob    [3_600]                 ("Prod")
/// - co-3 2024-03-20 09:00 alice  [108_000]
/// - co-4 2024-03-26 15:00 bob    [600, 90_000]           ("prod-eu")
/// - co-6 2024-03-29 11:00 carol  [7_200]                 (commits 1 h after and at the
///   finish are ignored)
/// - co-5 2024-03-31 08:00 alice  [14_400]
/// - se-1 2024-03-05 09:00 carol  [259_200]               ("live", "succeeded")
/// - se-2 2024-03-15 14:00 carol  [43_200, 21_600]        ("PRD")
/// - se-3 2024-03-25 10:00 bob    [180_000]
/// - se-4 2024-03-30 16:00 carol  []
///
/// Not counted: a resend of co-2, co-3 again as `inactive`, a staging and a pre-prod deployment,
/// a `failure` and an `error`.
///
/// Incidents (created, recovery in seconds, attribution):
/// - i1 checkout 03-04 11:30, 1_800  → co-1 (last checkout deployment before it)
/// - i2 checkout 03-20 10:00, 21_600 → co-3
/// - i3 checkout 03-20 12:00, 86_400 → co-3 (co-3 fails once, with two incidents)
/// - i4 search   03-26 09:00, open   → se-2 (explicit root cause, although se-3 is later)
/// - i5 checkout 03-01 08:00, 3_600  → co-0 (February)
/// - i6 search   03-31 07:00, 1_800  → se-4 (first open, then resolved)
/// - i7 checkout+search 03-29 12:00, 1_200 → co-6 (se-3, then co-4, then co-6 as they arrive)
/// - i8 search   03-02 00:00, 18_000 → none (no search deployment before it; credited to
///   search, team discovery, no person)
fn events() -> Vec<Event> {
    let co = CHECKOUT;
    let se = SEARCH;
    vec![
        deploy(
            "co-0",
            co,
            "alice",
            "production",
            "success",
            "2024-02-15T10:00:00Z",
            &[20 * DAY],
        ),
        deploy(
            "co-1",
            co,
            "alice",
            "production",
            "success",
            "2024-03-04T10:00:00Z",
            &[2 * H, 5 * H],
        ),
        incident(
            "i1",
            &[co],
            "2024-03-04T11:30:00Z",
            Some("2024-03-04T12:00:00Z"),
            None,
        ),
        deploy(
            "co-2",
            co,
            "bob",
            "Prod",
            "success",
            "2024-03-10T12:00:00Z",
            &[H],
        ),
        deploy(
            "co-2",
            co,
            "bob",
            "Prod",
            "success",
            "2024-03-10T12:00:00Z",
            &[H],
        ),
        deploy(
            "se-1",
            se,
            "carol",
            "live",
            "succeeded",
            "2024-03-05T09:00:00Z",
            &[3 * DAY],
        ),
        incident(
            "i8",
            &[se],
            "2024-03-02T00:00:00Z",
            Some("2024-03-02T05:00:00Z"),
            None,
        ),
        incident(
            "i5",
            &[co],
            "2024-03-01T08:00:00Z",
            Some("2024-03-01T09:00:00Z"),
            None,
        ),
        deploy(
            "co-3",
            co,
            "alice",
            "production",
            "success",
            "2024-03-20T09:00:00Z",
            &[30 * H],
        ),
        incident(
            "i2",
            &[co],
            "2024-03-20T10:00:00Z",
            Some("2024-03-20T16:00:00Z"),
            None,
        ),
        incident(
            "i3",
            &[co],
            "2024-03-20T12:00:00Z",
            Some("2024-03-21T12:00:00Z"),
            None,
        ),
        deploy(
            "co-3",
            co,
            "alice",
            "production",
            "inactive",
            "2024-03-22T09:00:00Z",
            &[30 * H],
        ),
        deploy(
            "se-2",
            se,
            "carol",
            "PRD",
            "success",
            "2024-03-15T14:00:00Z",
            &[12 * H, 6 * H],
        ),
        incident("i4", &[se], "2024-03-26T09:00:00Z", None, Some("se-2")),
        deploy(
            "se-3",
            se,
            "bob",
            "production",
            "success",
            "2024-03-25T10:00:00Z",
            &[50 * H],
        ),
        deploy(
            "co-s",
            co,
            "alice",
            "staging",
            "success",
            "2024-03-27T10:00:00Z",
            &[H],
        ),
        deploy(
            "co-f",
            co,
            "bob",
            "production",
            "failure",
            "2024-03-28T10:00:00Z",
            &[],
        ),
        incident(
            "i7",
            &[co, se],
            "2024-03-29T12:00:00Z",
            Some("2024-03-29T12:20:00Z"),
            None,
        ),
        deploy(
            "co-4",
            co,
            "bob",
            "prod-eu",
            "success",
            "2024-03-26T15:00:00Z",
            &[600, 25 * H],
        ),
        deploy(
            "co-6",
            co,
            "carol",
            "production",
            "success",
            "2024-03-29T11:00:00Z",
            &[-H, 0, 2 * H],
        ),
        deploy(
            "se-p",
            se,
            "carol",
            "pre-prod",
            "success",
            "2024-03-29T09:00:00Z",
            &[H],
        ),
        deploy(
            "se-e",
            se,
            "bob",
            "production",
            "error",
            "2024-03-30T09:00:00Z",
            &[H],
        ),
        deploy(
            "se-4",
            se,
            "carol",
            "production",
            "success",
            "2024-03-30T16:00:00Z",
            &[],
        ),
        incident("i6", &[se], "2024-03-31T07:00:00Z", None, None),
        deploy(
            "co-5",
            co,
            "alice",
            "production",
            "success",
            "2024-03-31T08:00:00Z",
            &[4 * H],
        ),
        incident(
            "i6",
            &[se],
            "2024-03-31T07:00:00Z",
            Some("2024-03-31T07:30:00Z"),
            None,
        ),
    ]
}

const END: Date = date(2024, 3, 31);

/// Both computations, which must agree.
fn both(scope: &Scope, window: Window) -> Metrics {
    let events = events();
    let config = Config::default();
    let b = batch(&config, &events, scope, END, window);
    let i = Buckets::from_events(config, &events).metrics(scope, END, window);
    assert_eq!(
        b, i,
        "batch and incremental differ for {scope:?} {window:?}"
    );
    b
}

#[track_caller]
fn expect(
    m: &Metrics,
    (deployments, failed, incidents): (u32, u32, u32),
    lead: Option<f64>,
    recovery: Option<f64>,
    tiers: [Tier; 4],
) {
    assert_eq!(
        (m.deployments, m.failed_deployments, m.incidents),
        (deployments, failed, incidents),
        "counts"
    );
    let freq = f64::from(deployments) / f64::from(m.window.days());
    assert!((m.deployment_frequency - freq).abs() < 1e-12, "frequency");
    let cfr = (deployments > 0).then(|| f64::from(failed) / f64::from(deployments));
    assert_eq!(m.change_failure_rate, cfr, "change failure rate");
    assert_eq!(m.lead_time_seconds, lead, "lead time");
    assert_eq!(m.recovery_time_seconds, recovery, "recovery");
    let t = m.tiers;
    assert_eq!(
        [
            t.deployment_frequency,
            t.lead_time,
            t.change_failure_rate,
            t.recovery_time
        ],
        tiers,
        "tiers"
    );
    assert!(m.exact());
}

use Tier::*;

#[test]
fn what_each_event_did() {
    let mut b = Buckets::new(Config::default());
    let applied: Vec<Applied> = events().iter().map(|e| b.apply(e)).collect();
    let c = Applied::Counted;
    assert_eq!(
        applied,
        [
            c,
            c,
            c,
            c,
            Applied::Duplicate, // co-2 again
            c,
            c,
            c,
            c,
            c,
            c,
            Applied::Ignored(Skip::NotSuccessful), // co-3 inactive
            c,
            c,
            c,
            Applied::Ignored(Skip::NotProduction), // staging
            Applied::Ignored(Skip::NotSuccessful), // failure
            c,
            c,
            c,
            Applied::Ignored(Skip::NotProduction), // pre-prod
            Applied::Ignored(Skip::NotSuccessful), // error
            c,
            c,
            c,
            Applied::Updated, // i6 resolved
        ]
    );
}

#[test]
fn settled_events_and_attribution() {
    let s = settle(&Config::default(), &events());
    assert_eq!(s.deployment_count(), 11);
    assert_eq!(s.incident_count(), 8);
    assert_eq!(s.attribution("i1"), Some((CHECKOUT, "co-1")));
    assert_eq!(s.attribution("i3"), Some((CHECKOUT, "co-3")));
    // Explicit root cause beats the later se-3.
    assert_eq!(s.attribution("i4"), Some((SEARCH, "se-2")));
    assert_eq!(s.attribution("i5"), Some((CHECKOUT, "co-0")));
    // co-6 (03-29 11:00) is the last deployment of either service before 12:00.
    assert_eq!(s.attribution("i7"), Some((CHECKOUT, "co-6")));
    assert_eq!(s.attribution("i8"), None);
}

#[test]
fn everything_over_a_month() {
    // 03-02..03-31: all counted deployments but co-0 → 10; failed: co-1, co-3, co-6, se-2, se-4
    // → 5, CFR 0.5 (low). Frequency 10/30 ≈ 0.33/day (high).
    // Lead times, sorted: 600, 3600, 7200, 7200, 14400, 18000 | 21600, 43200, 90000, 108000,
    // 180000, 259200 → median (18000 + 21600) / 2 = 19800 s = 5.5 h (elite).
    // Incidents created in the window: i1, i2, i3, i4, i6, i7, i8 → 7 (i5 is on 03-01).
    // Recoveries: 1200, 1800, 1800 | 18000, 21600, 86400 (i4 open) → (1800 + 18000) / 2 = 9900 s
    // (high: over an hour, under a day).
    let m = both(&Scope::All, Window::Month);
    expect(
        &m,
        (10, 5, 7),
        Some(19_800.0),
        Some(9_900.0),
        [High, Elite, Low, High],
    );
    assert_eq!((m.start, m.end), (date(2024, 3, 2), END));
    assert_eq!((m.lead_time_samples, m.recovery_samples), (12, 6));
}

#[test]
fn everything_over_a_week() {
    // 03-25..03-31: co-4, co-6, co-5, se-3, se-4 → 5; failed co-6, se-4 → 2, CFR 0.4 (low);
    // 5/7 ≈ 0.71/day (high). Lead: 600, 7200, 14400, 90000, 180000 → 14400 (elite).
    // Incidents: i4, i7, i6 → 3; recoveries 1200, 1800 → 1500 s (elite, under an hour).
    let m = both(&Scope::All, Window::Week);
    expect(
        &m,
        (5, 2, 3),
        Some(14_400.0),
        Some(1_500.0),
        [High, Elite, Low, Elite],
    );
}

#[test]
fn everything_over_a_day() {
    // 03-31: co-5 only, not failed; lead 14400; incident i6, recovered in 1800 s.
    let m = both(&Scope::All, Window::Day);
    expect(
        &m,
        (1, 0, 1),
        Some(14_400.0),
        Some(1_800.0),
        [Elite, Elite, Elite, Elite],
    );
}

#[test]
fn everything_over_a_quarter() {
    // 01-02..03-31 adds co-0 (failed by i5) and i5: 11 deployments, 6 failed (CFR ≈ 0.55, low);
    // 11/90 ≈ 0.12/day: under once a week, over once a month (medium).
    // Lead adds 1728000: 13 values, the 7th is 21600 (elite).
    // Recoveries add 3600: 1200, 1800, 1800, 3600, 18000, 21600, 86400 → 3600, which is not
    // under an hour (high).
    let m = both(&Scope::All, Window::Quarter);
    expect(
        &m,
        (11, 6, 8),
        Some(21_600.0),
        Some(3_600.0),
        [Medium, Elite, Low, High],
    );
}

#[test]
fn per_service() {
    // checkout, month: co-1..co-6 → 6 (0.2/day, high); failed co-1, co-3, co-6 → 0.5.
    // Lead: 600, 3600, 7200, 7200 | 14400, 18000, 90000, 108000 → (7200 + 14400) / 2 = 10800.
    // Incidents credited: i1, i2, i3, i7 → 4 (i7 via co-6); recoveries 1200, 1800 | 21600,
    // 86400 → 11700 (high).
    let m = both(&Scope::Service(CHECKOUT.into()), Window::Month);
    expect(
        &m,
        (6, 3, 4),
        Some(10_800.0),
        Some(11_700.0),
        [High, Elite, Low, High],
    );

    // search, month: se-1..se-4 → 4 (≈ 0.13/day, medium); failed se-2, se-4 → 0.5.
    // Lead: 21600, 43200 | 180000, 259200 → 111600 s ≈ 31 h (high).
    // Incidents: i4, i6, i8 → 3; recoveries 1800, 18000 → 9900 (high).
    let m = both(&Scope::Service(SEARCH.into()), Window::Month);
    expect(
        &m,
        (4, 2, 3),
        Some(111_600.0),
        Some(9_900.0),
        [Medium, High, Low, High],
    );
}

#[test]
fn per_team() {
    // Every checkout deployment is credited to payments, every search one to discovery, and
    // i8 (unattributed) to discovery by the incident's team: the team metrics equal the
    // service metrics here, computed from the cells instead.
    for (team, service) in [("payments", CHECKOUT), ("discovery", SEARCH)] {
        for w in Window::ALL {
            assert_eq!(
                both(&Scope::Team(team.into()), w),
                both(&Scope::Service(service.into()), w),
                "{team} {w:?}"
            );
        }
    }
    // payments over the quarter: co-0..co-6 → 7 (≈ 0.078/day, medium), 4 failed (co-0, co-1,
    // co-3, co-6). Lead: 600, 3600, 7200, 7200, 14400, 18000, 90000, 108000, 1728000 → 14400.
    // Incidents i1, i2, i3, i5, i7 → 5; recoveries 1200, 1800, 3600, 21600, 86400 → 3600.
    let m = both(&Scope::Team("payments".into()), Window::Quarter);
    expect(
        &m,
        (7, 4, 5),
        Some(14_400.0),
        Some(3_600.0),
        [Medium, Elite, Low, High],
    );
}

#[test]
fn per_person() {
    // alice, month: co-1, co-3, co-5 → 3 (0.1/day, medium); failed co-1, co-3 → 2/3 (low).
    // Lead: 7200, 14400 | 18000, 108000 → 16200. Incidents i1, i2, i3; recoveries 1800, 21600,
    // 86400 → 21600 (high).
    let m = both(&Scope::Person("alice".into()), Window::Month);
    expect(
        &m,
        (3, 2, 3),
        Some(16_200.0),
        Some(21_600.0),
        [Medium, Elite, Low, High],
    );

    // carol, month: co-6, se-1, se-2, se-4 → 4 (medium); failed co-6, se-2, se-4 → 0.75.
    // Lead: 7200, 21600 | 43200, 259200 → 32400. Incidents i4, i6, i7; recoveries 1200, 1800
    // (i4 open) → 1500 (elite).
    let m = both(&Scope::Person("carol".into()), Window::Month);
    expect(
        &m,
        (4, 3, 3),
        Some(32_400.0),
        Some(1_500.0),
        [Medium, Elite, Low, Elite],
    );

    // bob, month: co-2, co-4, se-3 → 3 (medium); none failed → CFR 0 (elite).
    // Lead: 600, 3600 | 90000, 180000 → 46800. No incident: recovery unknown, not elite.
    let m = both(&Scope::Person("bob".into()), Window::Month);
    expect(
        &m,
        (3, 0, 0),
        Some(46_800.0),
        None,
        [Medium, Elite, Elite, Unknown],
    );

    // The three people together are everyone's deployments; i8 is nobody's.
    let people: u32 = ["alice", "bob", "carol"]
        .into_iter()
        .map(|p| both(&Scope::Person(p.into()), Window::Month).deployments)
        .sum();
    assert_eq!(people, 10);
}

#[test]
fn no_data_is_unknown_never_elite() {
    for scope in [
        Scope::Person("dave".into()),
        Scope::Service("component:x/y".into()),
    ] {
        let m = both(&scope, Window::Quarter);
        expect(&m, (0, 0, 0), None, None, [Unknown; 4]);
    }
    // Before anything happened.
    let m = batch(
        &Config::default(),
        &events(),
        &Scope::All,
        date(2024, 1, 1),
        Window::Month,
    );
    assert_eq!(m.tiers.deployment_frequency, Unknown);
    assert_eq!(m.change_failure_rate, None);
}

#[test]
fn every_day_of_march_agrees() {
    let events = events();
    let config = Config::default();
    let b = Buckets::from_events(config.clone(), &events);
    let mut end = date(2024, 2, 1);
    while end <= date(2024, 4, 30) {
        for w in Window::ALL {
            for scope in [Scope::All, Scope::Person("carol".into())] {
                assert_eq!(
                    b.metrics(&scope, end, w),
                    batch(&config, &events, &scope, end, w),
                    "{end} {w:?} {scope:?}"
                );
            }
        }
        end = end.tomorrow().unwrap();
    }
}
