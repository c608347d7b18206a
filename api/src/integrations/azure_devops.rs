//! AzureDevOpsIntegration: an Azure DevOps organisation's projects, repositories, pipelines,
//! releases and work items.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    AzureAuth, DURATION_PATTERN, IntegrationStatus, NamespaceMapping, SecretKeyRef,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "integrations.nexus.dev",
    version = "v1alpha1",
    kind = "AzureDevOpsIntegration",
    namespaced,
    status = "IntegrationStatus",
    shortname = "adoi",
    category = "nexus",
    category = "integrations",
    printcolumn(
        name = "Organization",
        type_ = "string",
        json_path = ".spec.organization"
    ),
    printcolumn(name = "Last sync", type_ = "date", json_path = ".status.lastSyncTime"),
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
    doc = "An Azure DevOps organisation: repositories, pipelines and runs, release deployments, pull requests and work items."
)]
#[x_kube(validation = Rule::new("has(self.patRef) != has(self.azure)").message("set exactly one of spec.patRef and spec.azure (Entra workload identity)"))]
#[serde(rename_all = "camelCase")]
pub struct AzureDevOpsIntegrationSpec {
    /// Organisation name as in `https://dev.azure.com/<organization>`.
    #[schemars(length(min = 1, max = 100))]
    pub organization: String,
    /// Projects to read; all projects of the organisation when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = 64)))]
    pub projects: Vec<String>,
    /// REST base URL, `https://dev.azure.com` (or an Azure DevOps Server collection URL host).
    #[serde(default = "default_api_url")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^ ]+$')").message("spec.apiUrl must be an http(s) URL"))]
    pub api_url: String,
    /// A personal access token (scopes: Code read, Build read, Release read, Work Items read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pat_ref: Option<SecretKeyRef>,
    /// Entra ID credentials (service principal / workload identity added to the organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureAuth>,
    /// Shared secret service hooks send as the basic-auth password (or `X-Nexus-Token` header).
    pub service_hook_secret_ref: SecretKeyRef,
    pub namespaces: NamespaceMapping,
    /// Area path or work-item tag → entity refs the work items relate to.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub work_item_mapping: std::collections::BTreeMap<String, Vec<String>>,
    /// How often to poll. Default `15m`.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("spec.pollInterval must be a duration such as 15m or 1h"))]
    pub poll_interval: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

fn default_api_url() -> String {
    "https://dev.azure.com".into()
}

fn default_interval() -> String {
    "15m".into()
}
