//! DORA performance tiers.
//!
//! The 2023 Accelerate State of DevOps report describes four clusters (elite, high, medium,
//! low) by typical values, and its low cluster overlaps medium for deployment frequency and
//! lead time; change failure rate is given as cluster values (5 %, 10 %, 15 %, 64 %). Turning
//! them into contiguous cut-offs follows Apache DevLake's "2023 report" benchmarks:
//!
//! | metric | elite | high | medium | low |
//! |---|---|---|---|---|
//! | deployment frequency (average per day) | ≥ 1 | ≥ 1/7 | ≥ 1/30 | < 1/30 |
//! | lead time for changes (median) | < 1 day | < 1 week | < 30 days | ≥ 30 days |
//! | change failure rate | ≤ 5 % | ≤ 10 % | ≤ 15 % | > 15 % |
//! | failed deployment recovery time (median) | < 1 hour | < 1 day | < 1 week | ≥ 1 week |
//!
//! Elite deployment frequency is "on demand, multiple deploys per day"; an average of at least
//! one per day is how a count over a window can say it. A metric without data has tier
//! [`Tier::Unknown`], never elite.

use serde::Serialize;

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;
const WEEK: f64 = 7.0 * DAY;
const MONTH: f64 = 30.0 * DAY;

/// Elite needs at least one deployment per day on average.
pub const ELITE_DEPLOYS_PER_DAY: f64 = 1.0;
/// High: at least once per week.
pub const HIGH_DEPLOYS_PER_DAY: f64 = 1.0 / 7.0;
/// Medium: at least once per month (30 days).
pub const MEDIUM_DEPLOYS_PER_DAY: f64 = 1.0 / 30.0;
/// Lead-time cut-offs (seconds): elite below the first, high below the second, medium below
/// the third.
pub const LEAD_TIME_CUTOFFS: [f64; 3] = [DAY, WEEK, MONTH];
/// Change-failure-rate cut-offs (fractions): elite at or below the first, and so on.
pub const CHANGE_FAILURE_CUTOFFS: [f64; 3] = [0.05, 0.10, 0.15];
/// Recovery-time cut-offs (seconds): elite below the first, and so on.
pub const RECOVERY_CUTOFFS: [f64; 3] = [HOUR, DAY, WEEK];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Elite,
    High,
    Medium,
    Low,
    /// No data in the window.
    Unknown,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Elite => "elite",
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
            Tier::Unknown => "unknown",
        }
    }
}

/// The tier of each key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tiers {
    pub deployment_frequency: Tier,
    pub lead_time: Tier,
    pub change_failure_rate: Tier,
    pub recovery_time: Tier,
}

/// From the average number of deployments per day. No deployment in the window is no data:
/// a quiet service and one whose deployments are not ingested look the same.
pub fn deployment_frequency_tier(per_day: Option<f64>) -> Tier {
    match per_day {
        Some(f) if f.is_finite() && f > 0.0 => {
            if f >= ELITE_DEPLOYS_PER_DAY {
                Tier::Elite
            } else if f >= HIGH_DEPLOYS_PER_DAY {
                Tier::High
            } else if f >= MEDIUM_DEPLOYS_PER_DAY {
                Tier::Medium
            } else {
                Tier::Low
            }
        }
        _ => Tier::Unknown,
    }
}

/// From the median lead time in seconds.
pub fn lead_time_tier(median_seconds: Option<f64>) -> Tier {
    below(median_seconds, LEAD_TIME_CUTOFFS)
}

/// From the change failure rate as a fraction (0.0–1.0).
pub fn change_failure_rate_tier(rate: Option<f64>) -> Tier {
    match rate {
        Some(r) if r.is_finite() && r >= 0.0 => {
            let [elite, high, medium] = CHANGE_FAILURE_CUTOFFS;
            if r <= elite {
                Tier::Elite
            } else if r <= high {
                Tier::High
            } else if r <= medium {
                Tier::Medium
            } else {
                Tier::Low
            }
        }
        _ => Tier::Unknown,
    }
}

/// From the median recovery time in seconds.
pub fn recovery_time_tier(median_seconds: Option<f64>) -> Tier {
    below(median_seconds, RECOVERY_CUTOFFS)
}

fn below(value: Option<f64>, [elite, high, medium]: [f64; 3]) -> Tier {
    match value {
        Some(v) if v.is_finite() && v >= 0.0 => {
            if v < elite {
                Tier::Elite
            } else if v < high {
                Tier::High
            } else if v < medium {
                Tier::Medium
            } else {
                Tier::Low
            }
        }
        _ => Tier::Unknown,
    }
}
