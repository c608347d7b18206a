//! IncidentSource: alerts and incidents pushed by Azure Monitor, PagerDuty or Opsgenie.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{IntegrationStatus, NamespaceMapping, SecretKeyRef};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "integrations.nexus.dev",
    version = "v1alpha1",
    kind = "IncidentSource",
    namespaced,
    status = "IntegrationStatus",
    shortname = "incsrc",
    category = "nexus",
    category = "integrations",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(
        name = "Last delivery",
        type_ = "date",
        json_path = ".status.lastWebhookTime"
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
    doc = "An incident tool that pushes alerts to Nexus: Azure Monitor action groups (common alert schema), PagerDuty V3 webhooks or Opsgenie webhooks."
)]
#[serde(rename_all = "camelCase")]
pub struct IncidentSourceSpec {
    pub provider: IncidentProvider,
    /// How deliveries are verified. PagerDuty: the subscription's signing secret
    /// (`X-PagerDuty-Signature`). Azure Monitor and Opsgenie: a shared token the sender puts in
    /// the `X-Nexus-Token` header or the `token` query parameter of the webhook URL.
    pub verification_secret_ref: SecretKeyRef,
    /// Service key (PagerDuty service id or name, Opsgenie team or tag, Azure Monitor alert rule
    /// or target resource id) → entity refs the incident affects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_mapping: BTreeMap<String, Vec<String>>,
    pub namespaces: NamespaceMapping,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IncidentProvider {
    AzureMonitor,
    Pagerduty,
    Opsgenie,
}
