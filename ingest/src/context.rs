//! What a parser needs to know beyond the payload: where entities go (namespace mapping), which
//! Azure tags mean owner/team/environment, and which incident services map to which entities.
//! The controller builds it from an integration's spec; `nexus ingest` from flags.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    pub namespaces: NamespaceMap,
    pub tags: TagMapping,
    pub services: ServiceMapping,
    /// Web URL of the repository that owns the payload (IaC state and deployment outputs are
    /// linked to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// "Now" for facts that need a timestamp the payload lacks; fixed in tests.
    #[serde(skip)]
    pub now: Option<Time>,
}

impl Context {
    /// A context putting everything into one namespace.
    pub fn in_namespace(namespace: &str) -> Self {
        Context {
            namespaces: NamespaceMap {
                default: namespace.into(),
                rules: Vec::new(),
            },
            ..Context::default()
        }
    }

    /// The namespace for a source key (`org/repo`, `org/project/repo`, a resource group, …).
    pub fn namespace_for(&self, key: &str) -> &str {
        self.namespaces.resolve(key)
    }

    pub fn now(&self) -> Time {
        self.now
            .clone()
            .unwrap_or_else(|| Time(jiff::Timestamp::now()))
    }
}

/// Maps source keys to namespaces: the first rule whose pattern matches wins, else `default`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceMap {
    pub default: String,
    #[serde(default)]
    pub rules: Vec<NamespaceRule>,
}

impl Default for NamespaceMap {
    fn default() -> Self {
        NamespaceMap {
            default: "default".into(),
            rules: Vec::new(),
        }
    }
}

impl NamespaceMap {
    pub fn resolve(&self, key: &str) -> &str {
        self.rules
            .iter()
            .find(|r| glob_match(&r.pattern, key))
            .map(|r| r.namespace.as_str())
            .unwrap_or(&self.default)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceRule {
    /// Glob over the source key, case-insensitive: `*` matches any run of characters,
    /// `?` one character. E.g. `contoso/payments-*`.
    pub pattern: String,
    pub namespace: String,
}

/// Globs are the API's (one definition for every crate that matches them).
pub use nexus_api::glob::{glob_chars, glob_match};

/// Which Azure tags carry owner, team, environment and system (first present key wins).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagMapping {
    pub owner: Vec<String>,
    pub team: Vec<String>,
    pub environment: Vec<String>,
    pub system: Vec<String>,
    /// When set, the value of this tag names the namespace (before `NamespaceMap` rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Default for TagMapping {
    fn default() -> Self {
        TagMapping {
            owner: vec!["owner".into()],
            team: vec!["team".into()],
            environment: vec!["environment".into(), "env".into()],
            system: vec!["system".into()],
            namespace: None,
        }
    }
}

impl TagMapping {
    /// The value of the first of `keys` present in `tags` (keys compared case-insensitively).
    pub fn pick<'a>(keys: &[String], tags: &'a BTreeMap<String, String>) -> Option<&'a str> {
        keys.iter().find_map(|k| {
            tags.iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        })
    }
}

/// Incident-tool service (PagerDuty service id or name, Opsgenie team/tag, alert rule) → entity
/// references (`kind:namespace/name`) it affects.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMapping {
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<String>>,
}

impl ServiceMapping {
    /// Entity references for a service key (exact, then case-insensitive).
    pub fn lookup(&self, key: &str) -> &[String] {
        self.entries
            .get(key)
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("contoso/payments-*", "Contoso/Payments-API"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("contoso/pay*", "contoso/checkout"));
    }

    #[test]
    fn first_matching_rule_wins() {
        let m = NamespaceMap {
            default: "catalog".into(),
            rules: vec![
                NamespaceRule {
                    pattern: "contoso/pay*".into(),
                    namespace: "team-payments".into(),
                },
                NamespaceRule {
                    pattern: "contoso/*".into(),
                    namespace: "team-platform".into(),
                },
            ],
        };
        assert_eq!(m.resolve("contoso/payments-api"), "team-payments");
        assert_eq!(m.resolve("contoso/nexus"), "team-platform");
        assert_eq!(m.resolve("other/x"), "catalog");
    }
}
