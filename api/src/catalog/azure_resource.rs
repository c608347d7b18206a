//! AzureResource: anything with an ARM resource id.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    facts::SourceGone,
    reference::{EntityKind::*, MAX_REF_LEN, ref_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "AzureResource",
    namespaced,
    status = "AzureResourceStatus",
    shortname = "azr",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(name = "SKU", type_ = "string", json_path = ".spec.sku", priority = 1),
    printcolumn(
        name = "Resource Group",
        type_ = "string",
        json_path = ".spec.resourceGroup",
        priority = 1
    ),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health.state"),
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
    doc = "An Azure resource, identified by its ARM resource id."
)]
#[x_kube(validation = Rule::new("self.resourceId.lowerAscii().startsWith('/subscriptions/' + self.subscriptionId.lowerAscii() + '/resourcegroups/' + self.resourceGroup.lowerAscii() + '/')").message("spec.resourceId must lie in spec.subscriptionId and spec.resourceGroup"))]
// Nested types (Microsoft.Sql/servers/databases) put the parent's name between type segments,
// so only the namespace and the first type segment are compared.
#[x_kube(validation = Rule::new("self.resourceId.lowerAscii().contains('/providers/' + self.type.lowerAscii().split('/')[0] + '/' + self.type.lowerAscii().split('/')[1] + '/')").message("spec.type must match the provider namespace and resource type in spec.resourceId"))]
#[serde(rename_all = "camelCase")]
pub struct AzureResourceSpec {
    #[serde(flatten)]
    pub about: About,
    /// ARM resource id. Immutable: a different id is a different resource.
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.matches('^/(?i:subscriptions)/[0-9a-fA-F-]{36}/(?i:resourcegroups)/[-\\\\w._()]+/(?i:providers)/[\\\\w.]+/[^ ]+$')").message("spec.resourceId must be an ARM id /subscriptions/<guid>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.resourceId is immutable"))]
    pub resource_id: String,
    /// Resource type, e.g. `Microsoft.Web/sites`.
    #[serde(rename = "type")]
    #[schemars(length(max = 200))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9.]+/[A-Za-z0-9./]+$')").message("spec.type must look like Microsoft.Web/sites"))]
    pub type_: String,
    #[schemars(length(max = 36))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("spec.subscriptionId must be a GUID"))]
    pub subscription_id: String,
    #[schemars(length(min = 1, max = 90))]
    pub resource_group: String,
    /// Azure region, e.g. `westeurope`.
    #[schemars(length(min = 1, max = 64))]
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub sku: Option<String>,
    /// Azure tags; `owner` and `team` count for ownership when nothing better names one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 50))]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.system", &[System]))]
    pub system: Option<String>,
    /// The environment this resource belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.environment", &[Environment]))]
    pub environment: Option<String>,
    /// The repository whose infrastructure code (Terraform, Bicep/ARM) declares the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.repository", &[Repository]))]
    pub repository: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureResourceStatus {
    #[serde(flatten)]
    pub entity: EntityStatus,
    /// Resource Health (written by Azure ingestion, field manager nexus-azure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ResourceHealth>,
    /// Cost (written by FinOps ingestion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<ResourceCost>,
    /// Tags as last observed in Azure.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub observed_tags: BTreeMap<String, String>,
    /// Entra ID groups holding Owner/Contributor on the resource, as observed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entra_groups: Vec<String>,
    /// Set when Azure Resource Graph no longer reports a resource: it was deleted in Azure or
    /// moved out of the sources' scope. Nexus deletes the entity only when it created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_gone: Option<SourceGone>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceHealth {
    /// `Available`, `Degraded`, `Unavailable` or `Unknown` (Azure Resource Health).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceCost {
    /// Amount as a decimal string, e.g. `"1234.56"`.
    pub amount: String,
    pub currency: String,
    /// Billing period, e.g. `2026-11` (month to date).
    pub period: String,
}

impl CatalogEntity for AzureResource {
    const KIND: crate::EntityKind = AzureResource;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(s.owner.as_ref())
            .system(s.system.as_ref())
            .one(
                "spec.environment",
                RelationType::DeployedTo,
                s.environment.as_ref(),
                Environment,
                &[Environment],
            )
            .one(
                "spec.repository",
                RelationType::HasRepository,
                s.repository.as_ref(),
                Repository,
                &[Repository],
            )
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        let mut tags = self.spec.tags.clone();
        let mut groups = self.annotated_entra_groups();
        if let Some(st) = &self.status {
            // Observed tags win: Azure is the source of truth for what is tagged now.
            tags.extend(st.observed_tags.clone());
            groups.extend(st.entra_groups.iter().map(|g| g.to_ascii_lowercase()));
        }
        OwnerInputs {
            azure_tags: tags,
            ..OwnerInputs::from_refs(refs, None, groups)
        }
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref().map(|s| &s.entity)
    }
}
