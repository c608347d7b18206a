//! Grants by name. RBAC rules with `resourceNames` give one user single entities; a
//! SubjectAccessReview can confirm such a grant but cannot list it. So Roles and ClusterRoles
//! are watched for catalog rules with resource names, and those names become candidates that
//! each user's visibility checks with a named SubjectAccessReview. The review stays the
//! authority; the watch only says which names are worth asking about.

use std::{
    collections::BTreeSet,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use futures::StreamExt;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use kube::{
    Api, Client,
    runtime::{WatchStreamExt, reflector, watcher},
};
use nexus_api::EntityKind;
use tokio_util::sync::CancellationToken;

use super::visibility::CATALOG_GROUP;

/// A name some rule grants `get` on: kinds it covers, the name, and the namespace (None for a
/// ClusterRole, which a RoleBinding may use in any namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NamedGrant {
    pub kinds: Vec<EntityKind>,
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Default)]
pub struct NameGrants {
    grants: RwLock<BTreeSet<NamedGrant>>,
    version: AtomicU64,
}

impl NameGrants {
    pub fn snapshot(&self) -> Vec<NamedGrant> {
        self.grants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Changes whenever the set of candidate names changes (visibility memo key).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    fn replace(&self, grants: BTreeSet<NamedGrant>) {
        let mut current = self.grants.write().unwrap_or_else(|p| p.into_inner());
        if *current != grants {
            *current = grants;
            self.version.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Follows Roles and ClusterRoles until `cancel`. Without permission to list them (the
    /// chart grants it) name grants simply are not discovered; entity pages still honour them.
    pub fn spawn_watch(self: &std::sync::Arc<Self>, client: Client, cancel: CancellationToken) {
        let (roles_reader, roles_writer) = reflector::store::<Role>();
        let (cluster_reader, cluster_writer) = reflector::store::<ClusterRole>();
        // Every event, not just applied objects: the stores take the initial list only at
        // `InitDone`, and a deleted Role must drop its grants too.
        let roles = reflector(
            roles_writer,
            watcher(Api::<Role>::all(client.clone()), watcher::Config::default()).default_backoff(),
        )
        .map(|_| ());
        let cluster_roles = reflector(
            cluster_writer,
            watcher(Api::<ClusterRole>::all(client), watcher::Config::default()).default_backoff(),
        )
        .map(|_| ());
        let this = self.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(futures::stream::select(roles, cluster_roles));
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    event = events.next() => if event.is_none() { return },
                }
                let mut grants = BTreeSet::new();
                for role in roles_reader.state() {
                    let ns = role.metadata.namespace.clone();
                    for rule in role.rules.iter().flatten() {
                        grants.extend(grants_of(rule, ns.clone()));
                    }
                }
                for role in cluster_reader.state() {
                    for rule in role.rules.iter().flatten() {
                        grants.extend(grants_of(rule, None));
                    }
                }
                this.replace(grants);
            }
        });
    }
}

/// The named catalog `get` grants of one rule.
pub fn grants_of(rule: &PolicyRule, namespace: Option<String>) -> Vec<NamedGrant> {
    let names = rule.resource_names.clone().unwrap_or_default();
    let groups = rule.api_groups.clone().unwrap_or_default();
    let gets = rule.verbs.iter().any(|v| v == "get" || v == "*");
    if names.is_empty() || !gets || !groups.iter().any(|g| g == CATALOG_GROUP || g == "*") {
        return Vec::new();
    }
    let resources = rule.resources.clone().unwrap_or_default();
    let kinds: Vec<EntityKind> = EntityKind::ALL
        .into_iter()
        .filter(|k| resources.iter().any(|r| r == "*" || r == k.plural()))
        .collect();
    if kinds.is_empty() {
        return Vec::new();
    }
    names
        .into_iter()
        .map(|name| NamedGrant {
            kinds: kinds.clone(),
            namespace: namespace.clone(),
            name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
        let v = |xs: &[&str]| Some(xs.iter().map(|s| s.to_string()).collect());
        PolicyRule {
            api_groups: v(groups),
            resources: v(resources),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            resource_names: v(names),
            ..Default::default()
        }
    }

    #[test]
    fn only_named_catalog_get_rules_are_candidates() {
        let g = grants_of(
            &rule(
                &["catalog.nexus.dev"],
                &["components", "apis"],
                &["get"],
                &["checkout"],
            ),
            Some("pay".into()),
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].kinds, [EntityKind::Component, EntityKind::Api]);
        assert_eq!(g[0].namespace.as_deref(), Some("pay"));
        assert!(
            grants_of(
                &rule(&["catalog.nexus.dev"], &["components"], &["list"], &["x"]),
                None
            )
            .is_empty()
        );
        assert!(grants_of(&rule(&["apps"], &["components"], &["get"], &["x"]), None).is_empty());
        assert!(
            grants_of(
                &rule(&["catalog.nexus.dev"], &["components"], &["get"], &[]),
                None
            )
            .is_empty()
        );
        assert_eq!(
            grants_of(&rule(&["*"], &["*"], &["*"], &["x"]), None)[0]
                .kinds
                .len(),
            14
        );
    }
}
