//! Action: the manifest of a self-service operation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::executor::Executor;
use crate::integrations::common::DURATION_PATTERN;

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "actions.nexus.dev",
    version = "v1alpha1",
    kind = "Action",
    namespaced,
    status = "ActionStatus",
    shortname = "nxact",
    category = "nexus",
    category = "actions",
    printcolumn(name = "Title", type_ = "string", json_path = ".spec.title"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(
        name = "Stages",
        type_ = "integer",
        json_path = ".status.approvalStages"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    doc = "A self-service operation: inputs (JSON Schema), executor, approval policy, who may run it, timeout and rollback."
)]
#[serde(rename_all = "camelCase")]
pub struct ActionSpec {
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Version of the manifest, recorded on every run (e.g. `1.2.0`).
    #[schemars(length(min = 1, max = 64))]
    pub version: String,
    /// Catalog kinds a run may target (e.g. `Component`, `AzureResource`). Empty: the action
    /// takes no target (e.g. scaffolding a new service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 32)))]
    pub target_kinds: Vec<String>,
    /// The inputs as a JSON Schema (an object schema). Every run's inputs are validated against
    /// it and defaults are applied before anything else happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::actions::executor::free_form")]
    pub inputs: Option<serde_json::Value>,
    pub executor: Executor,
    #[serde(default)]
    pub approval: ApprovalPolicy,
    /// Who may run it. Empty: everyone who may create ActionRuns in the namespace.
    #[serde(default)]
    pub runners: Subjects,
    /// Longest a run may execute before it fails. Default `30m`.
    #[serde(default = "default_timeout")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("spec.timeout must be a duration such as 30m"))]
    pub timeout: String,
    /// What to run when a run fails after it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Grouping in the catalogue, e.g. `AKS`, `App Service`, `Onboarding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub category: Option<String>,
    /// Scorecard gates a run's target must pass (an Action that promotes to production names
    /// `production-readiness`). A run whose target does not pass is refused before approval
    /// (`Validated=False`, reason `GateFailed`, with what to fix), and the gates are checked
    /// again just before execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<ActionGate>,
}

/// The scorecards whose gate an Action's target must pass.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionGate {
    /// Scorecards as `namespace/name`, or a bare name for a scorecard in the organisation's
    /// scorecard namespace (the controller's `--scorecards-namespace`, `nexus-org` by default).
    /// Every one must allow the target.
    #[schemars(length(min = 1, max = 8), inner(length(min = 1, max = 317)))]
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$'))").message("spec.gate.scorecards entries must be a scorecard name or namespace/name"))]
    pub scorecards: Vec<String>,
}

fn default_timeout() -> String {
    "30m".into()
}

/// Users and groups (as the cluster's authenticator names them: Entra object ids or names).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subjects {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 256)))]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 256)))]
    pub users: Vec<String>,
}

impl Subjects {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.users.is_empty()
    }
}

/// Ordered approval stages. No stages: runs start without approval. One stage with
/// `required: 1`: a single approver; `required: N`: N of the stage's approvers; several stages:
/// each in order, the next opens when the previous is approved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.stages) || self.stages.all(s, self.stages.exists_one(t, t.name == s.name))").message("spec.approval.stages names must be unique"))]
pub struct ApprovalPolicy {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub stages: Vec<ApprovalStage>,
    /// How long the approval may take, from the run's creation. Default `24h`.
    #[serde(default = "default_approval_timeout")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("spec.approval.timeout must be a duration such as 24h"))]
    pub timeout: String,
    /// What happens when the timeout passes: `Reject` (the run is `Expired`) or `Approve`
    /// (time-boxed auto-approval).
    #[serde(default)]
    pub on_timeout: TimeoutAction,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            stages: Vec::new(),
            timeout: default_approval_timeout(),
            on_timeout: TimeoutAction::Reject,
        }
    }
}

fn default_approval_timeout() -> String {
    "24h".into()
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum TimeoutAction {
    #[default]
    Reject,
    Approve,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.approvers.groups) && size(self.approvers.groups) > 0) || (has(self.approvers.users) && size(self.approvers.users) > 0)").message("each approval stage needs approvers (groups or users)"))]
pub struct ApprovalStage {
    /// A DNS label, e.g. `team-lead`, `security`.
    #[schemars(length(min = 1, max = 40))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("stage names are DNS labels (lower case, digits, '-')"))]
    pub name: String,
    pub approvers: Subjects,
    /// Approvals needed (N of the approvers). Default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 10))]
    pub required: i32,
}

fn one() -> i32 {
    1
}

/// Another Action run with inputs mapped from the failed run (`{{ inputs.x }}`,
/// `{{ outputs.y }}`, `{{ target.name }}` templates).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    #[schemars(length(min = 1, max = 253))]
    pub action: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub inputs: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the inputs schema compiles, the executor is complete, the runner grant exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_stages: Option<i32>,
}
