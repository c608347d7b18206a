//! The integrations Nexus is configured with: a reflector store per kind, and the parser
//! context each one implies.

use std::collections::BTreeMap;

use futures::StreamExt;
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use nexus_api::integrations::{
    AzureDevOpsIntegration, AzureSubscriptionSource, GitHubIntegration, IncidentSource,
    NamespaceMapping,
};
use nexus_ingest::{Context, NamespaceMap, NamespaceRule, ServiceMapping, TagMapping};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// Which kind of integration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegrationKind {
    GitHub,
    AzureDevOps,
    AzureSubscription,
    Incident,
}

impl IntegrationKind {
    pub fn kind(self) -> &'static str {
        match self {
            IntegrationKind::GitHub => "GitHubIntegration",
            IntegrationKind::AzureDevOps => "AzureDevOpsIntegration",
            IntegrationKind::AzureSubscription => "AzureSubscriptionSource",
            IntegrationKind::Incident => "IncidentSource",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            IntegrationKind::GitHub => "githubintegrations",
            IntegrationKind::AzureDevOps => "azuredevopsintegrations",
            IntegrationKind::AzureSubscription => "azuresubscriptionsources",
            IntegrationKind::Incident => "incidentsources",
        }
    }
}

/// An integration object by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntegrationKey {
    pub kind: IntegrationKind,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for IntegrationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind.kind(), self.namespace, self.name)
    }
}

#[derive(Clone)]
pub struct Integrations {
    pub github: Store<GitHubIntegration>,
    pub azure_devops: Store<AzureDevOpsIntegration>,
    pub azure: Store<AzureSubscriptionSource>,
    pub incidents: Store<IncidentSource>,
}

impl Integrations {
    /// Watches integrations in `namespace` (all when None).
    pub fn start(client: &Client, namespace: Option<&str>, shutdown: &CancellationToken) -> Self {
        Integrations {
            github: watch(client, namespace, shutdown),
            azure_devops: watch(client, namespace, shutdown),
            azure: watch(client, namespace, shutdown),
            incidents: watch(client, namespace, shutdown),
        }
    }

    pub async fn ready(&self) {
        let _ = self.github.wait_until_ready().await;
        let _ = self.azure_devops.wait_until_ready().await;
        let _ = self.azure.wait_until_ready().await;
        let _ = self.incidents.wait_until_ready().await;
    }

    pub fn github(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<GitHubIntegration>> {
        self.github.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn azure_devops(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<std::sync::Arc<AzureDevOpsIntegration>> {
        self.azure_devops
            .get(&ObjectRef::new(name).within(namespace))
    }

    pub fn incident_source(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<std::sync::Arc<IncidentSource>> {
        self.incidents.get(&ObjectRef::new(name).within(namespace))
    }
}

/// The parser context for a namespace mapping (and optional extras).
pub fn context(namespaces: &NamespaceMapping) -> Context {
    Context {
        namespaces: NamespaceMap {
            default: namespaces.default.clone(),
            rules: namespaces
                .rules
                .iter()
                .map(|r| NamespaceRule {
                    pattern: r.pattern.clone(),
                    namespace: r.namespace.clone(),
                })
                .collect(),
        },
        ..Context::default()
    }
}

pub fn github_context(i: &GitHubIntegration) -> Context {
    context(&i.spec.namespaces)
}

pub fn ado_context(i: &AzureDevOpsIntegration) -> Context {
    Context {
        services: services(&i.spec.work_item_mapping),
        ..context(&i.spec.namespaces)
    }
}

pub fn incident_context(i: &IncidentSource) -> Context {
    Context {
        services: services(&i.spec.service_mapping),
        ..context(&i.spec.namespaces)
    }
}

pub fn azure_context(i: &AzureSubscriptionSource) -> Context {
    let t = &i.spec.tag_mapping;
    Context {
        tags: TagMapping {
            owner: t.owner.clone(),
            team: t.team.clone(),
            environment: t.environment.clone(),
            system: t.system.clone(),
            namespace: t.namespace.clone(),
        },
        ..context(&i.spec.namespaces)
    }
}

fn services(m: &BTreeMap<String, Vec<String>>) -> ServiceMapping {
    ServiceMapping { entries: m.clone() }
}

/// A reflector store of `K` (in `namespace`, or all), filled by a watch that runs until
/// `shutdown`. Managed fields are dropped: nothing here reads them.
pub(crate) fn watch<K>(
    client: &Client,
    namespace: Option<&str>,
    shutdown: &CancellationToken,
) -> Store<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|o| {
            o.managed_fields_mut().clear();
        })
        .reflect(writer)
        .applied_objects();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                next = stream.next() => match next {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => tracing::debug!(error = %e, kind = %K::kind(&()), "ingestion watch error"),
                    None => break,
                },
            }
        }
    });
    reader
}
