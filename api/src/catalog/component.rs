//! Component: a piece of software — a service, website, library, worker, function, job.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::{About, Lifecycle};
use crate::{
    dora::DoraStatus,
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    facts::DeploymentRecord,
    reference::{EntityKind::*, MAX_REF_LEN, ref_list_rule, ref_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Component",
    namespaced,
    status = "ComponentStatus",
    shortname = "comp",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".spec.lifecycle"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".status.owner.ref"),
    printcolumn(name = "System", type_ = "string", json_path = ".spec.system"),
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
    doc = "A piece of software: a service, website, library, worker, function or job."
)]
#[x_kube(validation = Rule::new("self.type != 'library' || !has(self.environments) || size(self.environments) == 0").message("spec.environments must be empty when spec.type is library: a library is not deployed").reason(Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("!has(self.subcomponentOf) || !has(self.system)").message("spec.system and spec.subcomponentOf are mutually exclusive: a subcomponent inherits the system of its parent"))]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    #[serde(flatten)]
    pub about: About,
    #[serde(rename = "type")]
    pub type_: ComponentType,
    pub lifecycle: Lifecycle,
    /// Owning Team or User (`[kind:][namespace/]name`, kind defaults to team).
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: String,
    /// The System this component belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.system", &[System]))]
    pub system: Option<String>,
    /// Parent component, for a part of a larger component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.subcomponentOf", &[Component]))]
    pub subcomponent_of: Option<String>,
    /// APIs this component implements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.providesApis", &[Api]))]
    pub provides_apis: Vec<String>,
    /// APIs this component calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.consumesApis", &[Api]))]
    pub consumes_apis: Vec<String>,
    /// Anything this component needs at run or build time: components, Azure resources,
    /// packages (kind defaults to component).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.dependsOn", &[Component, AzureResource, Package, System]))]
    pub depends_on: Vec<String>,
    /// The repository holding the source; its CODEOWNERS count for ownership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.repository", &[Repository]))]
    pub repository: Option<String>,
    /// Environments the component is deployed to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.environments", &[Environment]))]
    pub environments: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    #[serde(flatten)]
    pub entity: EntityStatus,
    /// Recent deployments, newest first (GitHub / Azure DevOps ingestion; bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub deployments: Vec<DeploymentRecord>,
    /// DORA four keys in bounded daily buckets (the DORA controller, field manager
    /// `nexus-dora`; `docs/dora.md`). Team and personal metrics are merges of these buckets,
    /// computed by the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dora: Option<DoraStatus>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentType {
    Service,
    Website,
    Library,
    Worker,
    Function,
    Job,
    DataPipeline,
    Tool,
    Documentation,
}

impl CatalogEntity for Component {
    const KIND: crate::EntityKind = Component;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(Some(&s.owner))
            .system(s.system.as_ref())
            .one(
                "spec.subcomponentOf",
                RelationType::PartOf,
                s.subcomponent_of.as_ref(),
                Component,
                &[Component],
            )
            .many(
                "spec.providesApis",
                RelationType::ProvidesApi,
                &s.provides_apis,
                Api,
                &[Api],
            )
            .many(
                "spec.consumesApis",
                RelationType::ConsumesApi,
                &s.consumes_apis,
                Api,
                &[Api],
            )
            .many(
                "spec.dependsOn",
                RelationType::DependsOn,
                &s.depends_on,
                Component,
                &[Component, AzureResource, Package, System],
            )
            .one(
                "spec.repository",
                RelationType::HasRepository,
                s.repository.as_ref(),
                Repository,
                &[Repository],
            )
            .many(
                "spec.environments",
                RelationType::DeployedTo,
                &s.environments,
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
