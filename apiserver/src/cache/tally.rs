//! Facet counts of one (kind, namespace), kept current on every write, so browsing without
//! free text (the catalog browser's first screen) counts facets per partition instead of per
//! entity.

use nexus_api::EntityRef;
use rustc_hash::FxHashMap;

use super::entity::Entity;

#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub count: usize,
    pub owner: FxHashMap<EntityRef, usize>,
    pub lifecycle: FxHashMap<String, usize>,
    pub type_: FxHashMap<String, usize>,
    pub tag: FxHashMap<String, usize>,
}

fn bump<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, usize>, key: K, add: bool) {
    if add {
        *map.entry(key).or_default() += 1;
    } else if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

impl Tally {
    pub fn add(&mut self, e: &Entity) {
        self.apply(e, true);
    }

    pub fn remove(&mut self, e: &Entity) {
        self.apply(e, false);
    }

    fn apply(&mut self, e: &Entity, add: bool) {
        if add {
            self.count += 1;
        } else {
            self.count = self.count.saturating_sub(1);
        }
        if let Some(owner) = &e.owner {
            bump(&mut self.owner, owner.clone(), add);
        }
        if let Some(l) = &e.lifecycle {
            bump(&mut self.lifecycle, l.clone(), add);
        }
        if let Some(t) = &e.type_ {
            bump(&mut self.type_, t.clone(), add);
        }
        for tag in &e.tags {
            bump(&mut self.tag, tag.clone(), add);
        }
    }
}
