//! WorkItem: an Azure Boards work item or a GitHub issue linked to catalog entities.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, RefCollector},
    reference::{EntityKind::*, MAX_REF_LEN, ref_list_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "WorkItem",
    namespaced,
    status = "EntityStatus",
    shortname = "wi",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "State", type_ = "string", json_path = ".spec.state"),
    printcolumn(name = "Assignee", type_ = "string", json_path = ".spec.assignee"),
    printcolumn(
        name = "Iteration",
        type_ = "string",
        json_path = ".spec.iteration",
        priority = 1
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
    doc = "A work item (Azure Boards) or issue (GitHub) linked to catalog entities."
)]
#[x_kube(validation = Rule::new("self.provider != 'azureBoards' || (has(self.organization) && has(self.project))").message("spec.organization and spec.project are required when spec.provider is azureBoards").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.provider != 'github' || self.type == 'Issue'").message("spec.type must be Issue when spec.provider is github"))]
#[serde(rename_all = "camelCase")]
pub struct WorkItemSpec {
    #[serde(flatten)]
    pub about: About,
    pub provider: WorkItemProvider,
    /// Number in the source system.
    #[schemars(range(min = 1))]
    pub id: i64,
    #[serde(rename = "type")]
    pub type_: WorkItemType,
    /// State as the source names it (`New`, `Active`, `Resolved`, `Closed`, `open`…).
    #[schemars(length(min = 1, max = 64))]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub project: Option<String>,
    /// Iteration (sprint) path, e.g. `Payments\\Sprint 42`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub iteration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub area_path: Option<String>,
    /// Assignee's email or GitHub login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 320))]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// Entities this work item is about (kind defaults to component).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.relatesTo", &[]))]
    pub relates_to: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WorkItemProvider {
    AzureBoards,
    Github,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum WorkItemType {
    Epic,
    Feature,
    #[serde(rename = "User Story")]
    UserStory,
    #[serde(rename = "Product Backlog Item")]
    ProductBacklogItem,
    Bug,
    Task,
    Issue,
}

impl CatalogEntity for WorkItem {
    const KIND: crate::EntityKind = WorkItem;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        RefCollector::new(self.namespace_or_default())
            .many(
                "spec.relatesTo",
                RelationType::Tracks,
                &self.spec.relates_to,
                Component,
                &[],
            )
            .finish()
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref()
    }
}
