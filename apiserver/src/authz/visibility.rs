//! Which entities one user may see, computed from SubjectAccessReviews per (kind, namespace)
//! holding entities — cluster-wide first, so the common "developers read the whole catalog"
//! binding costs one review per kind — and memoised per user until the TTL passes or the set of
//! (kind, namespace) pairs changes.

use std::{sync::Arc, time::Duration};

use rustc_hash::FxHashSet as HashSet;

use futures::{StreamExt, stream};
use moka::sync::Cache as Memo;
use nexus_api::{EntityKind, EntityRef};

use super::{
    grants::NameGrants,
    sar::{Attributes, Authorizer, AuthzError},
};
use crate::{authn::UserInfo, cache::Cache};

pub const CATALOG_GROUP: &str = "catalog.nexus.dev";
/// SubjectAccessReviews in flight at once for one visibility computation.
const PARALLEL_REVIEWS: usize = 16;

#[derive(Debug, Default, Clone)]
pub struct Visibility {
    /// Kinds the user may get in every namespace.
    all_namespaces: HashSet<EntityKind>,
    /// (kind, namespace) pairs the user may get.
    namespaces: HashSet<(EntityKind, Arc<str>)>,
    /// Single entities granted by name (`resourceNames`).
    names: HashSet<EntityRef>,
    /// Answered from last-known permissions because the apiserver was unreachable.
    pub stale: bool,
}

impl Visibility {
    /// Sees the given kinds in the given namespaces (tests).
    pub fn namespaces(pairs: impl IntoIterator<Item = (EntityKind, &'static str)>) -> Self {
        Self {
            namespaces: pairs
                .into_iter()
                .map(|(k, ns)| (k, Arc::from(ns)))
                .collect(),
            ..Self::default()
        }
    }

    /// Sees everything (tests, benchmarks).
    pub fn everything() -> Self {
        Self {
            all_namespaces: EntityKind::ALL.into_iter().collect(),
            ..Self::default()
        }
    }

    pub fn can_see(&self, id: &EntityRef) -> bool {
        self.all_namespaces.contains(&id.kind)
            || self.namespaces.contains(&(id.kind, id.namespace.clone()))
            || self.names.contains(id)
    }

    /// Whether every entity of `kind` in `namespace` is visible.
    pub fn covers(&self, kind: EntityKind, namespace: &Arc<str>) -> bool {
        self.all_namespaces.contains(&kind) || self.namespaces.contains(&(kind, namespace.clone()))
    }

    /// Entities visible by a name grant only.
    pub fn named(&self) -> impl Iterator<Item = &EntityRef> {
        self.names.iter()
    }

    /// The same visibility plus one entity granted by name.
    pub fn with_name(&self, id: EntityRef) -> Self {
        let mut v = self.clone();
        v.names.insert(id);
        v
    }

    pub fn sees_all_of(&self, kind: EntityKind) -> bool {
        self.all_namespaces.contains(&kind)
    }

    pub fn sees_everything(&self) -> bool {
        self.all_namespaces.len() == EntityKind::ALL.len()
    }
}

pub struct VisibilityResolver {
    authorizer: Arc<Authorizer>,
    grants: Arc<NameGrants>,
    memo: Memo<(Arc<UserInfo>, u64, u64), Arc<Visibility>>,
}

impl VisibilityResolver {
    pub fn new(authorizer: Arc<Authorizer>, ttl: Duration) -> Self {
        Self::with_grants(authorizer, Arc::new(NameGrants::default()), ttl)
    }

    /// With name grants discovered from RBAC (see [`NameGrants::spawn_watch`]).
    pub fn with_grants(
        authorizer: Arc<Authorizer>,
        grants: Arc<NameGrants>,
        ttl: Duration,
    ) -> Self {
        Self {
            authorizer,
            grants,
            memo: Memo::builder()
                .max_capacity(20_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    pub fn authorizer(&self) -> &Arc<Authorizer> {
        &self.authorizer
    }

    pub async fn resolve(&self, user: &Arc<UserInfo>, cache: &Cache) -> Arc<Visibility> {
        let key = (
            user.clone(),
            cache.read().layout_version(),
            self.grants.version(),
        );
        if let Some(v) = self.memo.get(&key) {
            return v;
        }
        let mut visibility = Visibility::default();
        let mut stale = false;
        let cluster_wide =
            EntityKind::ALL.map(|kind| (kind, Attributes::get(CATALOG_GROUP, kind.plural(), None)));
        visibility.all_namespaces = self.allowed(user, &mut stale, cluster_wide).await;
        let per_namespace: Vec<_> = cache
            .read()
            .partitions()
            .filter(|(kind, _, _)| !visibility.all_namespaces.contains(kind))
            .map(|(kind, ns, _)| {
                let attributes = Attributes::get(CATALOG_GROUP, kind.plural(), Some(ns));
                ((kind, ns.clone()), attributes)
            })
            .collect();
        visibility.namespaces = self.allowed(user, &mut stale, per_namespace).await;
        // Entities RBAC grants by name: confirm each candidate with a named review.
        let named: Vec<_> = self
            .name_candidates(cache, &visibility)
            .into_iter()
            .map(|id| {
                let attributes =
                    Attributes::get(CATALOG_GROUP, id.kind.plural(), Some(&id.namespace))
                        .named(&id.name);
                (id, attributes)
            })
            .collect();
        visibility.names = self.allowed(user, &mut stale, named).await;
        visibility.stale = stale;
        let visibility = Arc::new(visibility);
        // A stale answer is not memoised: the next request asks again.
        if !stale {
            self.memo.insert(key, visibility.clone());
        }
        visibility
    }

    /// Asks every question at once (bounded); returns the subjects allowed. A question nobody
    /// can answer now (kube-apiserver down, never asked before) hides what it covers and sets
    /// `stale`, instead of failing the whole answer.
    async fn allowed<T: Eq + std::hash::Hash>(
        &self,
        user: &Arc<UserInfo>,
        stale: &mut bool,
        questions: impl IntoIterator<Item = (T, Attributes)>,
    ) -> HashSet<T> {
        let answers: Vec<_> = stream::iter(questions)
            .map(|(subject, attributes)| async move {
                (subject, self.authorizer.check(user, &attributes).await)
            })
            .buffer_unordered(PARALLEL_REVIEWS)
            .collect()
            .await;
        let mut allowed = HashSet::default();
        for (subject, decision) in answers {
            match decision {
                Ok(decision) => {
                    *stale |= decision.stale;
                    if decision.allowed {
                        allowed.insert(subject);
                    }
                }
                Err(_) => *stale = true,
            }
        }
        allowed
    }

    /// Existing entities some Role or ClusterRole names in `resourceNames` and `visibility`
    /// does not already cover.
    fn name_candidates(&self, cache: &Cache, visibility: &Visibility) -> Vec<EntityRef> {
        let store = cache.read();
        let mut ids = Vec::new();
        for grant in self.grants.snapshot() {
            let namespaces: Vec<Arc<str>> = match &grant.namespace {
                Some(ns) => vec![Arc::from(ns.as_str())],
                None => grant
                    .kinds
                    .iter()
                    .flat_map(|k| store.namespaces_of(*k).cloned())
                    .collect(),
            };
            for kind in &grant.kinds {
                for ns in &namespaces {
                    let id = EntityRef::new(*kind, ns.clone(), grant.name.as_str());
                    if store.get(&id).is_some() && !visibility.can_see(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        ids
    }

    /// Whether `user` may get this one entity, including grants by resource name.
    pub async fn can_get(
        &self,
        user: &Arc<UserInfo>,
        visibility: &Visibility,
        id: &EntityRef,
    ) -> Result<bool, AuthzError> {
        if visibility.can_see(id) {
            return Ok(true);
        }
        let attributes =
            Attributes::get(CATALOG_GROUP, id.kind.plural(), Some(&id.namespace)).named(&id.name);
        Ok(self.authorizer.check(user, &attributes).await?.allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_by_kind_and_namespace() {
        let mut v = Visibility::default();
        v.all_namespaces.insert(EntityKind::Team);
        v.namespaces
            .insert((EntityKind::Component, "team-a".into()));
        assert!(v.can_see(&"team:x/t".parse().unwrap()));
        assert!(v.can_see(&"component:team-a/web".parse().unwrap()));
        assert!(!v.can_see(&"component:team-b/web".parse().unwrap()));
        assert!(!v.can_see(&"api:team-a/web".parse().unwrap()));
        assert!(!v.sees_everything());
        assert!(Visibility::everything().sees_everything());
    }
}
