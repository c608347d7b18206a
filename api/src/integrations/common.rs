//! Pieces every integration kind shares: Secret references, namespace mapping, Azure
//! credentials, and the status block.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A key of a Secret in the integration's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Where discovered entities go: the first rule whose pattern matches the source key wins,
/// otherwise `default`. Keys: GitHub `owner/repo`, Azure DevOps `org/project[/repo]`, Azure
/// `subscriptionId/resourceGroup`, incidents the service name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceMapping {
    #[schemars(length(min = 1, max = 63))]
    pub default: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub rules: Vec<NamespaceRule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceRule {
    /// Case-insensitive glob: `*` any run of characters, `?` one character.
    #[schemars(length(min = 1, max = 512))]
    pub pattern: String,
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
}

/// How Nexus authenticates to Azure (Resource Graph, ARM): Entra workload identity (the pod's
/// federated token), or a client secret held in a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.workloadIdentity) != has(self.clientSecretRef)").message("set exactly one of auth.workloadIdentity and auth.clientSecretRef"))]
pub struct AzureAuth {
    /// Entra tenant id.
    #[schemars(length(min = 1, max = 64))]
    pub tenant_id: String,
    /// Application (client) id of the managed identity or app registration.
    #[schemars(length(min = 1, max = 64))]
    pub client_id: String,
    /// Use the federated token the workload identity webhook mounts
    /// (`AZURE_FEDERATED_TOKEN_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// Entra authority host, e.g. `https://login.microsoftonline.com` (sovereign clouds differ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub authority_host: Option<String>,
}

/// What every integration reports. Written by the controller (field manager
/// `nexus-ingestion`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: `True` (reason `Healthy`) once a delivery or sync succeeded and nothing failed
    /// since; `False` with reason `Failing` (the message is the last error) or
    /// `ConfigurationInvalid` (a referenced Secret or key is missing); `Unknown` (`Waiting`)
    /// before anything happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// When the last full poll finished successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// When the last verified webhook delivery arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_webhook_time: Option<Time>,
    /// Resume points, so a restart continues without a full re-scan (e.g. `workItemsChangedSince`,
    /// `resourceGraphSyncedAt`). Values are opaque to people.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cursors: BTreeMap<String, String>,
    /// Counters over all replicas and restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<IntegrationCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// Remaining API budget as the provider last reported it (GitHub primary rate limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationCounts {
    /// Webhook deliveries verified and queued.
    pub deliveries_accepted: i64,
    /// Deliveries refused: bad or missing signature, replayed, too large.
    pub deliveries_rejected: i64,
    /// Deliveries or responses of a type Nexus does not use.
    pub ignored: i64,
    /// Objects and status facts written.
    pub applied: i64,
    /// Failed parses, API calls and writes.
    pub errors: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub time: Time,
    /// What failed, e.g. `GET /installation/repositories: 401 Bad credentials`.
    #[schemars(length(max = 2048))]
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitStatus {
    pub remaining: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<Time>,
}

/// A Go-style duration text (`90s`, `15m`, `1h30m`) as used in specs.
pub const DURATION_PATTERN: &str = "^([0-9]+([.][0-9]+)?(ms|s|m|h))+$";

/// Parses a duration like `15m` or `1h30m`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('s', _) => 1.0,
            ('m', _) => 60.0,
            ('h', _) => 3600.0,
            _ => return None,
        };
        let n: f64 = num.parse().ok()?;
        total += n * unit;
        num.clear();
        any = true;
    }
    (any && num.is_empty() && total.is_finite()).then(|| std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("15m"),
            Some(std::time::Duration::from_secs(900))
        );
        assert_eq!(
            parse_duration("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(parse_duration("15"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration(""), None);
    }
}
