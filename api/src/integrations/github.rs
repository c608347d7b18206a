//! GitHubIntegration: a GitHub App installation whose repositories Nexus catalogs.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, IntegrationStatus, NamespaceMapping, SecretKeyRef};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "integrations.nexus.dev",
    version = "v1alpha1",
    kind = "GitHubIntegration",
    namespaced,
    status = "IntegrationStatus",
    shortname = "ghi",
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
    doc = "A GitHub App installation: repositories, pull requests, deployments, workflow runs, CODEOWNERS, branch protection, SBOM and Dependabot alerts."
)]
#[serde(rename_all = "camelCase")]
pub struct GitHubIntegrationSpec {
    /// GitHub App id.
    #[schemars(range(min = 1))]
    pub app_id: i64,
    /// Installation id; found from `organization` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub installation_id: Option<i64>,
    /// Organisation (or user) the App is installed on.
    #[schemars(length(min = 1, max = 100))]
    pub organization: String,
    /// REST API base URL: `https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise Server.
    #[serde(default = "default_api_url")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^ ]+$')").message("spec.apiUrl must be an http(s) URL"))]
    pub api_url: String,
    /// The App's private key (PEM).
    pub private_key_ref: SecretKeyRef,
    /// The App's webhook secret (HMAC-SHA256 of every delivery is checked against it).
    pub webhook_secret_ref: SecretKeyRef,
    #[serde(default)]
    pub repositories: RepositoryFilter,
    pub namespaces: NamespaceMapping,
    /// How often to poll (webhooks bring changes in between). Default `15m`.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("spec.pollInterval must be a duration such as 15m or 1h"))]
    pub poll_interval: String,
    /// What to read besides repositories (all on by default).
    #[serde(default)]
    pub collect: GitHubCollect,
    /// Where Markdown runbooks are looked for in each repository (`collect.runbooks`).
    #[serde(default)]
    pub runbooks: RunbookDiscovery,
    /// Stop polling and refuse deliveries (they answer 503) without deleting anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

fn default_api_url() -> String {
    "https://api.github.com".into()
}

fn default_interval() -> String {
    "15m".into()
}

/// Which repositories to catalog: included when a name matches `include` (all when empty) and
/// none of `exclude`; archived and forked repositories only when asked.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200), inner(length(max = 256)))]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200), inner(length(max = 256)))]
    pub exclude: Vec<String>,
    /// Only repositories carrying at least one of these topics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(max = 50)))]
    pub topics: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_archived: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_forks: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubCollect {
    #[serde(default = "yes")]
    pub catalog_files: bool,
    #[serde(default = "yes")]
    pub codeowners: bool,
    #[serde(default = "yes")]
    pub pull_requests: bool,
    #[serde(default = "yes")]
    pub branch_protection: bool,
    #[serde(default = "yes")]
    pub dependency_graph: bool,
    #[serde(default = "yes")]
    pub dependabot_alerts: bool,
    /// Markdown runbooks under `spec.runbooks.paths` become Runbook entities.
    #[serde(default = "yes")]
    pub runbooks: bool,
}

impl Default for GitHubCollect {
    fn default() -> Self {
        GitHubCollect {
            catalog_files: true,
            codeowners: true,
            pull_requests: true,
            branch_protection: true,
            dependency_graph: true,
            dependabot_alerts: true,
            runbooks: true,
        }
    }
}

/// Which files of a repository are runbooks, and what happens when one is deleted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunbookDiscovery {
    /// Path patterns relative to the repository root: `*` and `?` match within one path
    /// segment, `**` any number of segments, and a pattern ending in `/` means every `.md`
    /// file below that directory. Only `.md` files are read. Default `runbooks/`.
    #[serde(default = "default_runbook_paths")]
    #[schemars(length(min = 1, max = 20), inner(length(min = 1, max = 256)))]
    #[x_kube(validation = Rule::new("self.all(p, !p.startsWith('/') && !p.contains('..') && !p.contains('\\\\'))").message("spec.runbooks.paths must be relative paths inside the repository (no leading /, no .., no backslash)"))]
    pub paths: Vec<String>,
    /// Delete Runbook entities Nexus created when their file is no longer in the repository
    /// (they are always marked first, with `status.sourceGone`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_missing: bool,
}

impl Default for RunbookDiscovery {
    fn default() -> Self {
        RunbookDiscovery {
            paths: default_runbook_paths(),
            delete_missing: false,
        }
    }
}

fn default_runbook_paths() -> Vec<String> {
    vec!["runbooks/".into()]
}

fn yes() -> bool {
    true
}
