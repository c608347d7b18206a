//! ActionApproval: one approver's decision on one stage of one run.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "actions.nexus.dev",
    version = "v1alpha1",
    kind = "ActionApproval",
    namespaced,
    status = "ActionApprovalStatus",
    shortname = "nxappr",
    category = "nexus",
    category = "actions",
    printcolumn(name = "Run", type_ = "string", json_path = ".spec.run"),
    printcolumn(name = "Stage", type_ = "string", json_path = ".spec.stage"),
    printcolumn(name = "Decision", type_ = "string", json_path = ".spec.decision"),
    printcolumn(name = "Author", type_ = "string", json_path = ".spec.author"),
    printcolumn(
        name = "Counted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Counted\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    doc = "An approval or rejection of one stage of one ActionRun, by its author."
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("an ActionApproval cannot be changed; create another"))]
#[serde(rename_all = "camelCase")]
pub struct ActionApprovalSpec {
    /// The ActionRun, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    pub run: String,
    /// The stage decided.
    #[schemars(length(min = 1, max = 40))]
    pub stage: String,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub comment: Option<String>,
    /// Who decides. Must be the authenticated user who creates the approval (admission policy).
    #[schemars(length(min = 1, max = 256))]
    pub author: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionApprovalStatus {
    /// `Counted`: True when the run counted it; False with the reason when it did not (the
    /// stage was already decided, the author is not an approver, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}
