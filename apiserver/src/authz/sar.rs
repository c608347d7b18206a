//! SubjectAccessReview with a short-lived answer cache, plus a longer-lived "last known" answer
//! used only while the kube-apiserver cannot be reached, so an apiserver restart does not turn
//! every portal request into an error (the response then says the cache is stale).

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::{Api, Client, api::PostParams};
use moka::{future::Cache as Flight, sync::Cache as Memo};

use crate::{authn::UserInfo, metrics::Metrics};

/// How long a last-known answer may stand in while the apiserver is unreachable.
const LAST_KNOWN_TTL: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attributes {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: String,
    /// `None`: cluster-wide (every namespace).
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Attributes {
    pub fn get(group: &'static str, resource: &str, namespace: Option<&str>) -> Self {
        Self {
            verb: "get",
            group,
            resource: resource.into(),
            namespace: namespace.map(str::to_string),
            name: None,
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn verb(mut self, verb: &'static str) -> Self {
        self.verb = verb;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Answered from the last-known cache because the apiserver could not be asked.
    pub stale: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("cannot check permissions: the Kubernetes API is unavailable ({0})")]
    Unavailable(String),
}

type Key = (Arc<UserInfo>, Attributes);

enum Backend {
    /// SubjectAccessReviews against the cluster.
    Cluster(Client),
    /// A fixed answer, for benchmarks that measure the query path without a cluster.
    Fixed(bool),
    /// Answers from a function of the question (unit tests of per-namespace permissions).
    Rules(Rules),
}

/// A stand-in for RBAC in tests: who may do what where.
pub type Rules = Arc<dyn Fn(&UserInfo, &Attributes) -> bool + Send + Sync>;

pub struct Authorizer {
    backend: Backend,
    /// Fresh answers; concurrent misses for one key share a single review (no storms when
    /// many requests find the same entry expired at once).
    fresh: Flight<Key, bool>,
    last_known: Memo<Key, bool>,
    metrics: Arc<Metrics>,
}

impl Authorizer {
    pub fn new(client: Client, ttl: Duration, metrics: Arc<Metrics>) -> Self {
        Self::with_backend(Backend::Cluster(client), ttl, metrics)
    }

    /// Answers every question with `allowed` (benchmarks of the query path; never served).
    pub fn fixed(allowed: bool, metrics: Arc<Metrics>) -> Self {
        Self::with_backend(Backend::Fixed(allowed), Duration::from_secs(60), metrics)
    }

    /// Answers with `rules` (tests that need different answers per user or namespace).
    pub fn rules(rules: Rules, metrics: Arc<Metrics>) -> Self {
        Self::with_backend(Backend::Rules(rules), Duration::from_secs(60), metrics)
    }

    fn with_backend(backend: Backend, ttl: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            backend,
            fresh: Flight::builder()
                .max_capacity(200_000)
                .time_to_live(ttl)
                .build(),
            last_known: Memo::builder()
                .max_capacity(200_000)
                .time_to_live(LAST_KNOWN_TTL.max(ttl))
                .build(),
            metrics,
        }
    }

    pub async fn check(
        &self,
        user: &Arc<UserInfo>,
        attributes: &Attributes,
    ) -> Result<Decision, AuthzError> {
        let key = (user.clone(), attributes.clone());
        let asked = self
            .fresh
            .entry(key.clone())
            .or_try_insert_with(async {
                let allowed = self.review(user, attributes).await?;
                self.metrics.sar(if allowed { "allowed" } else { "denied" });
                self.last_known.insert(key.clone(), allowed);
                Ok::<_, kube::Error>(allowed)
            })
            .await;
        match asked {
            Ok(entry) => {
                if !entry.is_fresh() {
                    self.metrics.sar("cached");
                }
                Ok(Decision {
                    allowed: entry.into_value(),
                    stale: false,
                })
            }
            Err(error) => match self.last_known.get(&key) {
                Some(allowed) => {
                    self.metrics.sar("stale");
                    Ok(Decision {
                        allowed,
                        stale: true,
                    })
                }
                None => {
                    self.metrics.sar("error");
                    Err(AuthzError::Unavailable(error.to_string()))
                }
            },
        }
    }

    async fn review(&self, user: &UserInfo, a: &Attributes) -> Result<bool, kube::Error> {
        let client = match &self.backend {
            Backend::Cluster(client) => client,
            Backend::Fixed(allowed) => return Ok(*allowed),
            Backend::Rules(rules) => return Ok(rules(user, a)),
        };
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.username.clone()),
                uid: user.uid.clone(),
                groups: Some(user.groups.clone()),
                extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(a.group.into()),
                    resource: Some(a.resource.clone()),
                    verb: Some(a.verb.into()),
                    namespace: a.namespace.clone(),
                    name: a.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(client.clone());
        let created = api.create(&PostParams::default(), &review).await?;
        Ok(created
            .status
            .is_some_and(|s| s.allowed && s.denied != Some(true)))
    }
}
