//! Runbook: operational instructions in Markdown, linked to what they are for.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    facts::SourceGone,
    reference::{EntityKind::*, MAX_REF_LEN, ref_list_rule, ref_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Runbook",
    namespaced,
    status = "RunbookStatus",
    shortname = "rbk",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Title", type_ = "string", json_path = ".spec.title"),
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
    doc = "A Markdown runbook (inline or in a repository) linked to the entities and alerts it covers."
)]
// Both may be set: ingestion from Git stores the Markdown (so it can be searched and rendered)
// together with the file it came from.
#[x_kube(validation = Rule::new("has(self.content) || has(self.source)").message("at least one of spec.content and spec.source must be set").reason(Reason::FieldValueRequired))]
#[serde(rename_all = "camelCase")]
pub struct RunbookSpec {
    #[serde(flatten)]
    pub about: About,
    /// Markdown, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 262144))]
    pub content: Option<String>,
    /// Markdown file in a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RunbookSource>,
    /// Entities this runbook is for (kind defaults to component).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.appliesTo", &[]))]
    pub applies_to: Vec<String>,
    /// Alert rule names this runbook answers, so it can be surfaced next to the alert. `*` and
    /// `?` are wildcards; compared case-insensitively with the incident's `spec.alertRule`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 256)))]
    pub alerts: Vec<String>,
    /// Azure resource types this runbook covers (`microsoft.web/sites`, `microsoft.sql/*`):
    /// surfaced for incidents affecting an AzureResource of a matching `spec.type`.
    /// Case-insensitive; `*` and `?` are wildcards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 200)))]
    #[x_kube(validation = Rule::new("self.all(t, t.matches('^[A-Za-z0-9.*?]+/[A-Za-z0-9./*?]+$'))").message("every entry of spec.resourceTypes must look like microsoft.web/sites (wildcards * and ? allowed)"))]
    pub resource_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunbookSource {
    /// The repository entity holding the file.
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.source.repository", &[Repository]))]
    pub repository: String,
    /// Path of the Markdown file in the repository.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self.endsWith('.md') && !self.startsWith('/') && !self.contains('..')").message("spec.source.path must be a relative path to a .md file"))]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 250))]
    pub r#ref: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunbookStatus {
    #[serde(flatten)]
    pub entity: EntityStatus,
    /// Set when the file a Runbook was read from is no longer in its repository (deleted,
    /// moved, or no longer under the integration's runbook paths). Nexus deletes the Runbook
    /// only when it created it and the integration says `deleteMissing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_gone: Option<SourceGone>,
}

impl CatalogEntity for Runbook {
    const KIND: crate::EntityKind = Runbook;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(s.owner.as_ref())
            .many(
                "spec.appliesTo",
                RelationType::RunbookFor,
                &s.applies_to,
                Component,
                &[],
            )
            .one(
                "spec.source.repository",
                RelationType::HasRepository,
                s.source.as_ref().map(|src| &src.repository),
                Repository,
                &[Repository],
            )
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        OwnerInputs::from_refs(
            refs,
            Some("spec.source.repository"),
            self.annotated_entra_groups(),
        )
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref().map(|s| &s.entity)
    }
}
