//! The entities, addressed by reference and by slot (a stable small integer the search index
//! stores instead of the reference), plus the indexes the views read: entities by owner, users by
//! login, and entity counts per (kind, namespace) — the unit authorisation works in.

use std::{
    collections::{BTreeSet, HashMap},
    ops::Bound,
    sync::Arc,
};

use nexus_api::{EntityKind, EntityRef};
use rustc_hash::FxHashMap;

use super::{
    entity::{Entity, KindFacts},
    tally::Tally,
};

/// Position in name order: name, namespace, kind (as references spell it), slot.
pub type NameKey = (Arc<str>, Arc<str>, &'static str, Slot);

pub type Slot = u32;

/// What a write did, for the change stream and the search index.
#[derive(Debug, Clone)]
pub enum Change {
    Added(Arc<Entity>),
    Modified(Arc<Entity>),
    Deleted(Arc<Entity>),
}

impl Change {
    pub fn entity(&self) -> &Arc<Entity> {
        match self {
            Change::Added(e) | Change::Modified(e) | Change::Deleted(e) => e,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Change::Added(_) => "ADDED",
            Change::Modified(_) => "MODIFIED",
            Change::Deleted(_) => "DELETED",
        }
    }
}

#[derive(Default)]
pub struct Store {
    /// Slots are never reused: a deleted entity's slot stays empty, so a search hit from an
    /// index that has not committed the delete yet can never point at a different entity.
    slots: Vec<Option<Arc<Entity>>>,
    by_id: FxHashMap<EntityRef, Slot>,
    /// Every entity in name order (browsing without free text walks this).
    by_name: BTreeSet<NameKey>,
    /// Facet counts per (kind, namespace).
    tallies: FxHashMap<(EntityKind, Arc<str>), Tally>,
    by_owner: HashMap<EntityRef, BTreeSet<Slot>>,
    /// Lower-cased user name, email, Entra object id and GitHub login → User slot.
    users_by_login: HashMap<String, Slot>,
    partitions: HashMap<(EntityKind, Arc<str>), usize>,
    /// Lower-cased Entra group object id → Team slot.
    teams_by_group: HashMap<String, Slot>,
    /// Repositories with open pull requests recorded (My PRs scans only these).
    with_pull_requests: BTreeSet<Slot>,
    /// Every Runbook (contextual surfacing matches each one against an entity).
    runbooks: BTreeSet<Slot>,
    /// Components with DORA buckets, and by the teams and people their buckets credit
    /// (a team's or a person's DORA reads only these).
    with_dora: BTreeSet<Slot>,
    dora_by_team: HashMap<String, BTreeSet<Slot>>,
    dora_by_person: HashMap<String, BTreeSet<Slot>>,
    /// Entities with scorecard results (the leadership views scan only these).
    with_scorecards: BTreeSet<Slot>,
    bytes: usize,
    version: u64,
    /// Bumped when a (kind, namespace) pair appears or disappears: visibility depends on it.
    layout_version: u64,
}

impl Store {
    /// Inserts or replaces an entity. Returns `None` when the stored copy is the same
    /// resourceVersion (a relist re-delivers every object).
    pub fn upsert(&mut self, entity: Entity) -> Option<(Slot, Change)> {
        let entity = Arc::new(entity);
        match self.by_id.get(&entity.id).copied() {
            Some(slot) => {
                let previous = self.slots[slot as usize].take()?;
                if previous.resource_version == entity.resource_version
                    && !entity.resource_version.is_empty()
                {
                    self.slots[slot as usize] = Some(previous);
                    return None;
                }
                self.unindex(slot, &previous);
                self.index(slot, &entity);
                if let Some(tally) = self
                    .tallies
                    .get_mut(&(entity.id.kind, entity.id.namespace.clone()))
                {
                    tally.remove(&previous);
                    tally.add(&entity);
                }
                self.slots[slot as usize] = Some(entity.clone());
                self.version += 1;
                Some((slot, Change::Modified(entity)))
            }
            None => {
                let slot = Slot::try_from(self.slots.len()).ok()?;
                self.by_id.insert(entity.id.clone(), slot);
                let count = self
                    .partitions
                    .entry((entity.id.kind, entity.id.namespace.clone()))
                    .or_default();
                if *count == 0 {
                    self.layout_version += 1;
                }
                *count += 1;
                self.tallies
                    .entry((entity.id.kind, entity.id.namespace.clone()))
                    .or_default()
                    .add(&entity);
                self.by_name.insert(name_key(&entity.id, slot));
                self.index(slot, &entity);
                self.slots.push(Some(entity.clone()));
                self.version += 1;
                Some((slot, Change::Added(entity)))
            }
        }
    }

    pub fn remove(&mut self, id: &EntityRef) -> Option<(Slot, Change)> {
        let slot = self.by_id.remove(id)?;
        let previous = self.slots.get_mut(slot as usize)?.take()?;
        self.unindex(slot, &previous);
        self.by_name.remove(&name_key(id, slot));
        let key = (id.kind, id.namespace.clone());
        if let Some(tally) = self.tallies.get_mut(&key) {
            tally.remove(&previous);
            if tally.count == 0 {
                self.tallies.remove(&key);
            }
        }
        if let Some(count) = self.partitions.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.partitions.remove(&key);
                self.layout_version += 1;
            }
        }
        self.version += 1;
        Some((slot, Change::Deleted(previous)))
    }

    fn index(&mut self, slot: Slot, e: &Entity) {
        self.bytes += e.approx_bytes();
        if let Some(owner) = &e.owner {
            self.by_owner.entry(owner.clone()).or_default().insert(slot);
        }
        for login in user_logins(e) {
            self.users_by_login.insert(login, slot);
        }
        match &e.facts {
            KindFacts::Team(team) => {
                if let Some(group) = &team.entra_group_id {
                    self.teams_by_group.insert(group.to_lowercase(), slot);
                }
            }
            KindFacts::Repository(repo) if !repo.pull_requests.is_empty() => {
                self.with_pull_requests.insert(slot);
            }
            KindFacts::Runbook(_) => {
                self.runbooks.insert(slot);
            }
            KindFacts::Component(c) if c.dora.is_some() => {
                self.with_dora.insert(slot);
                for t in &c.dora_teams {
                    self.dora_by_team.entry(t.clone()).or_default().insert(slot);
                }
                for p in &c.dora_people {
                    self.dora_by_person
                        .entry(p.clone())
                        .or_default()
                        .insert(slot);
                }
            }
            _ => {}
        }
        if !e.scorecards.is_empty() {
            self.with_scorecards.insert(slot);
        }
    }

    fn unindex(&mut self, slot: Slot, e: &Entity) {
        self.bytes = self.bytes.saturating_sub(e.approx_bytes());
        if let Some(owner) = &e.owner
            && let Some(set) = self.by_owner.get_mut(owner)
        {
            set.remove(&slot);
            if set.is_empty() {
                self.by_owner.remove(owner);
            }
        }
        for login in user_logins(e) {
            if self.users_by_login.get(&login) == Some(&slot) {
                self.users_by_login.remove(&login);
            }
        }
        if let KindFacts::Team(team) = &e.facts
            && let Some(group) = &team.entra_group_id
            && self.teams_by_group.get(&group.to_lowercase()) == Some(&slot)
        {
            self.teams_by_group.remove(&group.to_lowercase());
        }
        self.with_pull_requests.remove(&slot);
        self.runbooks.remove(&slot);
        self.with_scorecards.remove(&slot);
        if let KindFacts::Component(c) = &e.facts
            && self.with_dora.remove(&slot)
        {
            for (index, keys) in [
                (&mut self.dora_by_team, &c.dora_teams),
                (&mut self.dora_by_person, &c.dora_people),
            ] {
                for k in keys {
                    if let Some(set) = index.get_mut(k) {
                        set.remove(&slot);
                        if set.is_empty() {
                            index.remove(k);
                        }
                    }
                }
            }
        }
    }

    pub fn get(&self, id: &EntityRef) -> Option<&Arc<Entity>> {
        self.by_id
            .get(id)
            .and_then(|slot| self.slots[*slot as usize].as_ref())
    }

    pub fn slot(&self, slot: Slot) -> Option<&Arc<Entity>> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.slots.iter().flatten()
    }

    pub fn ids_of_kind(&self, kind: EntityKind) -> Vec<EntityRef> {
        self.by_id
            .keys()
            .filter(|id| id.kind == kind)
            .cloned()
            .collect()
    }

    /// Entities whose resolved owner is `owner`.
    pub fn owned_by<'a>(&'a self, owner: &EntityRef) -> impl Iterator<Item = &'a Arc<Entity>> {
        self.by_owner
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|slot| self.slot(*slot))
    }

    /// The User entity for a signed-in user name (matched against the User's name, email,
    /// Entra object id and GitHub login, ignoring case).
    pub fn find_user(&self, login: &str) -> Option<&Arc<Entity>> {
        self.users_by_login
            .get(&login.to_lowercase())
            .and_then(|slot| self.slot(*slot))
    }

    /// The Team mapped to an Entra group object id (`Team.spec.entraGroup.id`).
    pub fn team_for_group(&self, group: &str) -> Option<&Arc<Entity>> {
        self.teams_by_group
            .get(&group.to_lowercase())
            .and_then(|slot| self.slot(*slot))
    }

    /// Repositories that have open pull requests recorded.
    pub fn repositories_with_pull_requests(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.with_pull_requests
            .iter()
            .filter_map(|slot| self.slot(*slot))
    }

    /// Every Runbook.
    pub fn runbooks(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.runbooks.iter().filter_map(|slot| self.slot(*slot))
    }

    /// Components with DORA buckets.
    pub fn with_dora(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.with_dora.iter().filter_map(|slot| self.slot(*slot))
    }

    /// Components whose DORA buckets credit this team (`team:<ns>/<name>`).
    pub fn dora_of_team<'a>(&'a self, team: &str) -> impl Iterator<Item = &'a Arc<Entity>> {
        self.dora_by_team
            .get(team)
            .into_iter()
            .flatten()
            .filter_map(|slot| self.slot(*slot))
    }

    /// Components whose DORA buckets credit this person (a User reference or a login).
    pub fn dora_of_person<'a>(&'a self, person: &str) -> impl Iterator<Item = &'a Arc<Entity>> {
        self.dora_by_person
            .get(person)
            .into_iter()
            .flatten()
            .filter_map(|slot| self.slot(*slot))
    }

    /// Entities with scorecard results.
    pub fn with_scorecards(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.with_scorecards
            .iter()
            .filter_map(|slot| self.slot(*slot))
    }

    /// Namespaces holding entities of `kind`.
    pub fn namespaces_of(&self, kind: EntityKind) -> impl Iterator<Item = &Arc<str>> {
        self.partitions
            .keys()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, ns)| ns)
    }

    pub fn partitions(&self) -> impl Iterator<Item = (EntityKind, &Arc<str>, usize)> {
        self.partitions.iter().map(|((k, ns), n)| (*k, ns, *n))
    }

    /// Facet tallies per (kind, namespace).
    pub fn tallies(&self) -> impl Iterator<Item = (EntityKind, &Arc<str>, &Tally)> {
        self.tallies.iter().map(|((k, ns), t)| (*k, ns, t))
    }

    /// Entities in name order, after `after` (name, namespace, kind) when given.
    pub fn in_name_order<'a>(
        &'a self,
        after: Option<[&str; 3]>,
    ) -> impl Iterator<Item = &'a Arc<Entity>> + 'a {
        let start = match after {
            Some([name, ns, kind]) => {
                let kind = EntityKind::parse(kind)
                    .map(EntityKind::ref_name)
                    .unwrap_or("");
                Bound::Excluded((Arc::from(name), Arc::from(ns), kind, Slot::MAX))
            }
            None => Bound::Unbounded,
        };
        self.by_name
            .range((start, Bound::Unbounded))
            .filter_map(|(_, _, _, slot)| self.slot(*slot))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Bumped on every change; lets callers memoise per-version answers.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn layout_version(&self) -> u64 {
        self.layout_version
    }

    pub fn approx_bytes(&self) -> usize {
        self.bytes + self.slots.len() * 8 + self.by_id.len() * 64
    }
}

fn name_key(id: &EntityRef, slot: Slot) -> NameKey {
    (
        id.name.clone(),
        id.namespace.clone(),
        id.kind.ref_name(),
        slot,
    )
}

fn user_logins(e: &Entity) -> Vec<String> {
    let KindFacts::User(user) = &e.facts else {
        return Vec::new();
    };
    [
        Some(e.id.name.to_string()),
        user.email.clone(),
        user.entra_object_id.clone(),
        user.github_login.clone(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.to_lowercase())
    .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn entity(
        kind: EntityKind,
        ns: &str,
        name: &str,
        rv: &str,
        owner: Option<&str>,
    ) -> Entity {
        let mut obj = json!({
            "kind": kind.as_str(),
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
            "spec": {"email": format!("{name}@contoso.com")},
        });
        if let Some(owner) = owner {
            obj["status"] = json!({"owner": {"ref": owner, "source": "Spec"}});
        }
        Entity::from_object(kind, obj).unwrap()
    }

    #[test]
    fn upsert_modify_delete_keep_indexes_consistent() {
        let mut store = Store::default();
        let (slot, change) = store
            .upsert(entity(
                EntityKind::Component,
                "a",
                "web",
                "1",
                Some("team:a/t1"),
            ))
            .unwrap();
        assert!(matches!(change, Change::Added(_)));
        assert!(
            store
                .upsert(entity(
                    EntityKind::Component,
                    "a",
                    "web",
                    "1",
                    Some("team:a/t1")
                ))
                .is_none(),
            "same resourceVersion is not a change"
        );
        let t1: EntityRef = "team:a/t1".parse().unwrap();
        let t2: EntityRef = "team:a/t2".parse().unwrap();
        assert_eq!(store.owned_by(&t1).count(), 1);
        let (slot2, change) = store
            .upsert(entity(
                EntityKind::Component,
                "a",
                "web",
                "2",
                Some("team:a/t2"),
            ))
            .unwrap();
        assert_eq!(slot, slot2, "a modification keeps its slot");
        assert!(matches!(change, Change::Modified(_)));
        assert_eq!(store.owned_by(&t1).count(), 0);
        assert_eq!(store.owned_by(&t2).count(), 1);
        assert_eq!(store.namespaces_of(EntityKind::Component).count(), 1);
        let id: EntityRef = "component:a/web".parse().unwrap();
        assert!(matches!(store.remove(&id), Some((_, Change::Deleted(_)))));
        assert!(store.remove(&id).is_none());
        assert_eq!(store.owned_by(&t2).count(), 0);
        assert_eq!(store.namespaces_of(EntityKind::Component).count(), 0);
        assert!(store.slot(slot).is_none());
        let (slot3, _) = store
            .upsert(entity(EntityKind::Component, "a", "web", "3", None))
            .unwrap();
        assert_ne!(slot3, slot, "slots are never reused");
    }

    #[test]
    fn users_are_found_by_any_login_ignoring_case() {
        let mut store = Store::default();
        store.upsert(entity(EntityKind::User, "org", "alice", "1", None));
        assert!(store.find_user("ALICE@contoso.com").is_some());
        assert!(store.find_user("alice").is_some());
        assert!(store.find_user("bob").is_none());
    }
}
