//! What the DORA controller keeps of the catalog: only the fields that become DORA events, by
//! reference, with the indexes that say which services an object's change concerns. Built from
//! the watches; pure, so the event derivation is tested without a cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use nexus_api::{
    EntityKind, EntityRef,
    catalog::{
        Component, Environment, Incident as IncidentObject, Pipeline, Repository, User,
        environment::Stage, pipeline::PipelineRun,
    },
    dora::{DoraStatus, RECOMPUTE_ANNOTATION},
    facts::{DeploymentRecord, PushFact},
};
use nexus_dora::{
    Config, ConvertError, Deployment, Incident, ProductionMatcher,
    convert::{self, commit_times},
};

/// The Component facts a service's events come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComponentFacts {
    /// The resolved owner when it is a Team (`team:<ns>/<name>`): the team credited with the
    /// service's deployments.
    pub owner_team: Option<String>,
    pub repository: Option<EntityRef>,
    pub deployments: Vec<DeploymentRecord>,
    /// `status.dora` as last seen on the object.
    pub stored: Option<DoraStatus>,
    /// The value of the recompute annotation.
    pub recompute: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvironmentFacts {
    /// Name and title when the Environment is declared with stage `prod`: they count as
    /// production names.
    pub prod_names: Vec<String>,
    /// Deployment records naming the component they deployed.
    pub deployments: Vec<(EntityRef, DeploymentRecord)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineFacts {
    pub component: Option<EntityRef>,
    pub deploys_to: Vec<EntityRef>,
    /// Recent runs and the last run, each once.
    pub runs: Vec<PipelineRun>,
}

/// The catalog as the DORA controller sees it.
#[derive(Debug, Default)]
pub struct World {
    pub components: BTreeMap<EntityRef, ComponentFacts>,
    pub repositories: HashMap<EntityRef, Vec<PushFact>>,
    pub environments: HashMap<EntityRef, EnvironmentFacts>,
    pub pipelines: HashMap<EntityRef, PipelineFacts>,
    pub incidents: BTreeMap<EntityRef, IncidentObject>,
    /// Lower-cased name, email, GitHub login and Entra object id → User.
    logins: HashMap<String, EntityRef>,
    user_logins: HashMap<EntityRef, Vec<String>>,
    /// Repository → Components that link it.
    by_repository: HashMap<EntityRef, BTreeSet<EntityRef>>,
    /// Component → Pipelines that build it.
    pipelines_of: HashMap<EntityRef, BTreeSet<EntityRef>>,
    /// Component → Environments holding deployment records of it.
    environments_of: HashMap<EntityRef, BTreeSet<EntityRef>>,
}

/// The service reference the engine uses for a Component.
pub fn service(key: &EntityRef) -> String {
    key.to_string()
}

fn namespace(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

fn key_of(
    kind: EntityKind,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<EntityRef> {
    Some(EntityRef::new(kind, namespace(meta), meta.name.clone()?))
}

impl World {
    /// Stores a Component; returns its key.
    pub fn upsert_component(&mut self, c: &Component) -> Option<EntityRef> {
        let key = key_of(EntityKind::Component, &c.metadata)?;
        let ns = namespace(&c.metadata);
        let status = c.status.as_ref();
        let facts = ComponentFacts {
            owner_team: status
                .and_then(|s| s.entity.owner.as_ref())
                .and_then(|o| o.ref_.parse::<EntityRef>().ok())
                .filter(|o| o.kind == EntityKind::Team)
                .map(|o| o.to_string()),
            repository: c.spec.repository.as_deref().and_then(|r| {
                EntityRef::parse(r, EntityKind::Repository, &[EntityKind::Repository], ns).ok()
            }),
            deployments: status.map(|s| s.deployments.clone()).unwrap_or_default(),
            stored: status.and_then(|s| s.dora.clone()),
            recompute: c
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(RECOMPUTE_ANNOTATION))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
        };
        self.remove_component(&key);
        if let Some(repo) = &facts.repository {
            self.by_repository
                .entry(repo.clone())
                .or_default()
                .insert(key.clone());
        }
        self.components.insert(key.clone(), facts);
        Some(key)
    }

    pub fn remove_component(&mut self, key: &EntityRef) -> Option<ComponentFacts> {
        let old = self.components.remove(key)?;
        if let Some(repo) = &old.repository
            && let Some(set) = self.by_repository.get_mut(repo)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_repository.remove(repo);
            }
        }
        Some(old)
    }

    /// Stores a Repository's pushes; returns the Components that link it.
    pub fn upsert_repository(&mut self, r: &Repository) -> Vec<EntityRef> {
        let Some(key) = key_of(EntityKind::Repository, &r.metadata) else {
            return Vec::new();
        };
        let pushes = r
            .status
            .as_ref()
            .map(|s| s.pushes.clone())
            .unwrap_or_default();
        self.repositories.insert(key.clone(), pushes);
        self.components_of_repository(&key)
    }

    pub fn remove_repository(&mut self, key: &EntityRef) -> Vec<EntityRef> {
        self.repositories.remove(key);
        self.components_of_repository(key)
    }

    fn components_of_repository(&self, key: &EntityRef) -> Vec<EntityRef> {
        self.by_repository
            .get(key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores an Environment; returns the Components whose records it holds (before and
    /// after).
    pub fn upsert_environment(&mut self, e: &Environment) -> Vec<EntityRef> {
        let Some(key) = key_of(EntityKind::Environment, &e.metadata) else {
            return Vec::new();
        };
        let ns = namespace(&e.metadata);
        let mut prod_names = Vec::new();
        if e.spec.stage == Stage::Prod {
            prod_names.extend(e.metadata.name.clone());
            prod_names.extend(e.spec.about.title.clone());
        }
        let deployments = e
            .status
            .as_ref()
            .map(|s| s.deployments.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|d| {
                let component = EntityRef::parse(
                    d.component.as_deref()?,
                    EntityKind::Component,
                    &[EntityKind::Component],
                    ns,
                )
                .ok()?;
                Some((component, d.clone()))
            })
            .collect();
        let mut affected = self.remove_environment(&key);
        let facts = EnvironmentFacts {
            prod_names,
            deployments,
        };
        for (component, _) in &facts.deployments {
            self.environments_of
                .entry(component.clone())
                .or_default()
                .insert(key.clone());
            affected.push(component.clone());
        }
        self.environments.insert(key, facts);
        affected.sort();
        affected.dedup();
        affected
    }

    pub fn remove_environment(&mut self, key: &EntityRef) -> Vec<EntityRef> {
        let Some(old) = self.environments.remove(key) else {
            return Vec::new();
        };
        let mut affected = Vec::new();
        for (component, _) in old.deployments {
            if let Some(set) = self.environments_of.get_mut(&component) {
                set.remove(key);
                if set.is_empty() {
                    self.environments_of.remove(&component);
                }
            }
            affected.push(component);
        }
        affected
    }

    /// Stores a Pipeline; returns the Components it built before and builds now.
    pub fn upsert_pipeline(&mut self, p: &Pipeline) -> Vec<EntityRef> {
        let Some(key) = key_of(EntityKind::Pipeline, &p.metadata) else {
            return Vec::new();
        };
        let ns = namespace(&p.metadata);
        let component = p.spec.component.as_deref().and_then(|c| {
            EntityRef::parse(c, EntityKind::Component, &[EntityKind::Component], ns).ok()
        });
        let deploys_to = p
            .spec
            .deploys_to
            .iter()
            .filter_map(|e| {
                EntityRef::parse(e, EntityKind::Environment, &[EntityKind::Environment], ns).ok()
            })
            .collect();
        let mut runs: Vec<PipelineRun> = Vec::new();
        if let Some(status) = &p.status {
            for run in status.recent_runs.iter().chain(status.last_run.iter()) {
                if !runs.iter().any(|r| r.id == run.id) {
                    runs.push(run.clone());
                }
            }
        }
        let mut affected = self.remove_pipeline(&key);
        if let Some(c) = &component {
            self.pipelines_of
                .entry(c.clone())
                .or_default()
                .insert(key.clone());
            affected.push(c.clone());
        }
        self.pipelines.insert(
            key,
            PipelineFacts {
                component,
                deploys_to,
                runs,
            },
        );
        affected
    }

    pub fn remove_pipeline(&mut self, key: &EntityRef) -> Vec<EntityRef> {
        let Some(old) = self.pipelines.remove(key) else {
            return Vec::new();
        };
        let Some(component) = old.component else {
            return Vec::new();
        };
        if let Some(set) = self.pipelines_of.get_mut(&component) {
            set.remove(key);
            if set.is_empty() {
                self.pipelines_of.remove(&component);
            }
        }
        vec![component]
    }

    pub fn upsert_user(&mut self, u: &User) {
        let Some(key) = key_of(EntityKind::User, &u.metadata) else {
            return;
        };
        self.remove_user(&key);
        let logins: Vec<String> = [
            u.metadata.name.clone(),
            Some(u.spec.email.clone()),
            u.spec.github_login.clone(),
            u.spec.entra_object_id.clone(),
        ]
        .into_iter()
        .flatten()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect();
        for l in &logins {
            self.logins.insert(l.clone(), key.clone());
        }
        self.user_logins.insert(key, logins);
    }

    pub fn user_keys(&self) -> Vec<EntityRef> {
        self.user_logins.keys().cloned().collect()
    }

    pub fn remove_user(&mut self, key: &EntityRef) {
        for l in self.user_logins.remove(key).unwrap_or_default() {
            if self.logins.get(&l) == Some(key) {
                self.logins.remove(&l);
            }
        }
    }

    pub fn upsert_incident(&mut self, i: &IncidentObject) -> Option<EntityRef> {
        let key = key_of(EntityKind::Incident, &i.metadata)?;
        self.incidents.insert(key.clone(), i.clone());
        Some(key)
    }

    /// The person a deployment is credited to: the User whose name, email, GitHub login or
    /// Entra object id is the creator (ignoring case), so one person deploying from GitHub
    /// and Azure DevOps is one person; else the creator as the provider spells it.
    pub fn person(&self, creator: Option<&str>) -> Option<String> {
        let creator = creator.map(str::trim).filter(|c| !c.is_empty())?;
        Some(
            self.logins
                .get(&creator.to_lowercase())
                .map(ToString::to_string)
                .unwrap_or_else(|| creator.to_string()),
        )
    }

    /// Names (and titles) of the Environments declared with stage `prod`, sorted: with the
    /// default names they make the production matcher.
    pub fn prod_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .environments
            .values()
            .flat_map(|e| e.prod_names.iter().map(|n| n.trim().to_ascii_lowercase()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The engine configuration: the default production names plus the prod Environments.
    pub fn config(&self) -> Config {
        let mut matcher = ProductionMatcher::default();
        for n in self.prod_names() {
            matcher = matcher.with_name(&n);
        }
        Config::new(matcher)
    }

    /// Every deployment event of a service: its own records and the records Environments hold
    /// for it (a record id once, the Component's own first), with commit times from its
    /// Repository's pushes; when there are no records at all, the successful runs of its
    /// Pipelines that deploy to a production Environment (a pipeline that also reports
    /// deployments would otherwise count twice).
    pub fn deployments(
        &self,
        key: &EntityRef,
        config: &Config,
    ) -> Vec<Result<Deployment, ConvertError>> {
        let Some(c) = self.components.get(key) else {
            return Vec::new();
        };
        let service = service(key);
        let team = c.owner_team.as_deref();
        let mut records: Vec<DeploymentRecord> = c.deployments.clone();
        for env in self.environments_of.get(key).into_iter().flatten() {
            for (component, record) in self
                .environments
                .get(env)
                .map(|e| e.deployments.as_slice())
                .unwrap_or_default()
            {
                if component == key && !records.iter().any(|r| r.id == record.id) {
                    records.push(record.clone());
                }
            }
        }
        let pushes: &[PushFact] = c
            .repository
            .as_ref()
            .and_then(|r| self.repositories.get(r))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !records.is_empty() {
            let mut out =
                convert::deployments_from_records(&records, pushes, &service, team, config);
            for (d, r) in out.iter_mut().zip(&records) {
                if let Ok(d) = d {
                    d.person = self.person(r.creator.as_deref());
                }
            }
            return out;
        }
        self.pipeline_deployments(key, &service, team, pushes, config)
    }

    /// Ids of the service's own deployment records whose commit is in no push of its linked
    /// Repository (yet): counted now they would get no lead time, and a deployment is counted
    /// once. Empty when no Repository is linked or it is not in the catalog.
    pub fn unpushed(&self, key: &EntityRef) -> BTreeSet<String> {
        let Some(c) = self.components.get(key) else {
            return BTreeSet::new();
        };
        let Some(pushes) = c.repository.as_ref().and_then(|r| self.repositories.get(r)) else {
            return BTreeSet::new();
        };
        let mut records: Vec<&DeploymentRecord> = c.deployments.iter().collect();
        for env in self.environments_of.get(key).into_iter().flatten() {
            if let Some(e) = self.environments.get(env) {
                records.extend(
                    e.deployments
                        .iter()
                        .filter(|(k, _)| k == key)
                        .map(|(_, r)| r),
                );
            }
        }
        records
            .into_iter()
            .filter(|r| {
                r.sha
                    .as_deref()
                    .is_some_and(|sha| commit_times(pushes, sha, None).is_empty())
            })
            .map(|r| r.id.clone())
            .collect()
    }

    fn pipeline_deployments(
        &self,
        key: &EntityRef,
        service: &str,
        team: Option<&str>,
        pushes: &[PushFact],
        config: &Config,
    ) -> Vec<Result<Deployment, ConvertError>> {
        let mut out = Vec::new();
        for pipeline_key in self.pipelines_of.get(key).into_iter().flatten() {
            let Some(p) = self.pipelines.get(pipeline_key) else {
                continue;
            };
            // The first production Environment it deploys to names the deployments.
            let Some(environment) = p.deploys_to.iter().find_map(|e| {
                let prod = self
                    .environments
                    .get(e)
                    .is_some_and(|f| !f.prod_names.is_empty())
                    || config.production.is_production(&e.name);
                prod.then(|| e.name.to_string())
            }) else {
                continue;
            };
            let pipeline = format!("{}/{}", pipeline_key.namespace, pipeline_key.name);
            let mut converted: Vec<Result<Deployment, ConvertError>> = p
                .runs
                .iter()
                .map(|run| {
                    convert::deployment_from_pipeline_run(
                        run,
                        &pipeline,
                        &environment,
                        service,
                        team,
                        Vec::new(),
                    )
                })
                .collect();
            // Commit times as for deployment records: each counted run ships the commits after
            // the previous counted run's commit.
            let mut order: Vec<(Timestamp, usize)> = converted
                .iter()
                .enumerate()
                .filter_map(|(n, d)| {
                    let d = d.as_ref().ok()?;
                    config.classify(d).ok().map(|()| (d.finished_at, n))
                })
                .collect();
            order.sort();
            let mut previous: Option<&str> = None;
            for (_, n) in order {
                let Some(sha) = p.runs[n].source_version.as_deref() else {
                    continue;
                };
                if let Ok(d) = &mut converted[n] {
                    d.commit_times = commit_times(pushes, sha, previous);
                }
                previous = Some(sha);
            }
            out.extend(converted);
        }
        out
    }

    /// An incident as the engine sees it: the team credited while no deployment is attributed
    /// is the owner of its first service.
    pub fn incident(&self, key: &EntityRef) -> Option<Result<Incident, ConvertError>> {
        let object = self.incidents.get(key)?;
        Some(convert::incident_from_object(object).map(|mut i| {
            i.team = i
                .services
                .first()
                .and_then(|s| s.parse::<EntityRef>().ok())
                .and_then(|s| self.components.get(&s))
                .and_then(|c| c.owner_team.clone());
            i
        }))
    }

    /// The earliest date a recompute can start from without losing days: every source list
    /// of a service that is at its bound (50 deployment records, 25 pipeline runs) has
    /// forgotten what came before its oldest entry, so the day after that entry is the first
    /// whose events are all still known. `None`: no list is full. Also names the service and
    /// list that set it.
    pub fn coverage(&self) -> Option<(jiff::civil::Date, String)> {
        use nexus_api::facts::{MAX_DEPLOYMENTS, MAX_RUNS};
        let mut latest: Option<(jiff::civil::Date, String)> = None;
        let mut consider = |times: Vec<Timestamp>, bound: usize, what: String| {
            if times.len() < bound {
                return;
            }
            if let Some(oldest) = times.into_iter().min() {
                let day = nexus_dora::utc_date(oldest)
                    .tomorrow()
                    .unwrap_or(jiff::civil::Date::MAX);
                if latest.as_ref().is_none_or(|(d, _)| day > *d) {
                    latest = Some((day, what));
                }
            }
        };
        let record_time =
            |r: &DeploymentRecord| r.updated_at.as_ref().or(r.created_at.as_ref()).map(|t| t.0);
        for (key, c) in &self.components {
            consider(
                c.deployments.iter().filter_map(record_time).collect(),
                MAX_DEPLOYMENTS,
                format!("{key} status.deployments"),
            );
        }
        for (key, e) in &self.environments {
            consider(
                e.deployments
                    .iter()
                    .filter_map(|(_, r)| record_time(r))
                    .collect(),
                MAX_DEPLOYMENTS,
                format!("{key} status.deployments"),
            );
        }
        for (key, p) in &self.pipelines {
            consider(
                p.runs
                    .iter()
                    .filter_map(|r| r.finished_at.as_ref().map(|t| t.0))
                    .collect(),
                MAX_RUNS,
                format!("{key} status.recentRuns"),
            );
        }
        latest
    }
}
