//! System: a set of components and APIs that together provide one capability.

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
    kind = "System",
    namespaced,
    status = "EntityStatus",
    shortname = "sys",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Owner", type_ = "string", json_path = ".status.owner.ref"),
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domain"),
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
    doc = "A collection of components, APIs and resources that together provide one capability."
)]
#[serde(rename_all = "camelCase")]
pub struct SystemSpec {
    #[serde(flatten)]
    pub about: About,
    /// Owning Team or User.
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: String,
    /// The business Domain the system belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.domain", &[Domain]))]
    pub domain: Option<String>,
}

impl CatalogEntity for System {
    const KIND: crate::EntityKind = System;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(Some(&s.owner))
            .one(
                "spec.domain",
                RelationType::PartOf,
                s.domain.as_ref(),
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
