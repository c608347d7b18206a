//! Pipeline: an Azure Pipelines definition or a GitHub Actions workflow.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    reference::{EntityKind::*, MAX_REF_LEN, ref_list_rule, ref_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Pipeline",
    namespaced,
    status = "PipelineStatus",
    shortname = "pipe",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(name = "Component", type_ = "string", json_path = ".spec.component"),
    printcolumn(
        name = "Last Run",
        type_ = "string",
        json_path = ".status.lastRun.result"
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
    doc = "A CI/CD pipeline: an Azure Pipelines definition or a GitHub Actions workflow."
)]
#[x_kube(validation = Rule::new("self.provider != 'azurePipelines' || has(self.azurePipelines)").message("spec.azurePipelines is required when spec.provider is azurePipelines").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.provider != 'githubActions' || has(self.githubActions)").message("spec.githubActions is required when spec.provider is githubActions").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("!(has(self.azurePipelines) && has(self.githubActions))").message("spec.azurePipelines and spec.githubActions are mutually exclusive"))]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    #[serde(flatten)]
    pub about: About,
    pub provider: PipelineProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_pipelines: Option<AzurePipelinesRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_actions: Option<GithubActionsRef>,
    /// The component this pipeline builds and deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.component", &[Component]))]
    pub component: Option<String>,
    /// The repository the pipeline builds from; its CODEOWNERS count for ownership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.repository", &[Repository]))]
    pub repository: Option<String>,
    /// Environments this pipeline deploys to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.deploysTo", &[Environment]))]
    pub deploys_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PipelineProvider {
    AzurePipelines,
    GithubActions,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzurePipelinesRef {
    #[schemars(length(min = 1, max = 100))]
    pub organization: String,
    #[schemars(length(min = 1, max = 100))]
    pub project: String,
    /// Build definition id.
    #[schemars(range(min = 1))]
    pub definition_id: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GithubActionsRef {
    /// Workflow file, e.g. `.github/workflows/deploy.yml`.
    #[schemars(length(max = 500))]
    #[x_kube(validation = Rule::new("self.matches('^\\\\.github/workflows/[^/]+\\\\.ya?ml$')").message("spec.githubActions.workflow must be a path like .github/workflows/<name>.yml"))]
    pub workflow: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStatus {
    #[serde(flatten)]
    pub entity: EntityStatus,
    /// The latest run (written by ingestion, field manager nexus-ado / nexus-github).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<PipelineRun>,
    /// The most recent runs, newest first, bounded by ingestion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_runs: Vec<PipelineRun>,
    /// Run stages waiting for a manual approval, newest first (written by ingestion from Azure
    /// Pipelines approval events; an approval leaves the list when it completes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub pending_approvals: Vec<PendingApproval>,
}

/// How many pending approvals a Pipeline keeps in status.
pub const MAX_PENDING_APPROVALS: usize = 20;

/// A run stage waiting for approval (Azure Pipelines checks and approvals).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingApproval {
    /// The provider's approval id.
    #[schemars(length(max = 64))]
    pub id: String,
    /// The run that waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub run_id: Option<String>,
    /// The stage that waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_required_approvers: Option<i64>,
    /// Who may approve (unique name, display name or id, as the provider gives it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 256)))]
    pub approvers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRun {
    pub id: String,
    /// `succeeded`, `failed`, `canceled`, `inProgress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl CatalogEntity for Pipeline {
    const KIND: crate::EntityKind = Pipeline;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(s.owner.as_ref())
            .one(
                "spec.component",
                RelationType::Builds,
                s.component.as_ref(),
                Component,
                &[Component],
            )
            .one(
                "spec.repository",
                RelationType::HasRepository,
                s.repository.as_ref(),
                Repository,
                &[Repository],
            )
            .many(
                "spec.deploysTo",
                RelationType::DeploysTo,
                &s.deploys_to,
                Environment,
                &[Environment],
            )
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        OwnerInputs::from_refs(refs, Some("spec.repository"), self.annotated_entra_groups())
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref().map(|s| &s.entity)
    }
}
