//! Repository: a GitHub or Azure Repos repository.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    facts::{BranchProtectionFacts, PullRequestFact, PushFact, SourceGone},
    reference::{EntityKind::*, EntityRef, MAX_REF_LEN, ref_rule},
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Repository",
    namespaced,
    status = "RepositoryStatus",
    shortname = "repo",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".status.owner.ref"),
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
    doc = "A source repository on GitHub or Azure Repos."
)]
#[x_kube(validation = Rule::new("self.provider != 'azureDevOps' || (has(self.organization) && has(self.project))").message("spec.organization and spec.project are required when spec.provider is azureDevOps").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.provider != 'github' || self.url.startsWith('https://github.com/') || has(self.organization)").message("spec.url must be https://github.com/<org>/<repo> for provider github (set spec.organization for GitHub Enterprise hosts)"))]
#[serde(rename_all = "camelCase")]
pub struct RepositorySpec {
    #[serde(flatten)]
    pub about: About,
    pub provider: RepositoryProvider,
    /// Web URL of the repository.
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^https://[^ /]+/[^ ]+$')").message("spec.url must be an https URL of the repository"))]
    pub url: String,
    /// GitHub organisation or Azure DevOps organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub organization: Option<String>,
    /// Azure DevOps project (Azure Repos only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub project: Option<String>,
    #[serde(default = "default_branch")]
    #[schemars(length(max = 250))]
    pub default_branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// Owning Team or User; when absent, CODEOWNERS decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: Option<String>,
}

fn default_branch() -> String {
    "main".into()
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RepositoryProvider {
    Github,
    AzureDevOps,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Visibility {
    Public,
    Internal,
    Private,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStatus {
    #[serde(flatten)]
    pub entity: EntityStatus,
    /// CODEOWNERS facts (written by GitHub / Azure Repos ingestion, field manager nexus-github).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codeowners: Option<CodeownersFacts>,
    /// Open pull requests, newest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub pull_requests: Vec<PullRequestFact>,
    /// Recent pushes to the default branch, newest first (bounded): commit times for lead time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub pushes: Vec<PushFact>,
    /// Branch protection and rulesets of the default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_protection: Option<BranchProtectionFacts>,
    /// Set when the source no longer reports a repository Nexus discovered (archived, deleted,
    /// or out of the installation's reach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_gone: Option<SourceGone>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeownersFacts {
    /// Owners of the repository root (`*`), as written: `@org/team-slug`, `@login` or an email.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Path of the CODEOWNERS file that was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
}

impl CatalogEntity for Repository {
    const KIND: crate::EntityKind = Repository;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        RefCollector::new(self.namespace_or_default())
            .owner(self.spec.owner.as_ref())
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        let ns = self.namespace_or_default();
        OwnerInputs {
            repository: self
                .metadata
                .name
                .as_ref()
                .map(|n| EntityRef::new(Repository, ns, n.clone())),
            codeowners: self
                .status
                .as_ref()
                .and_then(|s| s.codeowners.as_ref())
                .map(|c| c.owners.clone())
                .unwrap_or_default(),
            ..OwnerInputs::from_refs(refs, None, self.annotated_entra_groups())
        }
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref().map(|s| &s.entity)
    }
}
