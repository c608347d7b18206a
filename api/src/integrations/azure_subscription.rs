//! AzureSubscriptionSource: Azure resources read through Azure Resource Graph.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{AzureAuth, DURATION_PATTERN, IntegrationStatus, NamespaceMapping};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "integrations.nexus.dev",
    version = "v1alpha1",
    kind = "AzureSubscriptionSource",
    namespaced,
    status = "IntegrationStatus",
    shortname = "azsrc",
    category = "nexus",
    category = "integrations",
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
    doc = "Azure subscriptions or management groups whose resources become AzureResource entities (via Azure Resource Graph)."
)]
#[x_kube(validation = Rule::new("size(self.subscriptions) + size(self.managementGroups) > 0").message("set spec.subscriptions or spec.managementGroups"))]
#[serde(rename_all = "camelCase")]
pub struct AzureSubscriptionSourceSpec {
    #[serde(default)]
    #[schemars(length(max = 500), inner(length(max = 36)))]
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'))").message("spec.subscriptions must be subscription GUIDs"))]
    pub subscriptions: Vec<String>,
    #[serde(default)]
    #[schemars(length(max = 100), inner(length(max = 90)))]
    pub management_groups: Vec<String>,
    /// Extra Resource Graph (KQL) condition, appended as `| where <filter>`; e.g.
    /// `type in~ ('microsoft.web/sites', 'microsoft.sql/servers/databases')`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    #[x_kube(validation = Rule::new("!self.contains('|')").message("spec.filter is a where-condition, it cannot contain a pipe"))]
    pub filter: Option<String>,
    #[serde(default)]
    pub tag_mapping: TagMapping,
    pub namespaces: NamespaceMapping,
    pub auth: AzureAuth,
    /// Azure Resource Manager endpoint. Default `https://management.azure.com`.
    #[serde(default = "default_arm_url")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^ ]+$')").message("spec.armUrl must be an http(s) URL"))]
    pub arm_url: String,
    /// Delete AzureResource entities Nexus created when Azure no longer reports them (they are
    /// always marked first, with `status.sourceGone`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_missing: bool,
    /// How often to poll. Default `30m`.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("spec.pollInterval must be a duration such as 30m or 1h"))]
    pub poll_interval: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Which Azure tag keys carry owner, team, environment and system (first present key wins).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagMapping {
    #[serde(default = "owner")]
    #[schemars(length(max = 10), inner(length(max = 512)))]
    pub owner: Vec<String>,
    #[serde(default = "team")]
    #[schemars(length(max = 10), inner(length(max = 512)))]
    pub team: Vec<String>,
    #[serde(default = "environment")]
    #[schemars(length(max = 10), inner(length(max = 512)))]
    pub environment: Vec<String>,
    #[serde(default = "system")]
    #[schemars(length(max = 10), inner(length(max = 512)))]
    pub system: Vec<String>,
    /// A tag whose value names the namespace (checked before `namespaces.rules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub namespace: Option<String>,
}

impl Default for TagMapping {
    fn default() -> Self {
        TagMapping {
            owner: owner(),
            team: team(),
            environment: environment(),
            system: system(),
            namespace: None,
        }
    }
}

fn owner() -> Vec<String> {
    vec!["owner".into()]
}
fn team() -> Vec<String> {
    vec!["team".into()]
}
fn environment() -> Vec<String> {
    vec!["environment".into(), "env".into()]
}
fn system() -> Vec<String> {
    vec!["system".into()]
}

fn default_arm_url() -> String {
    "https://management.azure.com".into()
}

fn default_interval() -> String {
    "30m".into()
}
