//! The catalog as ingestion needs to see it: reflector stores of the kinds facts land on, and
//! lookups that turn a parser's [`Target`] into the objects it means.

use std::sync::Arc;

use kube::{
    Client, Resource, ResourceExt,
    runtime::reflector::{self, Store},
};
use nexus_api::{
    EntityKind, EntityRef,
    catalog::{AzureResource, Component, Environment, Package, Pipeline, Repository, Runbook},
};
use nexus_ingest::{
    Source, Target,
    change::{AZURE_SOURCE, MANAGED_BY, SOURCE_URL, normalise_repo_url},
};
use tokio_util::sync::CancellationToken;

use crate::ingestion::registry::watch;

/// One object a target resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Found {
    pub kind: EntityKind,
    pub namespace: String,
    pub name: String,
    /// The `app.kubernetes.io/managed-by` label, when set.
    pub managed_by: Option<String>,
}

impl Found {
    fn of<K: Resource>(kind: EntityKind, o: &K) -> Found {
        Found {
            kind,
            namespace: o.meta().namespace.clone().unwrap_or_default(),
            name: o.meta().name.clone().unwrap_or_default(),
            managed_by: o
                .meta()
                .labels
                .as_ref()
                .and_then(|l| l.get(nexus_ingest::change::MANAGED_BY).cloned()),
        }
    }

    pub fn entity_ref(&self) -> EntityRef {
        EntityRef::new(self.kind, self.namespace.clone(), self.name.clone())
    }
}

/// Reflector stores of the kinds ingestion writes facts to.
#[derive(Clone)]
pub struct CatalogIndex {
    pub repositories: Store<Repository>,
    pub components: Store<Component>,
    pub environments: Store<Environment>,
    pub azure_resources: Store<AzureResource>,
    pub pipelines: Store<Pipeline>,
    pub packages: Store<Package>,
    /// Runbooks, to find those whose file left the repository they were read from.
    pub runbooks: Store<Runbook>,
}

impl CatalogIndex {
    /// Starts one watch per kind; the stores fill in the background.
    pub fn start(
        client: &Client,
        namespace: Option<&str>,
        shutdown: &CancellationToken,
    ) -> CatalogIndex {
        CatalogIndex {
            repositories: watch(client, namespace, shutdown),
            components: watch(client, namespace, shutdown),
            environments: watch(client, namespace, shutdown),
            azure_resources: watch(client, namespace, shutdown),
            pipelines: watch(client, namespace, shutdown),
            packages: watch(client, namespace, shutdown),
            runbooks: watch(client, namespace, shutdown),
        }
    }

    /// Waits until every store has listed once.
    pub async fn ready(&self) {
        let _ = self.repositories.wait_until_ready().await;
        let _ = self.components.wait_until_ready().await;
        let _ = self.environments.wait_until_ready().await;
        let _ = self.azure_resources.wait_until_ready().await;
        let _ = self.pipelines.wait_until_ready().await;
        let _ = self.packages.wait_until_ready().await;
        let _ = self.runbooks.wait_until_ready().await;
    }

    /// The objects `target` means. `context` holds the objects other targets of the same
    /// delivery resolved to: an environment named only by its provider name is looked for
    /// among the environments of the components the delivery is about.
    pub fn resolve(&self, target: &Target, context: &[Found]) -> Vec<Found> {
        use EntityKind as K;
        let mut out: Vec<Found> = match target {
            Target::Entity {
                kind,
                namespace,
                name,
            } => {
                let Some(kind) = EntityKind::parse(kind) else {
                    return Vec::new();
                };
                vec![Found {
                    kind,
                    namespace: namespace.clone(),
                    name: name.clone(),
                    managed_by: None,
                }]
            }
            Target::RepositoryUrl { url } => {
                let want = normalise_repo_url(url);
                self.repositories
                    .state()
                    .iter()
                    .filter(|r| normalise_repo_url(&r.spec.url) == want)
                    .map(|r| Found::of(K::Repository, r.as_ref()))
                    .collect()
            }
            Target::ComponentsOfRepository { url } => {
                let repos: Vec<EntityRef> = self
                    .resolve(&Target::RepositoryUrl { url: url.clone() }, &[])
                    .iter()
                    .map(Found::entity_ref)
                    .collect();
                if repos.is_empty() {
                    return Vec::new();
                }
                self.components
                    .state()
                    .iter()
                    .filter(|c| {
                        c.spec.repository.as_deref().is_some_and(|r| {
                            EntityRef::parse(r, K::Repository, &[K::Repository], &ns(c.as_ref()))
                                .is_ok_and(|r| repos.contains(&r))
                        })
                    })
                    .map(|c| Found::of(K::Component, c.as_ref()))
                    .collect()
            }
            Target::Environment { namespace, name } => {
                self.environments_named(namespace.as_deref(), name, context)
            }
            Target::AzureResourceId { id } => self
                .azure_resources
                .state()
                .iter()
                .filter(|r| r.spec.resource_id.eq_ignore_ascii_case(id))
                .map(|r| Found::of(K::AzureResource, r.as_ref()))
                .collect(),
            Target::AdoPipeline {
                organization,
                project,
                definition_id,
            } => self
                .ado_pipelines(organization, project, *definition_id)
                .iter()
                .map(|p| Found::of(K::Pipeline, p.as_ref()))
                .collect(),
            Target::ComponentsOfPipeline {
                organization,
                project,
                definition_id,
            } => self
                .ado_pipelines(organization, project, *definition_id)
                .iter()
                .filter_map(|p| {
                    let r = p.spec.component.as_deref()?;
                    let r =
                        EntityRef::parse(r, K::Component, &[K::Component], &ns(p.as_ref())).ok()?;
                    let c = self
                        .components
                        .get(&reflector::ObjectRef::new(&r.name).within(&r.namespace))?;
                    Some(Found::of(K::Component, c.as_ref()))
                })
                .collect(),
            Target::GithubWorkflow {
                repository_url,
                workflow,
            } => {
                let repos: Vec<EntityRef> = self
                    .resolve(
                        &Target::RepositoryUrl {
                            url: repository_url.clone(),
                        },
                        &[],
                    )
                    .iter()
                    .map(Found::entity_ref)
                    .collect();
                self.pipelines
                    .state()
                    .iter()
                    .filter(|p| {
                        p.spec
                            .github_actions
                            .as_ref()
                            .is_some_and(|g| g.workflow == *workflow)
                            && p.spec.repository.as_deref().is_some_and(|r| {
                                EntityRef::parse(
                                    r,
                                    K::Repository,
                                    &[K::Repository],
                                    &ns(p.as_ref()),
                                )
                                .is_ok_and(|r| repos.contains(&r))
                            })
                    })
                    .map(|p| Found::of(K::Pipeline, p.as_ref()))
                    .collect()
            }
            Target::Package { ecosystem, name } => self
                .packages
                .state()
                .iter()
                .filter(|p| {
                    serde_json::to_value(p.spec.ecosystem)
                        .ok()
                        .and_then(|v| v.as_str().map(|s| s.eq_ignore_ascii_case(ecosystem)))
                        .unwrap_or(false)
                        && p.spec.package_name == *name
                })
                .map(|p| Found::of(K::Package, p.as_ref()))
                .collect(),
            Target::RunbooksOfRepository { url, keep } => self
                .runbooks
                .state()
                .iter()
                .filter(|r| runbook_of_repository(r, url, keep))
                .map(|r| Found::of(K::Runbook, r.as_ref()))
                .collect(),
        };
        out.sort();
        out.dedup();
        out
    }

    /// Resource ids of the AzureResources the Resource Graph poller of `source`
    /// (`<namespace>/<name>` of an AzureSubscriptionSource) created: labelled
    /// `managed-by: nexus-azure` and annotated with that source. Objects someone declares or
    /// another source created are left out, so they are never reported gone on its word.
    pub fn azure_resources_of(&self, source: &str) -> Vec<String> {
        let manager = Source::Azure.manager();
        self.azure_resources
            .state()
            .iter()
            .filter(|r| {
                let meta = &r.metadata;
                meta.labels
                    .as_ref()
                    .and_then(|l| l.get(MANAGED_BY))
                    .is_some_and(|m| m == manager)
                    && meta
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(AZURE_SOURCE))
                        .is_some_and(|s| s == source)
            })
            .map(|r| r.spec.resource_id.clone())
            .collect()
    }

    fn ado_pipelines(&self, org: &str, project: &str, id: i64) -> Vec<Arc<Pipeline>> {
        self.pipelines
            .state()
            .into_iter()
            .filter(|p| {
                p.spec.azure_pipelines.as_ref().is_some_and(|a| {
                    a.organization.eq_ignore_ascii_case(org)
                        && a.project.eq_ignore_ascii_case(project)
                        && a.definition_id == id
                })
            })
            .collect()
    }

    fn environments_named(
        &self,
        namespace: Option<&str>,
        name: &str,
        context: &[Found],
    ) -> Vec<Found> {
        let matches = |e: &Environment| environment_matches(e, name);
        let all = self.environments.state();
        if let Some(ns_) = namespace {
            return all
                .iter()
                .filter(|e| ns(e.as_ref()) == ns_ && matches(e))
                .map(|e| Found::of(EntityKind::Environment, e.as_ref()))
                .collect();
        }
        // The environments the delivery's components declare, then their namespaces.
        let components: Vec<Arc<Component>> = context
            .iter()
            .filter(|f| f.kind == EntityKind::Component)
            .filter_map(|f| {
                self.components
                    .get(&reflector::ObjectRef::new(&f.name).within(&f.namespace))
            })
            .collect();
        let declared: Vec<EntityRef> = components
            .iter()
            .flat_map(|c| {
                let cns = ns(c.as_ref());
                c.spec
                    .environments
                    .iter()
                    .filter_map(move |r| {
                        EntityRef::parse(
                            r,
                            EntityKind::Environment,
                            &[EntityKind::Environment],
                            &cns,
                        )
                        .ok()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let by_declared: Vec<Found> = all
            .iter()
            .filter(|e| {
                declared.contains(&EntityRef::new(
                    EntityKind::Environment,
                    ns(e.as_ref()),
                    e.name_any(),
                )) && matches(e)
            })
            .map(|e| Found::of(EntityKind::Environment, e.as_ref()))
            .collect();
        if !by_declared.is_empty() {
            return by_declared;
        }
        let namespaces: Vec<String> = components.iter().map(|c| ns(c.as_ref())).collect();
        all.iter()
            .filter(|e| namespaces.contains(&ns(e.as_ref())) && matches(e))
            .map(|e| Found::of(EntityKind::Environment, e.as_ref()))
            .collect()
    }
}

/// Whether GitHub ingestion created this Runbook from a file of the repository at `url`
/// (normalised) whose path is not in `keep`. The label and the source URL annotation are what
/// the runbook parser writes; a Runbook someone declares carries neither and is never matched.
fn runbook_of_repository(r: &Runbook, url: &str, keep: &[String]) -> bool {
    let meta = &r.metadata;
    let ours = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .is_some_and(|m| m == Source::Github.manager());
    let in_repo = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(SOURCE_URL))
        .is_some_and(|u| {
            u.to_ascii_lowercase()
                .starts_with(&format!("{}/blob/", normalise_repo_url(url)))
        });
    let path = r.spec.source.as_ref().map(|s| s.path.as_str());
    ours && in_repo && path.is_some_and(|p| !keep.iter().any(|k| k == p))
}

/// Whether a provider's environment name means this Environment: its name, its title, or its
/// stage (with the usual spellings: `production` ≈ `prod`, `development` ≈ `dev`, `qa` ≈ `test`).
pub fn environment_matches(e: &Environment, provider_name: &str) -> bool {
    let want = provider_name.trim().to_ascii_lowercase();
    let name = e.name_any().to_ascii_lowercase();
    if want == name
        || e.spec
            .about
            .title
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(&want))
    {
        return true;
    }
    let stage = serde_json::to_value(e.spec.stage)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    stage_of(&want).is_some_and(|s| s == stage) && stage_of(&name).is_none_or(|s| s == stage)
}

fn stage_of(name: &str) -> Option<&'static str> {
    match name {
        "prod" | "production" | "prd" | "live" => Some("prod"),
        "staging" | "stage" | "stg" | "preprod" | "pre-production" => Some("staging"),
        "test" | "testing" | "qa" | "uat" => Some("test"),
        "dev" | "development" | "develop" => Some("dev"),
        _ => None,
    }
}

fn ns<K: Resource>(o: &K) -> String {
    o.meta().namespace.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook(label: Option<&str>, source_url: Option<&str>, path: Option<&str>) -> Runbook {
        let mut r: Runbook = serde_json::from_value(serde_json::json!({
            "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Runbook",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"content": "# x"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        if let Some(l) = label {
            r.metadata.labels = Some([(MANAGED_BY.to_string(), l.to_string())].into());
        }
        if let Some(u) = source_url {
            r.metadata.annotations = Some([(SOURCE_URL.to_string(), u.to_string())].into());
        }
        r.spec.source = path.map(|p| nexus_api::catalog::runbook::RunbookSource {
            repository: "repository:ns/o-r".into(),
            path: p.into(),
            r#ref: None,
        });
        r
    }

    #[test]
    fn only_runbooks_nexus_read_from_that_repository_and_not_kept() {
        let url = "https://github.com/o/r";
        let keep = vec!["runbooks/a.md".to_string()];
        let gone = runbook(
            Some("nexus-github"),
            Some("https://github.com/O/R/blob/main/runbooks/b.md"),
            Some("runbooks/b.md"),
        );
        assert!(runbook_of_repository(&gone, url, &keep));
        let kept = runbook(
            Some("nexus-github"),
            Some("https://github.com/o/r/blob/main/runbooks/a.md"),
            Some("runbooks/a.md"),
        );
        assert!(!runbook_of_repository(&kept, url, &keep));
        let declared = runbook(
            None,
            Some("https://github.com/o/r/blob/main/x.md"),
            Some("x.md"),
        );
        assert!(!runbook_of_repository(&declared, url, &keep));
        let other_repo = runbook(
            Some("nexus-github"),
            Some("https://github.com/o/r2/blob/main/x.md"),
            Some("x.md"),
        );
        assert!(!runbook_of_repository(&other_repo, url, &keep));
        let inline = runbook(Some("nexus-github"), None, None);
        assert!(!runbook_of_repository(&inline, url, &keep));
    }
}
