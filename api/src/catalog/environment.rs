//! Environment: a deployment target (dev, test, staging, prod) in a region and subscription.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    facts::DeploymentRecord,
    reference::{EntityKind::*, MAX_REF_LEN, ref_rule},
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Environment",
    namespaced,
    status = "EnvironmentStatus",
    shortname = "nxenv",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Stage", type_ = "string", json_path = ".spec.stage"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(
        name = "Subscription",
        type_ = "string",
        json_path = ".spec.subscriptionId",
        priority = 1
    ),
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
    doc = "A deployment environment: stage, region, subscription; services link to it."
)]
#[x_kube(validation = Rule::new("self.stage != 'prod' || has(self.subscriptionId)").message("spec.subscriptionId is required when spec.stage is prod").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.stage != 'prod' || !has(self.protected) || self.protected").message("spec.protected cannot be false for a prod environment"))]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    #[serde(flatten)]
    pub about: About,
    pub stage: Stage,
    /// Azure region, e.g. `westeurope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("spec.subscriptionId must be a GUID"))]
    pub subscription_id: Option<String>,
    /// AKS cluster or other runtime hosting the environment, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub runtime: Option<String>,
    /// Changes need an approval (Day-2 actions honour this). Always true for prod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.system", &[System]))]
    pub system: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Dev,
    Test,
    Staging,
    Prod,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    #[serde(flatten)]
    pub entity: EntityStatus,
    /// Recent deployments into this environment, newest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub deployments: Vec<DeploymentRecord>,
}

impl CatalogEntity for Environment {
    const KIND: crate::EntityKind = Environment;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(s.owner.as_ref())
            .system(s.system.as_ref())
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        OwnerInputs::from_refs(refs, None, self.annotated_entra_groups())
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref().map(|s| &s.entity)
    }
}
