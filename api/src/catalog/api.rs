//! API: an interface a component provides and others consume.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::{About, Lifecycle};
use crate::{
    entity::{CatalogEntity, DeclaredRef, OWNER_KINDS, OwnerInputs, RefCollector},
    reference::{EntityKind::*, MAX_REF_LEN, ref_rule},
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "API",
    root = "ApiEntity",
    plural = "apis",
    singular = "api",
    namespaced,
    status = "EntityStatus",
    shortname = "nxapi",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".spec.lifecycle"),
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
    doc = "An API: type, version, definition, SLA and auth scheme; providers and consumers are components."
)]
#[x_kube(validation = Rule::new("has(self.definition) != has(self.definitionUrl)").message("exactly one of spec.definition and spec.definitionUrl must be set").reason(Reason::FieldValueRequired))]
#[serde(rename_all = "camelCase")]
pub struct ApiSpec {
    #[serde(flatten)]
    pub about: About,
    #[serde(rename = "type")]
    pub type_: ApiType,
    pub lifecycle: Lifecycle,
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.owner", OWNER_KINDS))]
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.system", &[System]))]
    pub system: Option<String>,
    /// Version of the contract, e.g. `v2` or `2024-06-01`.
    #[schemars(length(min = 1, max = 64))]
    pub version: String,
    /// The definition inline (OpenAPI, AsyncAPI, GraphQL SDL, protobuf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 262144))]
    pub definition: Option<String>,
    /// Where the definition lives instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^ ]+$')").message("spec.definitionUrl must be an http(s) URL"))]
    pub definition_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_scheme: Option<AuthScheme>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiType {
    Openapi,
    Asyncapi,
    Graphql,
    Grpc,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthScheme {
    None,
    ApiKey,
    Oauth2,
    EntraId,
    Mtls,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.availability) || !self.availability.matches('^[0-9]{1,3}(\\\\.[0-9]+)?$') || (double(self.availability) > 0.0 && double(self.availability) <= 100.0)").message("spec.sla.availability must be a percentage in (0, 100]"))]
pub struct Sla {
    /// Availability target in percent, e.g. `"99.9"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{1,3}(\\\\.[0-9]+)?$')").message("spec.sla.availability must be a number like 99.95"))]
    pub availability: Option<String>,
    /// 99th percentile latency target in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub latency_p99_ms: Option<i64>,
    /// Requests per second the API is sized for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub rate_limit_rps: Option<i64>,
}

impl CatalogEntity for ApiEntity {
    const KIND: crate::EntityKind = Api;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .owner(Some(&s.owner))
            .system(s.system.as_ref())
            .finish()
    }

    fn owner_inputs(&self, refs: &[DeclaredRef]) -> OwnerInputs {
        OwnerInputs::from_refs(refs, None, self.annotated_entra_groups())
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref()
    }
}
