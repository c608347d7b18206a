//! The synthetic organisation of the benchmarks: generated deterministically from (entities,
//! namespaces, run id), applied with server-side apply, and — for the read benchmark's
//! in-process mode — completed with the status the catalog controller would write (owner,
//! relations in both directions, conditions), so the apiserver's cache can be filled without a
//! cluster.
//!
//! `nexus-bench` uses [`Shape::CONTROLLER`] (the org it has always applied); `nexus-read-bench`
//! uses [`Shape::READ`], which adds users, incidents and searchable text.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use nexus_api::{CatalogEntity, DeclaredRef, EntityKind, EntityRef, RelationType, catalog as crd};
use serde_json::{Value, json};

use crate::catalog;

/// Label on every object (and namespace) of a benchmark run.
pub const RUN_LABEL: &str = "nexus.dev/bench";

/// One object to apply, in dependency order.
#[derive(Clone, Debug)]
pub struct Item {
    pub kind: EntityKind,
    pub ns: String,
    pub name: String,
    pub spec: Value,
}

impl Item {
    /// The object as server-side apply sends it.
    pub fn manifest(&self, run: &str) -> Value {
        let ar = catalog::resource(self.kind);
        json!({
            "apiVersion": ar.api_version, "kind": ar.kind,
            "metadata": {"name": self.name, "namespace": self.ns, "labels": {RUN_LABEL: run}},
            "spec": self.spec,
        })
    }

    pub fn id(&self) -> EntityRef {
        EntityRef::new(self.kind, self.ns.as_str(), self.name.as_str())
    }
}

/// What the org contains besides the kinds the controller benchmark has always applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Users per namespace, in percent of the namespace's entities (each a member of a team).
    pub users_pct: usize,
    /// Incidents per namespace, per mille (each affecting two components).
    pub incidents_permille: usize,
    /// Titles, descriptions, tags and code names worth searching for.
    pub text: bool,
}

impl Shape {
    /// The org of `nexus-bench` (unchanged since its first figures).
    pub const CONTROLLER: Shape = Shape {
        users_pct: 0,
        incidents_permille: 0,
        text: false,
    };
    /// The org of `nexus-read-bench`.
    pub const READ: Shape = Shape {
        users_pct: 4,
        incidents_permille: 4,
        text: true,
    };
}

/// How many entities of each kind one namespace holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub namespaces: usize,
    pub per_ns: usize,
    pub teams: usize,
    pub users: usize,
    pub systems: usize,
    pub apis: usize,
    pub repos: usize,
    pub components: usize,
    pub pipelines: usize,
    pub resources: usize,
    pub incidents: usize,
}

impl Layout {
    pub fn new(entities: usize, namespaces: usize, shape: Shape) -> Layout {
        let per_ns = entities / namespaces;
        let share = |pct: usize| (per_ns * pct / 100).max(1);
        let (systems, apis, repos, pipelines) = (share(2), share(5), share(20), share(18));
        let resources = share(13);
        let users = if shape.users_pct > 0 {
            share(shape.users_pct)
        } else {
            0
        };
        let incidents = if shape.incidents_permille > 0 {
            (per_ns * shape.incidents_permille / 1000).max(1)
        } else {
            0
        };
        let components = per_ns
            .saturating_sub(2 + systems + apis + repos + pipelines + resources + users + incidents)
            .max(1);
        Layout {
            namespaces,
            per_ns,
            teams: 2,
            users,
            systems,
            apis,
            repos,
            components,
            pipelines,
            resources,
            incidents,
        }
    }

    pub fn total(&self) -> usize {
        self.namespaces
            * (self.teams
                + self.users
                + self.systems
                + self.apis
                + self.repos
                + self.components
                + self.pipelines
                + self.resources
                + self.incidents)
    }

    /// Components in the whole org; component `c` of namespace `n` has global index
    /// `n * components + c` (its code name is [`codename`] of that index mod [`CODENAMES`]).
    pub fn all_components(&self) -> usize {
        self.namespaces * self.components
    }
}

/// Namespaces are per run, so a second run on the same cluster measures fresh objects.
pub fn bench_namespace(run: &str, n: usize) -> String {
    format!("bench-{run}-{n:03}")
}

/// Business areas: a component's title and description use one (≈ 5 % of components each).
pub const AREAS: [&str; 20] = [
    "payments",
    "checkout",
    "ledger",
    "catalog",
    "inventory",
    "shipping",
    "billing",
    "pricing",
    "orders",
    "returns",
    "loyalty",
    "reviews",
    "notifications",
    "analytics",
    "fraud",
    "identity",
    "invoicing",
    "warehouse",
    "promotions",
    "recommendations",
];
const NOUNS: [&str; 10] = [
    "gateway",
    "service",
    "worker",
    "api",
    "processor",
    "scheduler",
    "adapter",
    "engine",
    "portal",
    "sync",
];
const LANGUAGES: [&str; 6] = ["java", "go", "rust", "python", "node", "dotnet"];
const FIRST_NAMES: [&str; 16] = [
    "alex", "sam", "kim", "robin", "maria", "jonas", "li", "fatima", "noah", "emma", "ravi",
    "sofia", "omar", "yuki", "lena", "pedro",
];
const LAST_NAMES: [&str; 16] = [
    "smith", "jansen", "novak", "garcia", "mueller", "rossi", "kowalski", "tanaka", "okafor",
    "silva", "dubois", "berg", "khan", "nguyen", "lopez", "meyer",
];

/// Distinct code names; each names a few components (one at 10k entities, ≈ 9 at 100k), so a
/// search for one is the "few hits" case.
pub const CODENAMES: usize = 4096;

/// A pronounceable six-letter code name (consonant-vowel ×3), distinct for k < 343,000.
pub fn codename(k: usize) -> String {
    const C: &[u8] = b"bdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    // 2654435761 is coprime to 70³ = 343,000, so this is a permutation.
    let mut x = (k as u64).wrapping_mul(2_654_435_761) % 343_000;
    let mut out = String::with_capacity(6);
    for _ in 0..3 {
        let s = (x % 70) as usize;
        x /= 70;
        out.push(C[s / 5] as char);
        out.push(V[s % 5] as char);
    }
    out
}

fn cap(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The org of `nexus-bench`: [`generate_shape`] with [`Shape::CONTROLLER`].
pub fn generate(entities: usize, namespaces: usize, run: &str) -> Vec<Vec<Item>> {
    generate_shape(entities, namespaces, run, Shape::CONTROLLER)
}

/// A synthetic org: per namespace two teams, (users,) systems, APIs, repositories, components
/// (owned, in a system, with a repository, providing/consuming APIs, depending on their
/// neighbours), pipelines, Azure resources (and incidents) — the shape of a real catalog. One
/// phase per kind, in dependency order.
pub fn generate_shape(
    entities: usize,
    namespaces: usize,
    run: &str,
    shape: Shape,
) -> Vec<Vec<Item>> {
    let l = Layout::new(entities, namespaces, shape);
    let (systems, apis, repos, components) = (l.systems, l.apis, l.repos, l.components);
    let mut teams = Vec::new();
    let mut users = Vec::new();
    let mut systems_phase = Vec::new();
    let mut apis_phase = Vec::new();
    let mut repos_phase = Vec::new();
    let mut components_phase = Vec::new();
    let mut pipelines_phase = Vec::new();
    let mut resources_phase = Vec::new();
    let mut incidents = Vec::new();
    for n in 0..namespaces {
        let ns = bench_namespace(run, n);
        let item = |kind, name: String, spec| Item {
            kind,
            ns: ns.clone(),
            name,
            spec,
        };
        let area = |i: usize| AREAS[(n * 7 + i * 3) % AREAS.len()];
        for t in 0..2 {
            let mut spec = json!({"displayName": format!("Team {t} of {ns}")});
            if shape.text {
                spec["description"] = json!(format!(
                    "Owns the {} and {} services of {ns}",
                    area(t),
                    area(t + 1)
                ));
            }
            teams.push(item(EntityKind::Team, format!("team-{t}"), spec));
        }
        for u in 0..l.users {
            let h = n * 31 + u * 17;
            users.push(item(EntityKind::User, format!("user-{u}"), json!({
                "displayName": format!("{} {}", cap(FIRST_NAMES[h % 16]), cap(LAST_NAMES[(h / 16 + u) % 16])),
                "email": user_email(&ns, u),
                "githubLogin": format!("u{u}-{ns}"),
                "memberOf": [format!("team-{}", u % 2)],
            })));
        }
        for s in 0..systems {
            let mut spec = json!({"owner": format!("team-{}", s % 2)});
            if shape.text {
                spec["title"] = json!(format!("{} platform", cap(area(s))));
                spec["description"] = json!(format!("The {} platform of {ns}", area(s)));
            }
            systems_phase.push(item(EntityKind::System, format!("sys-{s}"), spec));
        }
        for a in 0..apis {
            let mut spec = json!({
                "type": "openapi", "lifecycle": "production", "owner": format!("team-{}", a % 2),
                "system": format!("sys-{}", a % systems), "version": "v1",
                "definitionUrl": format!("https://example.invalid/{ns}/api-{a}.yaml"),
            });
            if shape.text {
                spec["title"] = json!(format!("{} API {a}", cap(area(a))));
                spec["description"] = json!(format!(
                    "REST API of the {} domain, served by comp-{a}",
                    area(a)
                ));
            }
            apis_phase.push(item(EntityKind::Api, format!("api-{a}"), spec));
        }
        for r in 0..repos {
            repos_phase.push(item(EntityKind::Repository, format!("repo-{r}"), json!({
                "provider": "github", "url": format!("https://github.com/contoso/{ns}-repo-{r}"),
            })));
        }
        for c in 0..components {
            let mut spec = json!({
                "type": "service", "lifecycle": "production", "owner": format!("team-{}", c % 2),
                "system": format!("sys-{}", c % systems), "repository": format!("repo-{}", c % repos),
                "consumesApis": [format!("api-{}", (c + 1) % apis)],
            });
            if c < apis {
                spec["providesApis"] = json!([format!("api-{c}")]);
            }
            if c > 0 {
                spec["dependsOn"] = json!([format!("comp-{}", c - 1)]);
            }
            if shape.text {
                let (a, noun) = (area(c), NOUNS[(c / 3 + n) % NOUNS.len()]);
                let code = codename((n * components + c) % CODENAMES);
                spec["title"] = json!(format!("{} {} {c}", cap(a), cap(noun)));
                spec["description"] = json!(component_description(a, noun, &code, &ns));
                let mut tags = vec![LANGUAGES[(c + n) % LANGUAGES.len()].to_string()];
                if c % 25 == 0 {
                    tags.push("pci".into());
                }
                spec["tags"] = json!(tags);
            }
            components_phase.push(item(EntityKind::Component, format!("comp-{c}"), spec));
        }
        for p in 0..l.pipelines {
            pipelines_phase.push(item(EntityKind::Pipeline, format!("pipe-{p}"), json!({
                "provider": "githubActions", "githubActions": {"workflow": ".github/workflows/ci.yml"},
                "component": format!("comp-{}", p % components), "repository": format!("repo-{}", p % repos),
            })));
        }
        for r in 0..l.resources {
            let sub = "00000000-0000-4000-8000-000000000001";
            resources_phase.push(item(EntityKind::AzureResource, format!("res-{r}"), json!({
                "resourceId": format!("/subscriptions/{sub}/resourceGroups/rg-{ns}/providers/Microsoft.Web/sites/app-{r}"),
                "type": "Microsoft.Web/sites", "subscriptionId": sub, "resourceGroup": format!("rg-{ns}"),
                "region": "westeurope", "tags": {"team": format!("team-{}", r % 2)},
            })));
        }
        for i in 0..l.incidents {
            let (first, second) = incident_targets(i, components);
            let severity = ["high", "critical", "medium"][i % 3];
            let state = if i % 2 == 0 {
                "triggered"
            } else {
                "acknowledged"
            };
            incidents.push(item(EntityKind::Incident, format!("inc-{i}"), json!({
                "title": format!("Elevated error rate on comp-{first}"),
                "description": format!("5xx above 2 % on comp-{first} and comp-{second} of {ns}"),
                "source": "pagerduty", "externalId": format!("PD{n:04}{i:03}"),
                "severity": severity, "state": state,
                "startedAt": format!("2026-11-2{}T10:{:02}:00Z", i % 5, (i * 7) % 60),
                "affects": [format!("comp-{first}"), format!("comp-{second}")],
            })));
        }
    }
    let mut phases = vec![teams];
    if shape.users_pct > 0 {
        phases.push(users);
    }
    phases.extend([
        systems_phase,
        apis_phase,
        repos_phase,
        components_phase,
        pipelines_phase,
        resources_phase,
    ]);
    if shape.incidents_permille > 0 {
        phases.push(incidents);
    }
    phases
}

/// The description of a component; `component_description` of the same arguments with another
/// text is what the live-update benchmark applies.
pub fn component_description(area: &str, noun: &str, code: &str, ns: &str) -> String {
    format!(
        "The {area} {noun} of {ns}, code name {code}. Handles {area} requests for the storefront."
    )
}

/// The two components incident `i` affects.
pub fn incident_targets(i: usize, components: usize) -> (usize, usize) {
    let first = (i * 37 + 5) % components;
    (first, (first + 1) % components)
}

/// E-mail (and portal user name) of user `u` of namespace `ns`.
pub fn user_email(ns: &str, u: usize) -> String {
    format!("user-{u}.{ns}@example.com")
}

/// Creates the run's namespaces (existing ones are fine).
pub async fn create_namespaces(
    client: &Client,
    run: &str,
    namespaces: usize,
) -> anyhow::Result<()> {
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for n in 0..namespaces {
        let ns: Namespace = serde_json::from_value(
            json!({"metadata": {"name": bench_namespace(run, n), "labels": {RUN_LABEL: run}}}),
        )?;
        match ns_api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Deletes the run's namespaces (in the background).
pub async fn delete_namespaces(client: &Client, run: &str, namespaces: usize) {
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let dp = kube::api::DeleteParams::background();
    for n in 0..namespaces {
        let _ = ns_api.delete(&bench_namespace(run, n), &dp).await;
    }
}

/// Server-side applies every phase in order, `concurrency` requests in flight; returns the
/// number applied.
pub async fn apply_all(
    client: &Client,
    phases: &[Vec<Item>],
    concurrency: usize,
    run: &str,
) -> anyhow::Result<usize> {
    let pp = PatchParams::apply("nexus-bench").force();
    let mut applied = 0;
    for phase in phases {
        let results: Vec<anyhow::Result<()>> = stream::iter(phase.iter())
            .map(|it| {
                let pp = pp.clone();
                async move { apply_one(client, it, &pp, run).await }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for r in results {
            r?;
            applied += 1;
        }
    }
    Ok(applied)
}

/// Server-side applies one item (field manager `nexus-bench`, as `apply_all`).
pub async fn apply_one(
    client: &Client,
    it: &Item,
    pp: &PatchParams,
    run: &str,
) -> anyhow::Result<()> {
    let api = catalog::api(client, it.kind, Some(&it.ns));
    api.patch(&it.name, pp, &Patch::Apply(it.manifest(run)))
        .await
        .with_context(|| format!("applying {}:{}/{}", it.kind.ref_name(), it.ns, it.name))?;
    Ok(())
}

/// Watches every kind (only this run's objects) until `expected` of them are Ready=True;
/// returns the seconds since `since`. Watching, not polling, keeps the measurement from loading
/// the apiserver it measures. Progress goes to stderr prefixed with `who`.
pub async fn wait_all_ready(
    client: &Client,
    run: &str,
    expected: usize,
    since: Instant,
    who: &str,
) -> anyhow::Result<f64> {
    use kube::runtime::{WatchStreamExt, watcher};
    let cfg = watcher::Config::default().labels(&format!("{RUN_LABEL}={run}"));
    let streams = EntityKind::ALL.into_iter().map(|kind| {
        watcher(catalog::api(client, kind, None), cfg.clone())
            .default_backoff()
            .map(move |ev| (kind, ev))
            .boxed()
    });
    let mut events = stream::select_all(streams);
    let mut ready: HashMap<(EntityKind, String, String), bool> = HashMap::new();
    let mut ready_count = 0usize;
    let mut last_report = Instant::now();
    while let Some((kind, ev)) = events.next().await {
        let (obj, deleted) = match ev? {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
            watcher::Event::Delete(o) => (o, true),
            _ => continue,
        };
        let key = (
            kind,
            obj.metadata.namespace.clone().unwrap_or_default(),
            obj.metadata.name.clone().unwrap_or_default(),
        );
        let now_ready = !deleted && catalog::ready(&obj).is_some_and(|r| r.0 == "True");
        let was_ready = if deleted {
            ready.remove(&key).unwrap_or(false)
        } else {
            ready.insert(key, now_ready).unwrap_or(false)
        };
        match (was_ready, now_ready) {
            (false, true) => ready_count += 1,
            (true, false) => ready_count -= 1,
            _ => {}
        }
        if ready_count >= expected {
            return Ok(since.elapsed().as_secs_f64());
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "{who}: {ready_count}/{expected} Ready after {:.0}s",
                since.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    bail!("watches ended with {ready_count} of {expected} Ready")
}

/// A memory figure of the process from /proc (`VmHWM:` = peak RSS, `VmRSS:` = now), in MiB.
pub fn rss_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Two decimals (and no `-0`).
/// The `p` quantile (0–1) of sorted samples, nearest rank; NaN when there are none.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

/// The statuses the catalog controller would write for an org: owner (spec.owner, or the Azure
/// `team` tag), every declared relation in both directions (sorted by type, then target, as the
/// controller sorts them), and Ready/RelationsResolved/OwnerResolved conditions. References
/// come from the CRD types' own `declared_refs`, so they match what the controller resolves.
pub struct Statuses {
    relations: HashMap<EntityRef, Vec<(RelationType, EntityRef)>>,
    owners: HashMap<EntityRef, (EntityRef, &'static str)>,
    next_version: u64,
}

fn declared<K: CatalogEntity>(manifest: Value) -> anyhow::Result<Vec<DeclaredRef>> {
    let typed: K = serde_json::from_value(manifest)?;
    Ok(typed.declared_refs())
}

/// The references an item declares, read by its CRD type.
pub fn declared_refs(it: &Item, run: &str) -> anyhow::Result<Vec<DeclaredRef>> {
    let m = it.manifest(run);
    let refs = match it.kind {
        EntityKind::Component => declared::<crd::Component>(m),
        EntityKind::System => declared::<crd::System>(m),
        EntityKind::Domain => declared::<crd::Domain>(m),
        EntityKind::Repository => declared::<crd::Repository>(m),
        EntityKind::Pipeline => declared::<crd::Pipeline>(m),
        EntityKind::AzureResource => declared::<crd::AzureResource>(m),
        EntityKind::Environment => declared::<crd::Environment>(m),
        EntityKind::Team => declared::<crd::Team>(m),
        EntityKind::User => declared::<crd::User>(m),
        EntityKind::Api => declared::<crd::ApiEntity>(m),
        EntityKind::Package => declared::<crd::Package>(m),
        EntityKind::Incident => declared::<crd::Incident>(m),
        EntityKind::WorkItem => declared::<crd::WorkItem>(m),
        EntityKind::Runbook => declared::<crd::Runbook>(m),
    };
    refs.with_context(|| format!("reading {} as its CRD type", it.id()))
}

impl Statuses {
    pub fn resolve(phases: &[Vec<Item>], run: &str) -> anyhow::Result<Statuses> {
        let exists: std::collections::HashSet<EntityRef> =
            phases.iter().flatten().map(Item::id).collect();
        let mut relations: HashMap<EntityRef, Vec<(RelationType, EntityRef)>> = HashMap::new();
        let mut owners = HashMap::new();
        let mut link = |from: &EntityRef, relation: RelationType, to: &EntityRef| {
            relations
                .entry(from.clone())
                .or_default()
                .push((relation, to.clone()));
            relations
                .entry(to.clone())
                .or_default()
                .push((relation.inverse(), from.clone()));
        };
        for it in phases.iter().flatten() {
            let id = it.id();
            let mut owned = false;
            for r in declared_refs(it, run)? {
                let Ok(target) = r.target else { continue };
                if !exists.contains(&target) {
                    continue;
                }
                if r.field == "spec.owner" {
                    owners.insert(id.clone(), (target.clone(), "Spec"));
                    owned = true;
                }
                link(&id, r.relation, &target);
            }
            if !owned
                && it.kind == EntityKind::AzureResource
                && let Some(team) = it.spec.pointer("/tags/team").and_then(Value::as_str)
            {
                let target = EntityRef::new(EntityKind::Team, it.ns.as_str(), team);
                if exists.contains(&target) {
                    owners.insert(id.clone(), (target.clone(), "AzureTags"));
                    link(&id, RelationType::OwnedBy, &target);
                }
            }
        }
        for rels in relations.values_mut() {
            rels.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
            rels.dedup();
        }
        Ok(Statuses {
            relations,
            owners,
            next_version: 1,
        })
    }

    /// The object as a watch delivers it: metadata with uid, resourceVersion and timestamps,
    /// spec, and the status the controller would have written.
    pub fn object(&mut self, it: &Item, run: &str) -> Value {
        let id = it.id();
        let version = self.next_version;
        self.next_version += 1;
        let mut object = it.manifest(run);
        let meta = &mut object["metadata"];
        meta["uid"] = json!(format!("00000000-0000-4000-8000-{version:012x}"));
        meta["resourceVersion"] = json!(version.to_string());
        meta["generation"] = json!(1);
        meta["creationTimestamp"] = json!("2026-11-25T08:00:00Z");
        let relations: Vec<Value> = self
            .relations
            .get(&id)
            .map(|rels| {
                rels.iter()
                    .map(|(t, target)| json!({"type": t.as_str(), "targetRef": target.to_string()}))
                    .collect()
            })
            .unwrap_or_default();
        let condition = |type_: &str, reason: &str, message: String| {
            json!({"type": type_, "status": "True", "reason": reason, "message": message,
                "observedGeneration": 1, "lastTransitionTime": "2026-11-25T08:00:05Z"})
        };
        let mut conditions = vec![condition(
            "RelationsResolved",
            "Resolved",
            format!("{} relation(s) resolved", relations.len()),
        )];
        let mut status = json!({"observedGeneration": 1});
        if let Some((owner, source)) = self.owners.get(&id) {
            let reason = if *source == "Spec" {
                "OwnerFromSpec"
            } else {
                "OwnerFromAzureTags"
            };
            conditions.push(condition(
                "OwnerResolved",
                reason,
                format!("owned by {owner}"),
            ));
            status["owner"] = json!({"ref": owner.to_string(), "source": source,
                "detail": if *source == "Spec" { "spec.owner".to_string() } else { "tag team".to_string() }});
        }
        conditions.push(condition(
            "Ready",
            "Resolved",
            "all references resolve".into(),
        ));
        status["conditions"] = json!(conditions);
        status["relations"] = json!(relations);
        object["status"] = status;
        object
    }

    /// A later version of an object (for the in-process live-update measurement).
    pub fn next_version(&mut self) -> u64 {
        let v = self.next_version;
        self.next_version += 1;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_about_the_requested_size_in_dependency_order() {
        let phases = generate(10_000, 20, "t");
        let total: usize = phases.iter().map(Vec::len).sum();
        assert!((9_500..=10_500).contains(&total), "{total}");
        assert!(phases[0].iter().all(|i| i.kind == EntityKind::Team));
        assert!(phases[4].iter().all(|i| i.kind == EntityKind::Component));
        assert_eq!(phases.len(), 7);
        assert_eq!(
            Layout::new(10_000, 20, Shape::CONTROLLER).total(),
            total,
            "layout matches"
        );
    }

    #[test]
    fn read_shape_adds_users_incidents_and_text() {
        let phases = generate_shape(10_000, 20, "t", Shape::READ);
        let total: usize = phases.iter().map(Vec::len).sum();
        assert_eq!(Layout::new(10_000, 20, Shape::READ).total(), total);
        assert!(phases[1].iter().all(|i| i.kind == EntityKind::User));
        assert!(phases[8].iter().all(|i| i.kind == EntityKind::Incident));
        let comp = &phases[5][0];
        assert_eq!(comp.kind, EntityKind::Component);
        assert!(
            comp.spec["description"]
                .as_str()
                .unwrap()
                .contains(&codename(0))
        );
    }

    #[test]
    fn codenames_are_distinct_six_letter_words() {
        let names: std::collections::HashSet<String> = (0..CODENAMES).map(codename).collect();
        assert_eq!(names.len(), CODENAMES);
        assert!(names.iter().all(|n| n.len() == 6));
    }

    #[test]
    fn statuses_have_both_directions_and_owners() {
        let phases = generate_shape(1_000, 2, "t", Shape::READ);
        let mut statuses = Statuses::resolve(&phases, "t").unwrap();
        let comp = phases[5].iter().find(|i| i.name == "comp-1").unwrap();
        let obj = statuses.object(comp, "t");
        let rels = obj["status"]["relations"].as_array().unwrap();
        let has = |t: &str, target: &str| {
            rels.iter()
                .any(|r| r["type"] == t && r["targetRef"].as_str().unwrap().ends_with(target))
        };
        assert!(has("dependsOn", "/comp-0"));
        assert!(has("dependencyOf", "/comp-2"));
        assert!(has("ownedBy", "/team-1"));
        assert!(has("partOf", "/sys-1"));
        assert_eq!(obj["status"]["owner"]["source"], "Spec");
        let team = phases[0].iter().find(|i| i.name == "team-0").unwrap();
        let team_obj = statuses.object(team, "t");
        let team_rels = team_obj["status"]["relations"].as_array().unwrap();
        assert!(team_rels.iter().any(|r| r["type"] == "hasMember"));
        assert!(team_rels.iter().any(|r| r["type"] == "ownerOf"));
        let res = phases[7].iter().find(|i| i.name == "res-0").unwrap();
        assert_eq!(
            statuses.object(res, "t")["status"]["owner"]["source"],
            "AzureTags"
        );
    }
}

/// Namespaces of a synthetic org when not given: one per 500 entities, 1 to 200.
pub fn default_namespaces(entities: usize) -> usize {
    (entities / 500).clamp(1, 200)
}

/// A label value unique to one benchmark run (seconds since the epoch, hex).
pub fn run_id() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("{seconds:x}")
}

/// Starts the catalog controller over every namespace with a Lease of this run, and waits until
/// it leads.
pub async fn start_leading_controller(
    identity: &str,
    run: &str,
    bin: Option<std::path::PathBuf>,
) -> anyhow::Result<std::sync::Arc<crate::ControllerProcess>> {
    let mut opts = crate::ControllerOptions::for_namespace("default", identity);
    opts.watch_namespace = None;
    opts.lease_name = format!("nexus-{identity}-{run}");
    opts.lease_duration = 15;
    if let Some(bin) = bin {
        opts.bin = bin;
    }
    let ctrl = std::sync::Arc::new(crate::ControllerProcess::start(&opts)?);
    crate::wait_for(
        "the controller to lead",
        Duration::from_secs(60),
        || async {
            Ok(if ctrl.is_leader().await {
                Ok(())
            } else {
                Err("not yet".into())
            })
        },
    )
    .await?;
    Ok(ctrl)
}

/// What applying a synthetic org took.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    pub entities: usize,
    pub apply_seconds: f64,
    /// From the last write until every entity reported Ready.
    pub ready_after_seconds: f64,
}

/// Server-side applies `phases` (`concurrency` in flight) and waits, at most `timeout`, until
/// the controller has made every entity Ready.
pub async fn apply_until_ready(
    client: &Client,
    phases: &[Vec<Item>],
    concurrency: usize,
    run: &str,
    timeout: Duration,
    ctrl: &crate::ControllerProcess,
    who: &str,
) -> anyhow::Result<Applied> {
    let start = Instant::now();
    let entities = apply_all(client, phases, concurrency, run).await?;
    let apply_seconds = start.elapsed().as_secs_f64();
    let last_write = Instant::now();
    let ready_after_seconds = match tokio::time::timeout(
        timeout,
        wait_all_ready(client, run, entities, last_write, who),
    )
    .await
    {
        Ok(r) => r?,
        Err(_) => bail!(
            "not all {entities} entities Ready after {timeout:?}\n{}",
            ctrl.log_tail()
        ),
    };
    Ok(Applied {
        entities,
        apply_seconds,
        ready_after_seconds,
    })
}
