//! DORA four keys in status: bounded daily buckets, never one object per event.
//!
//! A [`DoraStatus`] belongs to one service (a Component). Its `days` hold one entry per UTC date
//! and per cell (the team and person a deployment is credited to), so team and personal metrics
//! are merges of the same buckets. The `deployments` and `incidents` ledgers remember the recent
//! events by id: they are what lets an incremental update skip a deployment it has already
//! counted and move an incident to another deployment when a late event changes the
//! attribution. Everything is bounded; what a bound drops is counted. A Team's or a User's
//! status needs only `days`, merged per date (`nexus_dora::Buckets::rollup`). The `nexus-dora`
//! crate computes and reads these types; `docs/dora.md` explains the semantics.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::{Schema, transform::RecursiveTransform};
use serde::{Deserialize, Serialize};

use crate::reference::MAX_REF_LEN;

/// Most distinct dates `days` keeps: a year plus a quarter and change. Windows reach back a
/// quarter at most; the rest is there for trends.
pub const MAX_DORA_DATES: usize = 400;
/// Most entries `days` keeps (a date has one entry per team and person that deployed).
pub const MAX_DORA_DAY_ENTRIES: usize = 800;
/// Most lead-time samples one day entry keeps.
pub const MAX_DORA_LEAD_TIMES_PER_DAY: usize = 32;
/// Most recovery samples one day entry keeps.
pub const MAX_DORA_RECOVERIES_PER_DAY: usize = 16;
/// Most deployments the ledger keeps (per service).
pub const MAX_DORA_DEPLOYMENTS: usize = 100;
/// Most incidents the ledger keeps (per service).
pub const MAX_DORA_INCIDENTS: usize = 100;
/// Most services an incident's ledger entry names.
pub const MAX_DORA_INCIDENT_SERVICES: usize = 16;

/// DORA state of one service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(int64_format))]
pub struct DoraStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// Daily buckets, oldest first, sorted by date, team, person; only days with data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 800))]
    pub days: Vec<DoraDay>,
    /// Day entries dropped to stay within the bounds (oldest dates go first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_days: u32,
    /// Days before this date (`YYYY-MM-DD`) are no longer changed: they were dropped, or kept
    /// from before a recompute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), length(max = 10))]
    pub frozen_before: Option<String>,
    /// Events at or before this instant are no longer applied: the ledger entries that would
    /// de-duplicate or attribute them have been dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<Time>,
    /// Events ignored because they came at or before the horizon.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ignored_late: u32,
    /// Counted deployments, newest first (ledger for de-duplication and attribution).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub deployments: Vec<DoraDeployment>,
    /// The newest deployment dropped from the ledger: an incident after the horizon with no
    /// newer deployment before it is still attributed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_dropped_deployment: Option<DoraDeployment>,
    /// Incidents counted for this service, newest first (ledger for updates and
    /// re-attribution).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub incidents: Vec<DoraIncident>,
    /// The last recompute request (annotation [`RECOMPUTE_ANNOTATION`]) the controller handled
    /// on this service, so that a request is carried out once, also across restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recompute: Option<DoraRecompute>,
}

/// Annotation on a Component asking the DORA controller to recompute every service's buckets
/// from a date (`YYYY-MM-DD`, UTC) on, from the events still available (`docs/dora.md`).
pub const RECOMPUTE_ANNOTATION: &str = "dora.nexus.dev/recompute";

/// What became of a recompute request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoraRecompute {
    /// The annotation's value as handled.
    #[schemars(length(max = 64))]
    pub requested: String,
    /// `Recomputed` or `Rejected`.
    pub outcome: DoraRecomputeOutcome,
    /// What was done, or why not.
    #[schemars(length(max = 1024))]
    pub message: String,
    pub at: Time,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum DoraRecomputeOutcome {
    Recomputed,
    Rejected,
}

/// One day (UTC) of one cell: the deployments a team and person made and the incidents credited
/// to them (attributed to their deployments).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(int64_format))]
pub struct DoraDay {
    /// `YYYY-MM-DD`, UTC.
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), length(max = 10))]
    pub date: String,
    /// Team the deployments were credited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 330))]
    pub team: Option<String>,
    /// Person who started the deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub person: Option<String>,
    /// Successful production deployments that finished this day.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deployments: u32,
    /// Of those, the ones with at least one incident attributed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_deployments: u32,
    /// Incidents created this day.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incidents: u32,
    /// Lead times (deployment finished − commit time) in seconds, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub lead_times: Vec<u32>,
    /// Lead-time samples not kept because the day was full.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lead_times_dropped: u32,
    /// Recovery times (resolved − created) in seconds of the incidents created this day,
    /// ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub recoveries: Vec<u32>,
    /// Recovery samples not kept because the day was full.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recoveries_dropped: u32,
}

/// A counted deployment in the ledger.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(int64_format))]
pub struct DoraDeployment {
    #[schemars(length(max = 256))]
    pub id: String,
    pub finished_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 330))]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub person: Option<String>,
    /// Incidents attributed to it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incidents: u32,
}

/// A counted incident in the ledger.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoraIncident {
    #[schemars(length(max = 512))]
    pub id: String,
    pub created_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Time>,
    /// Services it affects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = MAX_REF_LEN)))]
    pub services: Vec<String>,
    /// Team it is credited to while no deployment is attributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 330))]
    pub team: Option<String>,
    /// Explicit root-cause reference: id of the deployment that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub caused_by: Option<String>,
    /// The deployment (of this service) it is attributed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DoraDeployment>,
}

/// Kubernetes knows the integer formats `int32` and `int64`; schemars writes `uint32` for a
/// `u32`, which the API server would warn about.
fn int64_format(schema: &mut Schema) {
    if schema.get("format").and_then(|f| f.as_str()) == Some("uint32") {
        schema.insert("format".into(), "int64".into());
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_status_serialises_to_an_empty_object() {
        let json = serde_json::to_string(&DoraStatus::default()).unwrap();
        assert_eq!(json, "{}");
    }

    #[test]
    fn day_is_camel_case_and_skips_zeroes() {
        let day = DoraDay {
            date: "2024-03-01".into(),
            deployments: 2,
            lead_times: vec![60, 120],
            ..Default::default()
        };
        let json = serde_json::to_value(&day).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"date": "2024-03-01", "deployments": 2, "leadTimes": [60, 120]})
        );
    }

    #[test]
    fn schema_bounds_every_list() {
        let schema = serde_json::to_value(schemars::schema_for!(DoraStatus)).unwrap();
        let props = &schema["properties"];
        assert_eq!(props["days"]["maxItems"], MAX_DORA_DAY_ENTRIES);
        assert_eq!(props["deployments"]["maxItems"], MAX_DORA_DEPLOYMENTS);
        assert_eq!(props["incidents"]["maxItems"], MAX_DORA_INCIDENTS);
        let day = &props["days"]["items"]["properties"];
        assert_eq!(day["leadTimes"]["maxItems"], MAX_DORA_LEAD_TIMES_PER_DAY);
        assert_eq!(day["recoveries"]["maxItems"], MAX_DORA_RECOVERIES_PER_DAY);
        let incident = &props["incidents"]["items"]["properties"];
        assert_eq!(incident["services"]["maxItems"], MAX_DORA_INCIDENT_SERVICES);
        // Only the integer formats Kubernetes knows.
        let text = schema.to_string();
        assert!(!text.contains("uint32"), "{text}");
        assert!(text.contains("int64"));
    }
}
