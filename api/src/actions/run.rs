//! ActionRun: one request to run an Action, and its state machine as conditions.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{action::ActionSpec, approval::Decision};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "actions.nexus.dev",
    version = "v1alpha1",
    kind = "ActionRun",
    namespaced,
    status = "ActionRunStatus",
    shortname = "nxrun",
    category = "nexus",
    category = "actions",
    printcolumn(name = "Action", type_ = "string", json_path = ".spec.action"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(name = "Requester", type_ = "string", json_path = ".spec.requester"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    doc = "One run of an Action against a target, with approvals, execution, outputs and a log tail."
)]
#[x_kube(validation = Rule::new("self.action == oldSelf.action && self.requester == oldSelf.requester && self.inputs == oldSelf.inputs && ((!has(self.target) && !has(oldSelf.target)) || (has(self.target) && has(oldSelf.target) && self.target == oldSelf.target))").message("an ActionRun's action, target, inputs and requester cannot change; create a new run"))]
#[x_kube(validation = Rule::new("!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)").message("a cancelled run cannot be un-cancelled"))]
#[x_kube(validation = Rule::new("self.attempt >= oldSelf.attempt").message("spec.attempt only increases (raise it by one to retry a failed run)"))]
#[serde(rename_all = "camelCase")]
pub struct ActionRunSpec {
    /// The Action, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    pub action: String,
    /// The catalog entity the run acts on (`kind:namespace/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub target: Option<String>,
    /// Inputs; validated against the Action's JSON Schema, defaults applied.
    #[serde(default)]
    #[schemars(schema_with = "crate::actions::executor::free_form")]
    pub inputs: serde_json::Value,
    /// Who asks. Must be the authenticated user who creates the run (an admission policy
    /// rejects anything else), so it is recorded from the request, not taken on trust.
    #[schemars(length(min = 1, max = 256))]
    pub requester: String,
    /// Stop the run: a pending run is not executed, a running Job is deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel: bool,
    /// Attempt number; raise it by one to retry a failed run (same inputs, same approvals).
    #[serde(default = "first_attempt")]
    #[schemars(range(min = 1, max = 10))]
    pub attempt: i32,
}

fn first_attempt() -> i32 {
    1
}

/// Condition types, in the order a run passes them.
pub mod condition {
    pub const VALIDATED: &str = "Validated";
    pub const APPROVED: &str = "Approved";
    pub const REJECTED: &str = "Rejected";
    pub const EXPIRED: &str = "Expired";
    pub const RUNNING: &str = "Running";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const ROLLED_BACK: &str = "RolledBack";
    pub const CANCELLED: &str = "Cancelled";
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRunStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Summary of the conditions: `Pending`, `Invalid`, `Refused` (the target does not pass
    /// the Action's scorecard gate), `WaitingForApproval`, `Approved`, `Running`, `Succeeded`,
    /// `Failed`, `Rejected`, `Expired`, `Cancelled`, `RolledBack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The Action as it was when the run was validated: editing the Action never changes a run
    /// in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<PinnedAction>,
    /// The inputs after validation, with defaults applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::actions::executor::free_form")]
    pub inputs: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageStatus>,
    /// When the approval window closes (`spec.approval.timeout` after creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_deadline: Option<Time>,
    /// The execution of the current attempt: recorded before anything is started, so a
    /// restarted controller knows an attempt already began and never starts it twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
    /// Values the executor returned (e.g. previous replicas, a pipeline run id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// The last lines of the executor's log (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub log_tail: Vec<String>,
    /// The rollback run started after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PinnedAction {
    pub generation: i64,
    pub version: String,
    pub spec: ActionSpec,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    pub name: String,
    pub required: i32,
    /// `Waiting` (not open yet), `Open`, `Approved`, `Rejected`, `Expired`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<RecordedApproval>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedApproval {
    /// The ActionApproval object.
    pub name: String,
    pub author: String,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub time: Time,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub attempt: i32,
    /// The executor used.
    pub executor: String,
    /// Job name, or the external id of what was started (pipeline run, ARM operation…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub started_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The command an `exec` ran, recorded for audit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}
