//! Windows, scopes and the four keys computed over them.

use jiff::{ToSpan, civil::Date};
use serde::Serialize;

use crate::{
    model::Cell,
    samples::median,
    tier::{
        Tiers, change_failure_rate_tier, deployment_frequency_tier, lead_time_tier,
        recovery_time_tier,
    },
};

/// A rolling window of whole UTC days ending at (and including) a given date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// The end date alone.
    Day,
    /// 7 days.
    Week,
    /// 30 days.
    Month,
    /// 90 days.
    Quarter,
}

impl Window {
    pub const ALL: [Window; 4] = [Window::Day, Window::Week, Window::Month, Window::Quarter];

    pub const fn days(self) -> i32 {
        match self {
            Window::Day => 1,
            Window::Week => 7,
            Window::Month => 30,
            Window::Quarter => 90,
        }
    }

    /// First date of the window that ends at `end`.
    pub fn start(self, end: Date) -> Date {
        end.checked_sub((self.days() - 1).days())
            .unwrap_or(Date::MIN)
    }

    pub fn contains(self, end: Date, date: Date) -> bool {
        self.start(end) <= date && date <= end
    }
}

/// Whose metrics: everything, one service, one team or one person. Team and person metrics
/// merge the buckets credited to them across services.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    /// A service, by its reference (`component:<namespace>/<name>`).
    Service(String),
    /// A team, as deployments name it.
    Team(String),
    /// A person (login or unique name), as deployments name their creator.
    Person(String),
}

impl Scope {
    pub(crate) fn matches(&self, service: &str, cell: &Cell) -> bool {
        self.matches_parts(service, cell.team.as_deref(), cell.person.as_deref())
    }

    pub(crate) fn matches_parts(
        &self,
        service: &str,
        team: Option<&str>,
        person: Option<&str>,
    ) -> bool {
        match self {
            Scope::All => true,
            Scope::Service(s) => s == service,
            Scope::Team(t) => team == Some(t.as_str()),
            Scope::Person(p) => person == Some(p.as_str()),
        }
    }

    /// The one service this scope is limited to, if any.
    pub(crate) fn service(&self) -> Option<&str> {
        match self {
            Scope::Service(s) => Some(s),
            _ => None,
        }
    }
}

/// The four keys over one window, with their tiers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub window: Window,
    /// First date of the window (UTC).
    pub start: Date,
    /// Last date of the window (UTC), included.
    pub end: Date,
    /// Successful production deployments that finished in the window.
    pub deployments: u32,
    /// Of those, the ones with at least one incident attributed.
    pub failed_deployments: u32,
    /// Incidents created in the window.
    pub incidents: u32,
    /// Deployments per day, averaged over the window.
    pub deployment_frequency: f64,
    /// Median lead time for changes, seconds.
    pub lead_time_seconds: Option<f64>,
    /// Failed deployments / deployments (0.0–1.0).
    pub change_failure_rate: Option<f64>,
    /// Median time from creation to resolution of the incidents created in the window, seconds.
    pub recovery_time_seconds: Option<f64>,
    /// Lead-time samples the median was taken over.
    pub lead_time_samples: u32,
    /// Lead-time samples dropped by the daily caps (the median is then an estimate).
    pub lead_times_dropped: u32,
    /// Recovery samples the median was taken over (resolved incidents).
    pub recovery_samples: u32,
    /// Recovery samples dropped by the daily caps.
    pub recoveries_dropped: u32,
    pub tiers: Tiers,
}

impl Metrics {
    /// Whether the medians are exact (no daily cap dropped a sample in the window).
    pub fn exact(&self) -> bool {
        self.lead_times_dropped == 0 && self.recoveries_dropped == 0
    }
}

/// Sums of one window, before the medians and rates.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub deployments: u32,
    pub failed_deployments: u32,
    pub incidents: u32,
    pub lead_times: Vec<u32>,
    pub lead_times_dropped: u32,
    pub recoveries: Vec<u32>,
    pub recoveries_dropped: u32,
}

impl Totals {
    pub fn finish(self, window: Window, end: Date) -> Metrics {
        let deployment_frequency = f64::from(self.deployments) / f64::from(window.days());
        let change_failure_rate = (self.deployments > 0)
            .then(|| f64::from(self.failed_deployments) / f64::from(self.deployments));
        let lead_time_samples = count(&self.lead_times);
        let recovery_samples = count(&self.recoveries);
        let lead_time_seconds = median(self.lead_times);
        let recovery_time_seconds = median(self.recoveries);
        Metrics {
            window,
            start: window.start(end),
            end,
            deployments: self.deployments,
            failed_deployments: self.failed_deployments,
            incidents: self.incidents,
            deployment_frequency,
            lead_time_seconds,
            change_failure_rate,
            recovery_time_seconds,
            lead_time_samples,
            lead_times_dropped: self.lead_times_dropped,
            recovery_samples,
            recoveries_dropped: self.recoveries_dropped,
            tiers: Tiers {
                deployment_frequency: deployment_frequency_tier(Some(deployment_frequency)),
                lead_time: lead_time_tier(lead_time_seconds),
                change_failure_rate: change_failure_rate_tier(change_failure_rate),
                recovery_time: recovery_time_tier(recovery_time_seconds),
            },
        }
    }
}

fn count(v: &[u32]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn windows_end_on_the_given_date() {
        let end = date(2024, 3, 31);
        assert_eq!(Window::Day.start(end), end);
        assert_eq!(Window::Week.start(end), date(2024, 3, 25));
        assert_eq!(Window::Month.start(end), date(2024, 3, 2));
        assert_eq!(Window::Quarter.start(end), date(2024, 1, 2));
        assert!(Window::Week.contains(end, date(2024, 3, 25)));
        assert!(!Window::Week.contains(end, date(2024, 3, 24)));
        assert!(!Window::Week.contains(end, date(2024, 4, 1)));
    }
}
