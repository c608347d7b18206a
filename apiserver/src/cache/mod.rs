//! The read cache: entities from watches, a search index over them, indexes for views, and a
//! change stream. Writers are the per-kind watch loops ([`watch`]); readers are request
//! handlers, which take the store's read lock for the duration of one query.

pub mod actions;
pub mod entity;
pub mod index;
pub mod json_watch;
pub mod scorecards;
pub mod store;
pub mod sync;
pub mod tally;
pub mod watch;

use std::{
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use nexus_api::{EntityKind, EntityRef};
use serde_json::Value;
use tokio::sync::broadcast;

use self::{
    entity::Entity,
    index::{IndexError, IndexOp, Indexer, SearchIndex},
    scorecards::ScorecardStore,
    store::{Change, Store},
    sync::SyncState,
};
use crate::metrics::Metrics;

/// Changes a live-update subscriber may fall behind by before it is told to refetch.
const CHANGE_BUFFER: usize = 16 * 1024;

pub struct Cache {
    store: RwLock<Store>,
    /// Scorecards and their daily snapshots (leadership views). Lock order: [`Cache::read`]
    /// first, then this.
    scorecards: RwLock<ScorecardStore>,
    pub index: SearchIndex,
    changes: broadcast::Sender<Arc<Change>>,
    /// Actions, runs and approvals (the portal's actions pages); independent of the store.
    pub actions: actions::ActionCache,
    pub sync: SyncState,
    pub metrics: Arc<Metrics>,
}

impl Cache {
    /// The cache and its index writer; run the writer with `std::thread::spawn(|| indexer.run())`.
    pub fn new(
        commit_interval: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<Cache>, Indexer), IndexError> {
        let (index, indexer) = SearchIndex::new(commit_interval)?;
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let cache = Cache {
            store: RwLock::new(Store::default()),
            scorecards: RwLock::new(ScorecardStore::default()),
            index,
            changes,
            actions: actions::ActionCache::default(),
            sync: SyncState::new(),
            metrics,
        };
        Ok((Arc::new(cache), indexer))
    }

    /// A consistent view for one query. Never hold it across an `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Scorecards and snapshots, for one query. Take it after [`Cache::read`] when both are
    /// needed; never hold it across an `.await`.
    pub fn read_scorecards(&self) -> RwLockReadGuard<'_, ScorecardStore> {
        self.scorecards
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn write_scorecards(&self) -> RwLockWriteGuard<'_, ScorecardStore> {
        self.scorecards
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Adds or replaces one object from a list or watch. A malformed object is counted and
    /// skipped; whatever the cache held for it stays.
    pub fn apply(&self, kind: EntityKind, object: Value) {
        let entity = match Entity::from_object(kind, object) {
            Ok(entity) => entity,
            Err(error) => {
                self.metrics.malformed(kind);
                tracing::warn!(kind = kind.as_str(), %error, "skipping malformed object");
                return;
            }
        };
        self.write(|store| store.upsert(entity));
    }

    pub fn delete(&self, id: &EntityRef) {
        self.write(|store| store.remove(id));
    }

    /// One store write, then (outside the lock) the search index and the change stream.
    fn write(&self, change: impl FnOnce(&mut Store) -> Option<(store::Slot, Change)>) {
        let change = {
            let mut store = self.store.write().unwrap_or_else(|p| p.into_inner());
            let change = change(&mut store);
            self.metrics.set_size(&store);
            change
        };
        let Some((slot, change)) = change else {
            return;
        };
        self.index.send(match &change {
            Change::Deleted(_) => IndexOp::Delete(slot),
            Change::Added(e) | Change::Modified(e) => IndexOp::Upsert(slot, e.clone()),
        });
        self.metrics.change(change.type_name());
        // No subscribers is fine.
        let _ = self.changes.send(Arc::new(change));
    }

    /// After a (re)list: the objects of `kind` are exactly `objects`. Entities that vanished
    /// while the watch was down are deleted, so a relist loses nothing and keeps nothing stale.
    pub fn replace_kind(&self, kind: EntityKind, objects: Vec<Value>) {
        let seen = self.apply_page(kind, objects).into_iter().collect();
        self.retain_kind(kind, &seen);
    }

    /// Applies one page of a list; returns the references it held.
    pub fn apply_page(&self, kind: EntityKind, objects: Vec<Value>) -> Vec<EntityRef> {
        let mut seen = Vec::with_capacity(objects.len());
        for object in objects {
            if let Some(id) = object_ref(kind, &object) {
                seen.push(id);
            }
            self.apply(kind, object);
        }
        seen
    }

    /// Deletes the entities of `kind` not in `seen` (the end of a relist).
    pub fn retain_kind(&self, kind: EntityKind, seen: &std::collections::HashSet<EntityRef>) {
        let gone: Vec<EntityRef> = self
            .read()
            .ids_of_kind(kind)
            .into_iter()
            .filter(|id| !seen.contains(id))
            .collect();
        for id in gone {
            self.delete(&id);
        }
    }
}

/// The reference of a raw object, if it has a name and namespace.
pub fn object_ref(kind: EntityKind, object: &Value) -> Option<EntityRef> {
    let meta = object.get("metadata")?;
    Some(EntityRef::new(
        kind,
        meta.get("namespace")?.as_str()?,
        meta.get("name")?.as_str()?,
    ))
}
