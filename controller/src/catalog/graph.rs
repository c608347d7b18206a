//! The in-memory relation graph the catalog controller reconciles against.
//!
//! Watches of every kind feed it (`upsert` / `remove`); each change returns the set of other
//! entities whose status it affects, which the controller then requeues. Reconcilers only read
//! it, so a status never depends on the order in which events arrived.

use std::collections::{BTreeSet, HashMap, HashSet};

use nexus_api::{
    DeclaredRef, EntityKind, EntityRef, OwnerInputs, OwnerSource, RelationType, entity::MatchKeys,
};

use super::ownership::{self, OwnerLookup, Ownership};

/// What the graph knows about one entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub refs: Vec<DeclaredRef>,
    pub owner_inputs: OwnerInputs,
    pub match_keys: Option<MatchKeys>,
    /// Set when the object could not be deserialised; it exists but declares nothing.
    pub invalid: Option<String>,
}

/// A reference that does not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub field: String,
    pub target: String,
    pub problem: Problem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    NotFound,
    Invalid(String),
}

/// The resolved view of one entity: what its status should say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub relations: BTreeSet<(RelationType, EntityRef)>,
    pub unresolved: Vec<Unresolved>,
    pub owner: Option<Ownership>,
    pub owner_applicable: bool,
    pub invalid: Option<String>,
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<EntityRef, Node>,
    /// Resolved owner per entity (explicit or inferred).
    owners: HashMap<EntityRef, Ownership>,
    /// target → (relation as declared by the source, source). Kept for targets that do not
    /// exist yet, so that their creation finds who was waiting for them.
    incoming: HashMap<EntityRef, BTreeSet<(RelationType, EntityRef)>>,
    /// Entities whose owner is inferred, so it may change when teams or repositories change.
    inferred: HashSet<EntityRef>,
    /// repository → entities whose ownership reads its CODEOWNERS.
    repo_dependents: HashMap<EntityRef, HashSet<EntityRef>>,
    index: MatchIndex,
    relisting: HashMap<EntityKind, HashSet<EntityRef>>,
    synced: HashSet<EntityKind>,
    /// Entities per kind, kept on every insert/remove: read on every watch event.
    counts: HashMap<EntityKind, usize>,
}

/// Lookups from non-reference facts (GitHub handles, names, Entra groups) to Teams and Users.
/// Each key keeps every holder, sorted, so the choice among several is deterministic.
#[derive(Debug, Default)]
struct MatchIndex {
    github: HashMap<String, Vec<EntityRef>>,
    names: HashMap<String, Vec<EntityRef>>,
    entra: HashMap<String, Vec<EntityRef>>,
}

impl MatchIndex {
    /// The holder of `key` in `namespace` if there is one, else the first anywhere; a Team
    /// always wins over a User.
    fn pick(
        map: &HashMap<String, Vec<EntityRef>>,
        key: &str,
        namespace: &str,
    ) -> Option<EntityRef> {
        let holders = map.get(key)?;
        holders
            .iter()
            .min_by_key(|r| {
                (
                    r.kind != EntityKind::Team,
                    &*r.namespace != namespace,
                    (*r).clone(),
                )
            })
            .cloned()
    }
}

impl Graph {
    pub fn contains(&self, key: &EntityRef) -> bool {
        self.nodes.contains_key(key)
    }

    pub fn count(&self, kind: EntityKind) -> usize {
        self.counts.get(&kind).copied().unwrap_or_default()
    }

    /// A watch (re)started its initial list for `kind`.
    pub fn begin_relist(&mut self, kind: EntityKind) {
        self.relisting.insert(kind, HashSet::new());
    }

    /// The initial list for `kind` is complete: entities not seen in it were deleted while
    /// nobody watched.
    pub fn end_relist(&mut self, kind: EntityKind) -> HashSet<EntityRef> {
        let seen = self.relisting.remove(&kind).unwrap_or_default();
        let gone: Vec<EntityRef> = self
            .nodes
            .keys()
            .filter(|k| k.kind == kind && !seen.contains(*k))
            .cloned()
            .collect();
        let mut affected = HashSet::new();
        for key in gone {
            affected.extend(self.remove(&key));
        }
        self.synced.insert(kind);
        affected
    }

    pub fn is_synced(&self, kinds: &[EntityKind]) -> bool {
        kinds.iter().all(|k| self.synced.contains(k))
    }

    /// Inserts or replaces an entity; returns the other entities whose status changes.
    pub fn upsert(&mut self, key: EntityRef, node: Node) -> HashSet<EntityRef> {
        if let Some(seen) = self.relisting.get_mut(&key.kind) {
            seen.insert(key.clone());
        }
        let mut affected = HashSet::new();
        let old = self.nodes.get(&key).cloned();
        if old.as_ref() == Some(&node) {
            return affected;
        }
        if old.is_none() {
            // Everyone waiting for this entity now resolves it.
            affected.extend(self.sources_of(&key));
        }
        let old_node = old.clone().unwrap_or_default();
        if old_node.refs != node.refs {
            self.unlink(&key, &old_node.refs, &mut affected);
            self.link(&key, &node.refs, &mut affected);
        }
        let codeowners_changed =
            old_node.owner_inputs.codeowners != node.owner_inputs.codeowners || old.is_none();
        let keys_changed = old_node.match_keys != node.match_keys;
        self.track_inputs(&key, Some(&old_node.owner_inputs), Some(&node.owner_inputs));
        if self.nodes.insert(key.clone(), node).is_none() {
            *self.counts.entry(key.kind).or_default() += 1;
        }
        if keys_changed {
            self.rebuild_index();
            self.reresolve_inferred(&mut affected);
        }
        if key.kind == EntityKind::Repository && codeowners_changed {
            self.reresolve_repo_dependents(&key, &mut affected);
        }
        self.reresolve(&key, &mut affected);
        affected.remove(&key);
        affected
    }

    /// Removes an entity; returns the entities whose status changes.
    pub fn remove(&mut self, key: &EntityRef) -> HashSet<EntityRef> {
        let mut affected = HashSet::new();
        let Some(node) = self.nodes.remove(key) else {
            return affected;
        };
        if let Some(n) = self.counts.get_mut(&key.kind) {
            *n = n.saturating_sub(1);
        }
        affected.extend(self.sources_of(key));
        self.unlink(key, &node.refs, &mut affected);
        self.track_inputs(key, Some(&node.owner_inputs), None);
        // With the node gone this drops its owner and the inferred `ownedBy` edge.
        self.reresolve(key, &mut affected);
        if node.match_keys.is_some() {
            self.rebuild_index();
            self.reresolve_inferred(&mut affected);
        }
        if key.kind == EntityKind::Repository {
            self.reresolve_repo_dependents(key, &mut affected);
        }
        affected.remove(key);
        affected
    }

    /// What the status of `key` should say.
    pub fn view(&self, key: &EntityRef) -> View {
        let mut view = View::default();
        let Some(node) = self.nodes.get(key) else {
            return view;
        };
        view.invalid = node.invalid.clone();
        view.owner_applicable = node.owner_inputs.applicable;
        view.owner = self.owners.get(key).cloned();
        for r in &node.refs {
            match &r.target {
                Ok(target) if self.nodes.contains_key(target) => {
                    view.relations.insert((r.relation, target.clone()));
                }
                Ok(target) => view.unresolved.push(Unresolved {
                    field: r.field.to_string(),
                    target: target.to_string(),
                    problem: Problem::NotFound,
                }),
                Err(e) => view.unresolved.push(Unresolved {
                    field: r.field.to_string(),
                    target: r.raw.clone(),
                    problem: Problem::Invalid(e.to_string()),
                }),
            }
        }
        if let Some(o) = &view.owner
            && o.source != OwnerSource::Spec
        {
            view.relations
                .insert((RelationType::OwnedBy, o.owner.clone()));
        }
        if let Some(incoming) = self.incoming.get(key) {
            for (relation, source) in incoming {
                if self.nodes.contains_key(source) {
                    view.relations.insert((relation.inverse(), source.clone()));
                }
            }
        }
        view
    }

    fn sources_of(&self, key: &EntityRef) -> Vec<EntityRef> {
        self.incoming
            .get(key)
            .map(|s| s.iter().map(|(_, src)| src.clone()).collect())
            .unwrap_or_default()
    }

    fn link(&mut self, key: &EntityRef, refs: &[DeclaredRef], affected: &mut HashSet<EntityRef>) {
        for r in refs {
            if let Ok(target) = &r.target {
                self.incoming
                    .entry(target.clone())
                    .or_default()
                    .insert((r.relation, key.clone()));
                affected.insert(target.clone());
            }
        }
    }

    fn unlink(&mut self, key: &EntityRef, refs: &[DeclaredRef], affected: &mut HashSet<EntityRef>) {
        for r in refs {
            if let Ok(target) = &r.target {
                self.remove_incoming(target, r.relation, key);
                affected.insert(target.clone());
            }
        }
    }

    fn remove_incoming(&mut self, target: &EntityRef, relation: RelationType, source: &EntityRef) {
        if let Some(set) = self.incoming.get_mut(target) {
            set.remove(&(relation, source.clone()));
            if set.is_empty() {
                self.incoming.remove(target);
            }
        }
    }

    /// Keeps `inferred` and `repo_dependents` in step with an entity's ownership inputs.
    fn track_inputs(
        &mut self,
        key: &EntityRef,
        old: Option<&OwnerInputs>,
        new: Option<&OwnerInputs>,
    ) {
        if let Some(repo) = old.and_then(|o| o.repository.as_ref())
            && let Some(deps) = self.repo_dependents.get_mut(repo)
        {
            deps.remove(key);
            if deps.is_empty() {
                self.repo_dependents.remove(repo);
            }
        }
        self.inferred.remove(key);
        if let Some(new) = new {
            if let Some(repo) = &new.repository {
                self.repo_dependents
                    .entry(repo.clone())
                    .or_default()
                    .insert(key.clone());
            }
            if new.applicable && new.explicit.is_none() {
                self.inferred.insert(key.clone());
            }
        }
    }

    /// Recomputes the owners of entities that read this repository's CODEOWNERS.
    fn reresolve_repo_dependents(&mut self, repo: &EntityRef, affected: &mut HashSet<EntityRef>) {
        let deps: Vec<EntityRef> = self
            .repo_dependents
            .get(repo)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        for dep in deps {
            self.reresolve(&dep, affected);
        }
    }

    fn reresolve_inferred(&mut self, affected: &mut HashSet<EntityRef>) {
        let keys: Vec<EntityRef> = self.inferred.iter().cloned().collect();
        for key in keys {
            self.reresolve(&key, affected);
        }
    }

    /// Recomputes the owner of `key`; on change, moves the inferred `ownedBy` edge and marks
    /// the entity and both owners affected.
    fn reresolve(&mut self, key: &EntityRef, affected: &mut HashSet<EntityRef>) {
        let new = self
            .nodes
            .get(key)
            .and_then(|n| ownership::resolve(&n.owner_inputs, &key.namespace, self));
        let old = self.owners.get(key).cloned();
        if old == new {
            return;
        }
        if let Some(old) = &old {
            if old.source != OwnerSource::Spec {
                self.remove_incoming(&old.owner, RelationType::OwnedBy, key);
            }
            affected.insert(old.owner.clone());
        }
        match new {
            Some(new) => {
                if new.source != OwnerSource::Spec {
                    self.incoming
                        .entry(new.owner.clone())
                        .or_default()
                        .insert((RelationType::OwnedBy, key.clone()));
                }
                affected.insert(new.owner.clone());
                self.owners.insert(key.clone(), new);
            }
            None => {
                self.owners.remove(key);
            }
        }
        affected.insert(key.clone());
    }

    fn rebuild_index(&mut self) {
        let mut index = MatchIndex::default();
        for (key, keys) in self
            .nodes
            .iter()
            .filter_map(|(k, n)| n.match_keys.as_ref().map(|m| (k, m)))
        {
            for n in &keys.names {
                index.names.entry(n.clone()).or_default().push(key.clone());
            }
            for g in &keys.github {
                index.github.entry(g.clone()).or_default().push(key.clone());
            }
            for e in &keys.entra_groups {
                index.entra.entry(e.clone()).or_default().push(key.clone());
            }
        }
        self.index = index;
    }
}

impl OwnerLookup for Graph {
    fn codeowners(&self, repository: &EntityRef) -> Option<Vec<String>> {
        self.nodes
            .get(repository)
            .map(|n| n.owner_inputs.codeowners.clone())
    }

    fn by_github(&self, handle: &str, namespace: &str) -> Option<EntityRef> {
        MatchIndex::pick(&self.index.github, handle, namespace)
    }

    fn by_name(&self, name: &str, namespace: &str) -> Option<EntityRef> {
        MatchIndex::pick(&self.index.names, name, namespace)
    }

    fn by_entra_group(&self, id: &str, namespace: &str) -> Option<EntityRef> {
        MatchIndex::pick(&self.index.entra, id, namespace)
    }
}

#[cfg(test)]
mod tests {
    use nexus_api::entity::RefCollector;

    use super::*;

    fn key(kind: EntityKind, name: &str) -> EntityRef {
        EntityRef::new(kind, "ns", name)
    }

    fn component(owner: &str, depends_on: &[&str]) -> Node {
        let deps: Vec<String> = depends_on.iter().map(|s| s.to_string()).collect();
        let owner = owner.to_string();
        let mut c = RefCollector::new("ns");
        c.one(
            "spec.owner",
            RelationType::OwnedBy,
            Some(&owner),
            EntityKind::Team,
            &[],
        )
        .many(
            "spec.dependsOn",
            RelationType::DependsOn,
            &deps,
            EntityKind::Component,
            &[],
        );
        let refs = c.finish();
        Node {
            owner_inputs: OwnerInputs::from_refs(&refs, None, vec![]),
            refs,
            ..Default::default()
        }
    }

    fn team(slug: &str) -> Node {
        Node {
            match_keys: Some(MatchKeys {
                names: vec![slug.into()],
                github: vec![format!("contoso/{slug}")],
                entra_groups: vec![],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn dangling_reference_resolves_when_the_target_appears() {
        let mut g = Graph::default();
        let a = key(EntityKind::Component, "a");
        let t = key(EntityKind::Team, "payments");
        g.upsert(a.clone(), component("payments", &[]));
        let v = g.view(&a);
        assert_eq!(v.unresolved.len(), 1);
        assert_eq!(v.unresolved[0].target, "team:ns/payments");
        assert_eq!(v.unresolved[0].problem, Problem::NotFound);

        let affected = g.upsert(t.clone(), team("payments"));
        assert!(
            affected.contains(&a),
            "creating the team must requeue its components"
        );
        let v = g.view(&a);
        assert!(v.unresolved.is_empty());
        assert!(v.relations.contains(&(RelationType::OwnedBy, t.clone())));
        let tv = g.view(&t);
        assert!(tv.relations.contains(&(RelationType::OwnerOf, a.clone())));

        let affected = g.remove(&t);
        assert!(
            affected.contains(&a),
            "deleting the team must requeue its components"
        );
        assert_eq!(g.view(&a).unresolved.len(), 1);
    }

    #[test]
    fn both_directions_and_edge_changes() {
        let mut g = Graph::default();
        let (a, b, c) = (
            key(EntityKind::Component, "a"),
            key(EntityKind::Component, "b"),
            key(EntityKind::Component, "c"),
        );
        g.upsert(key(EntityKind::Team, "t"), team("t"));
        g.upsert(b.clone(), component("t", &[]));
        g.upsert(c.clone(), component("t", &[]));
        g.upsert(a.clone(), component("t", &["b"]));
        assert!(
            g.view(&b)
                .relations
                .contains(&(RelationType::DependencyOf, a.clone()))
        );
        let affected = g.upsert(a.clone(), component("t", &["c"]));
        assert!(affected.contains(&b) && affected.contains(&c));
        assert!(
            !g.view(&b)
                .relations
                .contains(&(RelationType::DependencyOf, a.clone()))
        );
        assert!(
            g.view(&c)
                .relations
                .contains(&(RelationType::DependencyOf, a.clone()))
        );
        // An identical upsert affects nobody.
        assert!(g.upsert(a.clone(), component("t", &["c"])).is_empty());
    }

    #[test]
    fn inferred_owner_follows_codeowners_and_team_changes() {
        let mut g = Graph::default();
        let repo = key(EntityKind::Repository, "r");
        let comp = key(EntityKind::Component, "x");
        let t = key(EntityKind::Team, "payments");
        g.upsert(
            comp.clone(),
            Node {
                owner_inputs: OwnerInputs {
                    applicable: true,
                    repository: Some(repo.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        assert_eq!(g.view(&comp).owner, None);
        g.upsert(t.clone(), team("payments"));
        let affected = g.upsert(
            repo.clone(),
            Node {
                owner_inputs: OwnerInputs {
                    applicable: true,
                    repository: Some(repo.clone()),
                    codeowners: vec!["@contoso/payments".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        assert!(affected.contains(&comp) && affected.contains(&t));
        let o = g.view(&comp).owner.unwrap();
        assert_eq!((o.owner, o.source), (t.clone(), OwnerSource::Codeowners));
        assert!(
            g.view(&t)
                .relations
                .contains(&(RelationType::OwnerOf, comp.clone()))
        );

        // The team goes away: the inferred owner goes with it.
        let affected = g.remove(&t);
        assert!(affected.contains(&comp));
        assert_eq!(g.view(&comp).owner, None);
    }

    #[test]
    fn name_matches_prefer_the_same_namespace_and_teams() {
        let mut g = Graph::default();
        let here = EntityRef::new(EntityKind::Team, "a", "core");
        let there = EntityRef::new(EntityKind::Team, "b", "core");
        g.upsert(there.clone(), team("core"));
        g.upsert(here.clone(), team("core"));
        let res = EntityRef::new(EntityKind::AzureResource, "a", "app");
        g.upsert(
            res.clone(),
            Node {
                owner_inputs: OwnerInputs {
                    applicable: true,
                    azure_tags: [("team".to_string(), "core".to_string())].into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        assert_eq!(g.view(&res).owner.unwrap().owner, here);
        // Removing the other namespace's team changes nothing here.
        let affected = g.remove(&there);
        assert!(!affected.contains(&res));
    }

    #[test]
    fn relist_drops_entities_deleted_while_not_watching() {
        let mut g = Graph::default();
        let a = key(EntityKind::Component, "a");
        let b = key(EntityKind::Component, "b");
        g.upsert(key(EntityKind::Team, "t"), team("t"));
        g.upsert(a.clone(), component("t", &["b"]));
        g.upsert(b.clone(), component("t", &[]));
        g.begin_relist(EntityKind::Component);
        g.upsert(a.clone(), component("t", &["b"]));
        let affected = g.end_relist(EntityKind::Component);
        assert!(!g.contains(&b));
        assert!(affected.contains(&a));
        assert!(g.is_synced(&[EntityKind::Component]));
        assert_eq!(g.count(EntityKind::Component), 1);
        assert_eq!(g.count(EntityKind::Team), 1);
        assert!(!g.is_synced(&[EntityKind::Component, EntityKind::Team]));
    }
}
