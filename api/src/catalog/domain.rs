//! Domain: a business area grouping systems.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    reference::{EntityKind::*, MAX_REF_LEN, ref_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Domain",
    namespaced,
    status = "EntityStatus",
    shortname = "dom",
    category = "nexus",
    category = "catalog",
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
    doc = "A business area that groups systems (Backstage Domain)."
)]
#[serde(rename_all = "camelCase")]
pub struct DomainSpec {
    #[serde(flatten)]
    pub about: About,
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: String,
    /// Parent domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.subdomainOf", &[Domain]))]
    pub subdomain_of: Option<String>,
}

impl CatalogEntity for Domain {
    const KIND: crate::EntityKind = Domain;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(Some(&s.owner))
            .one(
                "spec.subdomainOf",
                RelationType::PartOf,
                s.subdomain_of.as_ref(),
                Domain,
                &[Domain],
            )
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        OwnerInputs::from_refs(refs, None, self.annotated_entra_groups())
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref()
    }
}
