//! Facts that ingestion observes in GitHub, Azure DevOps and Azure and writes into the status of
//! catalog entities under its own server-side-apply field manager (`nexus-github`, `nexus-ado`,
//! `nexus-azure`, …). Lists are bounded recent windows, newest first: history lives in daily
//! aggregates (DORA), never in one object per event.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// How many deployments a Component or Environment keeps in status.
pub const MAX_DEPLOYMENTS: usize = 50;
/// How many open pull requests a Repository keeps in status.
pub const MAX_PULL_REQUESTS: usize = 50;
/// How many pushes (commit timestamps for lead time) a Repository keeps in status.
pub const MAX_PUSHES: usize = 50;
/// How many runs a Pipeline keeps in status.
pub const MAX_RUNS: usize = 25;
/// How many vulnerabilities a Package keeps in status.
pub const MAX_VULNERABILITIES: usize = 100;

/// One deployment of a component to an environment (GitHub `deployment_status`, Azure DevOps
/// release / stage deployment). Feeds DORA: sha, environment, timestamps, status and creator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// Provider-unique id, e.g. `github:<repo-id>:<deployment-id>` or `ado:<project>:<release>:<env>`.
    #[schemars(length(max = 256))]
    pub id: String,
    /// Environment name as the provider spells it (`production`, `Prod`, …).
    #[schemars(length(max = 256))]
    pub environment: String,
    /// Commit deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub sha: Option<String>,
    /// Branch or tag, or the release name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub version: Option<String>,
    /// `pending`, `queued`, `in_progress`, `success`, `failure`, `error`, `inactive`, `canceled`.
    #[schemars(length(max = 32))]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// When the latest status was reported (the deployment finished when it is terminal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// Login or unique name of whoever started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub creator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// Repository (web URL) the deployment came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub repository: Option<String>,
    /// On an Environment: the component deployed (`component:ns/name`) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub component: Option<String>,
}

/// An open pull request on a Repository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestFact {
    pub number: i64,
    #[schemars(length(max = 1024))]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// Login (GitHub) or unique name (Azure Repos) of the author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub source_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub target_branch: Option<String>,
}

/// A push to a branch: commit timestamps for lead time for changes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushFact {
    /// Head commit after the push.
    #[schemars(length(max = 64))]
    pub sha: String,
    #[schemars(length(max = 256))]
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub pusher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<Time>,
    /// Commits in the push, oldest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub commits: Vec<CommitFact>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitFact {
    #[schemars(length(max = 64))]
    pub sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub author: Option<String>,
}

/// Branch protection and rulesets of the default branch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BranchProtectionFacts {
    /// Whether any protection or active ruleset applies to the default branch.
    pub protected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_approving_reviews: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_code_owner_reviews: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 256)))]
    pub required_status_checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_force_pushes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_deletions: Option<bool>,
    /// Names of the active rulesets that target the default branch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 256)))]
    pub rulesets: Vec<String>,
    /// Rule types in force, e.g. `pull_request`, `required_signatures`, `deletion`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 128)))]
    pub rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
}

/// A consumer of a package, from a dependency graph SBOM.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, KubeSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct PackageConsumer {
    /// Repository web URL that depends on the package.
    #[schemars(length(max = 2048))]
    pub repository: String,
    /// Version range or pinned version it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub version: Option<String>,
}

/// Why an entity that ingestion discovered is no longer seen at its source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceGone {
    /// When the source stopped reporting it.
    pub since: Time,
    #[schemars(length(max = 1024))]
    pub reason: String,
}
