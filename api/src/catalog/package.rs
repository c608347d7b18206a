//! Package: a library or image published to a registry.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    facts::PackageConsumer,
    reference::{EntityKind::*, MAX_REF_LEN, ref_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Package",
    namespaced,
    status = "PackageStatus",
    shortname = "nxpkg",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Ecosystem", type_ = "string", json_path = ".spec.ecosystem"),
    printcolumn(name = "Package", type_ = "string", json_path = ".spec.packageName"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(name = "License", type_ = "string", json_path = ".spec.license"),
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
    doc = "A package or image published to a registry; consumers depend on it, CVEs are observed."
)]
#[serde(rename_all = "camelCase")]
pub struct PackageSpec {
    #[serde(flatten)]
    pub about: About,
    pub ecosystem: Ecosystem,
    /// Name in the registry, e.g. `@contoso/ui-kit` or `Contoso.Payments.Client`.
    #[schemars(length(min = 1, max = 214))]
    pub package_name: String,
    /// Latest published version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub version: Option<String>,
    /// SPDX licence expression, e.g. `MIT` or `Apache-2.0 OR MIT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9.+:() -]+$')").message("spec.license must be an SPDX licence expression"))]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub registry_url: Option<String>,
    /// The component whose build publishes this package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.producedBy", &[Component]))]
    pub produced_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Npm,
    Nuget,
    Maven,
    Pypi,
    Cargo,
    Go,
    Container,
    Helm,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageStatus {
    #[serde(flatten)]
    pub entity: EntityStatus,
    /// Known vulnerabilities (written by the GitHub dependency-graph ingestion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulnerabilities: Vec<Vulnerability>,
    /// Repositories whose dependency graph (SBOM) includes this package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub consumers: Vec<PackageConsumer>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vulnerability {
    /// `CVE-…` or `GHSA-…`.
    pub id: String,
    /// `critical`, `high`, `moderate`, `low`.
    pub severity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_versions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Time>,
}

impl CatalogEntity for Package {
    const KIND: crate::EntityKind = Package;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(s.owner.as_ref())
            .one(
                "spec.producedBy",
                RelationType::ProducedBy,
                s.produced_by.as_ref(),
                Component,
                &[Component],
            )
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        OwnerInputs::from_refs(refs, None, self.annotated_entra_groups())
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref().map(|s| &s.entity)
    }
}
