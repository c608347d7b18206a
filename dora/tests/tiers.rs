//! Tier boundaries (DORA 2023 report, contiguous cut-offs as in Apache DevLake).
#![allow(clippy::unwrap_used)]

use nexus_dora::{
    Tier::{self, *},
    tier::{
        change_failure_rate_tier, deployment_frequency_tier, lead_time_tier, recovery_time_tier,
    },
};

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

#[track_caller]
fn check(f: fn(Option<f64>) -> Tier, cases: &[(Option<f64>, Tier)]) {
    for (v, tier) in cases {
        assert_eq!(f(*v), *tier, "{v:?}");
    }
}

#[test]
fn deployment_frequency() {
    check(
        deployment_frequency_tier,
        &[
            (Some(3.0), Elite),
            (Some(1.0), Elite), // once a day on average: on demand
            (Some(0.99), High),
            (Some(1.0 / 7.0), High), // once a week
            (Some(0.99 / 7.0), Medium),
            (Some(1.0 / 30.0), Medium), // once a month
            (Some(0.99 / 30.0), Low),
            (Some(1.0 / 90.0), Low),
            (Some(0.0), Unknown), // nothing deployed: no data, never elite
            (None, Unknown),
            (Some(f64::NAN), Unknown),
        ],
    );
}

#[test]
fn lead_time() {
    check(
        lead_time_tier,
        &[
            (Some(0.0), Elite),
            (Some(DAY - 1.0), Elite),
            (Some(DAY), High),
            (Some(7.0 * DAY - 1.0), High),
            (Some(7.0 * DAY), Medium),
            (Some(30.0 * DAY - 1.0), Medium),
            (Some(30.0 * DAY), Low),
            (None, Unknown),
            (Some(-1.0), Unknown),
        ],
    );
}

#[test]
fn change_failure_rate() {
    check(
        change_failure_rate_tier,
        &[
            (Some(0.0), Elite),
            (Some(0.05), Elite),
            (Some(0.0501), High),
            (Some(0.10), High),
            (Some(0.1001), Medium),
            (Some(0.15), Medium),
            (Some(0.1501), Low),
            (Some(0.64), Low),
            (Some(1.0), Low),
            (None, Unknown), // no deployment in the window
        ],
    );
}

#[test]
fn recovery_time() {
    check(
        recovery_time_tier,
        &[
            (Some(0.0), Elite),
            (Some(HOUR - 1.0), Elite),
            (Some(HOUR), High),
            (Some(DAY - 1.0), High),
            (Some(DAY), Medium),
            (Some(7.0 * DAY - 1.0), Medium),
            (Some(7.0 * DAY), Low),
            (None, Unknown), // no resolved incident
        ],
    );
}

#[test]
fn names() {
    let names: Vec<&str> = [Elite, High, Medium, Low, Unknown]
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(names, ["elite", "high", "medium", "low", "unknown"]);
    assert_eq!(serde_json::to_string(&Unknown).unwrap(), "\"unknown\"");
}
