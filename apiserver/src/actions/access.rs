//! Which namespaces' actions, runs and approvals the caller may see or write: RBAC on
//! `actions.nexus.dev` itself, asked through the cached SubjectAccessReviews of
//! [`crate::authz`], so the Roles that govern `kubectl get actionruns` govern the portal too.
//! Cluster-wide first (one review covers the common "everyone reads every namespace" binding),
//! then one review per namespace holding objects.

use std::{collections::HashSet, sync::Arc};

use futures::{StreamExt, stream};

use crate::{
    authn::UserInfo,
    authz::{Attributes, Authorizer, AuthzError},
    cache::actions::{ActionKind, GROUP},
};

/// Reviews in flight at once for one answer.
const PARALLEL_REVIEWS: usize = 16;

/// The namespaces where a verb is allowed on one resource.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    all: bool,
    some: HashSet<String>,
    /// Some answer came from last-known permissions (kube-apiserver unreachable).
    pub stale: bool,
}

impl Namespaces {
    pub fn everywhere() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    pub fn only<'a>(namespaces: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            some: namespaces.into_iter().map(str::to_string).collect(),
            ..Self::default()
        }
    }

    pub fn allows(&self, namespace: &str) -> bool {
        self.all || self.some.contains(namespace)
    }
}

fn attributes(verb: &'static str, kind: ActionKind, namespace: Option<&str>) -> Attributes {
    Attributes::get(GROUP, kind.resource(), namespace).verb(verb)
}

/// Whether `verb` on `kind` is allowed in `namespace`.
pub async fn allowed_in(
    authorizer: &Authorizer,
    user: &Arc<UserInfo>,
    verb: &'static str,
    kind: ActionKind,
    namespace: &str,
) -> Result<bool, AuthzError> {
    Ok(authorizer
        .check(user, &attributes(verb, kind, Some(namespace)))
        .await?
        .allowed)
}

/// The namespaces among `candidates` where `verb` on `kind` is allowed.
pub async fn allowed(
    authorizer: &Authorizer,
    user: &Arc<UserInfo>,
    verb: &'static str,
    kind: ActionKind,
    candidates: Vec<String>,
) -> Result<Namespaces, AuthzError> {
    let everywhere = authorizer
        .check(user, &attributes(verb, kind, None))
        .await?;
    if everywhere.allowed {
        return Ok(Namespaces {
            stale: everywhere.stale,
            ..Namespaces::everywhere()
        });
    }
    let mut out = Namespaces {
        stale: everywhere.stale,
        ..Namespaces::default()
    };
    let answers: Vec<_> = stream::iter(candidates)
        .map(|ns| async move {
            let d = authorizer
                .check(user, &attributes(verb, kind, Some(&ns)))
                .await;
            (ns, d)
        })
        .buffer_unordered(PARALLEL_REVIEWS)
        .collect()
        .await;
    for (ns, decision) in answers {
        let decision = decision?;
        out.stale |= decision.stale;
        if decision.allowed {
            out.some.insert(ns);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[tokio::test]
    async fn cluster_wide_first_then_per_namespace() {
        let authorizer = Authorizer::rules(
            Arc::new(|u: &UserInfo, a: &Attributes| {
                a.group == GROUP
                    && a.resource == "actionruns"
                    && a.verb == "list"
                    && match u.username.as_str() {
                        "admin" => true,
                        "dana" => a.namespace.as_deref() == Some("pay"),
                        _ => false,
                    }
            }),
            Arc::new(Metrics::new()),
        );
        let ns = || vec!["pay".to_string(), "ship".to_string()];
        let user = |n: &str| {
            Arc::new(UserInfo {
                username: n.into(),
                ..Default::default()
            })
        };
        let admin = allowed(&authorizer, &user("admin"), "list", ActionKind::Run, ns())
            .await
            .unwrap();
        assert!(admin.allows("anything"));
        let dana = allowed(&authorizer, &user("dana"), "list", ActionKind::Run, ns())
            .await
            .unwrap();
        assert!(dana.allows("pay") && !dana.allows("ship"));
        let otto = allowed(&authorizer, &user("otto"), "list", ActionKind::Run, ns())
            .await
            .unwrap();
        assert!(!otto.allows("pay"));
        assert!(
            !allowed_in(
                &authorizer,
                &user("dana"),
                "list",
                ActionKind::Action,
                "pay"
            )
            .await
            .unwrap()
        );
    }
}
