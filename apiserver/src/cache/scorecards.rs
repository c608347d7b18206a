//! Scorecards and their daily snapshots (`scorecards.nexus.dev`), for the leadership views: the
//! title and level ladder of each Scorecard, and per scorecard and day every entity's score and
//! level from the ScorecardSnapshots. Snapshots are compacted as they arrive — an interned
//! entity number, the score and the level index, 8 bytes an entity-day — and days older than
//! the retention are not kept, so a year of daily snapshots of 10,000 entities and five
//! scorecards is about 150 MB rather than the gigabytes of their JSON.
//!
//! Fed by list-then-watch loops like the catalog (`watch.rs`), through [`kube::runtime::watcher`]:
//! a relist deletes what vanished meanwhile. The catalog's readiness does not wait for these
//! kinds (their CRDs may not be installed); answers built on them say whether they are listed.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use jiff::civil::Date;
use kube::{Client, api::ApiResource};
use nexus_api::EntityRef;
use serde_json::Value;

use super::{
    Cache,
    json_watch::{self, JsonEvent},
};

pub const GROUP: &str = "scorecards.nexus.dev";
pub const VERSION: &str = "v1alpha1";

/// Days of snapshots kept by default: a year and a bit, like the DORA buckets.
pub const DEFAULT_RETENTION_DAYS: i32 = 400;

/// A Scorecard as the views name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScorecardInfo {
    pub title: String,
    /// The ladder, lowest first.
    pub levels: Vec<String>,
}

/// One entity on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// Index into [`ScorecardStore::entity`].
    pub entity: u32,
    pub score: u8,
    /// Index into the day's ladder; -1 below the first level.
    pub level: i8,
}

/// One scorecard's day: the ladder at the time and the entries of every shard.
#[derive(Debug, Default)]
pub struct SnapshotDay {
    pub levels: Vec<Arc<str>>,
    /// Snapshot object name → its entries (a day is split into shards).
    shards: BTreeMap<String, Vec<SnapshotEntry>>,
}

impl SnapshotDay {
    pub fn entries(&self) -> impl Iterator<Item = &SnapshotEntry> {
        self.shards.values().flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DayKey {
    scorecard: String,
    date: Date,
}

#[derive(Debug)]
pub struct ScorecardStore {
    /// `namespace/name` → Scorecard.
    scorecards: BTreeMap<String, ScorecardInfo>,
    /// Snapshot object (`namespace/name`) → the day it belongs to.
    objects: HashMap<String, DayKey>,
    days: BTreeMap<DayKey, SnapshotDay>,
    refs: Vec<EntityRef>,
    ids: HashMap<EntityRef, u32>,
    retention_days: i32,
    /// Each kind listed at least once.
    pub scorecards_listed: bool,
    pub snapshots_listed: bool,
    relist_scorecards: Option<HashSet<String>>,
    relist_snapshots: Option<HashSet<String>>,
}

impl Default for ScorecardStore {
    fn default() -> Self {
        Self {
            scorecards: BTreeMap::new(),
            objects: HashMap::new(),
            days: BTreeMap::new(),
            refs: Vec::new(),
            ids: HashMap::new(),
            retention_days: DEFAULT_RETENTION_DAYS,
            scorecards_listed: false,
            snapshots_listed: false,
            relist_scorecards: None,
            relist_snapshots: None,
        }
    }
}

fn object_key(object: &Value) -> Option<(String, String)> {
    let meta = object.get("metadata")?;
    Some((
        meta.get("namespace")?.as_str()?.to_string(),
        meta.get("name")?.as_str()?.to_string(),
    ))
}

impl ScorecardStore {
    pub fn set_retention_days(&mut self, days: i32) {
        self.retention_days = days.max(1);
    }

    pub fn retention_days(&self) -> i32 {
        self.retention_days
    }

    pub fn scorecard(&self, id: &str) -> Option<&ScorecardInfo> {
        self.scorecards.get(id)
    }

    pub fn scorecards(&self) -> impl Iterator<Item = (&String, &ScorecardInfo)> {
        self.scorecards.iter()
    }

    /// The entity an entry names.
    pub fn entity(&self, id: u32) -> Option<&EntityRef> {
        self.refs.get(id as usize)
    }

    /// Every entity ever interned (entries name them by position).
    pub fn entities(&self) -> &[EntityRef] {
        &self.refs
    }

    /// A scorecard's days from `from` on, oldest first.
    pub fn days(&self, scorecard: &str, from: Date) -> impl Iterator<Item = (Date, &SnapshotDay)> {
        let start = DayKey {
            scorecard: scorecard.to_string(),
            date: from,
        };
        self.days
            .range(start..)
            .take_while(move |(k, _)| k.scorecard == scorecard)
            .map(|(k, d)| (k.date, d))
    }

    pub fn apply_scorecard(&mut self, object: &Value) {
        let Some((ns, name)) = object_key(object) else {
            return;
        };
        let spec = object.get("spec");
        let title = spec
            .and_then(|s| s.get("title"))
            .and_then(Value::as_str)
            .unwrap_or(&name)
            .to_string();
        let levels = spec
            .and_then(|s| s.get("levels"))
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(nexus_api::scorecards::default_levels);
        let id = format!("{ns}/{name}");
        if let Some(seen) = &mut self.relist_scorecards {
            seen.insert(id.clone());
        }
        self.scorecards.insert(id, ScorecardInfo { title, levels });
    }

    pub fn delete_scorecard(&mut self, object: &Value) {
        if let Some((ns, name)) = object_key(object) {
            self.scorecards.remove(&format!("{ns}/{name}"));
        }
    }

    /// Adds or replaces one snapshot object (one shard of a day). Malformed ones and days
    /// older than the retention (relative to `today`) are left out: returns whether it was
    /// kept.
    pub fn apply_snapshot(&mut self, object: &Value, today: Date) -> bool {
        let Some((ns, name)) = object_key(object) else {
            return false;
        };
        let object_id = format!("{ns}/{name}");
        if let Some(seen) = &mut self.relist_snapshots {
            seen.insert(object_id.clone());
        }
        self.remove_snapshot(&object_id);
        let Some(spec) = object.get("spec") else {
            return false;
        };
        let Some(scorecard) = spec.get("scorecard").and_then(Value::as_str) else {
            return false;
        };
        let Some(date) = spec
            .get("date")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Date>().ok())
        else {
            return false;
        };
        let oldest = today
            .checked_sub(jiff::Span::new().days(i64::from(self.retention_days)))
            .unwrap_or(Date::MIN);
        if date < oldest {
            return false;
        }
        let levels: Vec<Arc<str>> = spec
            .get("levels")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|v| v.as_str().map(Arc::from)).collect())
            .unwrap_or_default();
        let mut entries = Vec::new();
        if let Some(map) = spec.get("entities").and_then(Value::as_object) {
            entries.reserve(map.len());
            for (raw, pair) in map {
                let Ok(entity) = raw.parse::<EntityRef>() else {
                    continue;
                };
                let (Some(score), Some(level)) = (
                    pair.get(0).and_then(Value::as_i64),
                    pair.get(1).and_then(Value::as_i64),
                ) else {
                    continue;
                };
                let (Ok(score), Ok(level)) = (u8::try_from(score), i8::try_from(level)) else {
                    continue;
                };
                if score > 100 || level < -1 {
                    continue;
                }
                let id = self.intern(entity);
                entries.push(SnapshotEntry {
                    entity: id,
                    score,
                    level,
                });
            }
        }
        let key = DayKey {
            scorecard: format!("{ns}/{scorecard}"),
            date,
        };
        let day = self.days.entry(key.clone()).or_default();
        if day.levels.is_empty() {
            day.levels = levels;
        }
        day.shards.insert(object_id.clone(), entries);
        self.objects.insert(object_id, key);
        self.expire(oldest);
        true
    }

    pub fn delete_snapshot(&mut self, object: &Value) {
        if let Some((ns, name)) = object_key(object) {
            self.remove_snapshot(&format!("{ns}/{name}"));
        }
    }

    fn remove_snapshot(&mut self, object_id: &str) {
        let Some(key) = self.objects.remove(object_id) else {
            return;
        };
        if let Some(day) = self.days.get_mut(&key) {
            day.shards.remove(object_id);
            if day.shards.is_empty() {
                self.days.remove(&key);
            }
        }
    }

    /// Drops days before `oldest`.
    fn expire(&mut self, oldest: Date) {
        let old: Vec<DayKey> = self
            .days
            .keys()
            .filter(|k| k.date < oldest)
            .cloned()
            .collect();
        for key in old {
            if let Some(day) = self.days.remove(&key) {
                for object in day.shards.keys() {
                    self.objects.remove(object);
                }
            }
        }
    }

    fn intern(&mut self, entity: EntityRef) -> u32 {
        if let Some(id) = self.ids.get(&entity) {
            return *id;
        }
        let id = u32::try_from(self.refs.len()).unwrap_or(u32::MAX);
        self.refs.push(entity.clone());
        self.ids.insert(entity, id);
        id
    }

    fn begin_relist(&mut self, snapshots: bool) {
        if snapshots {
            self.relist_snapshots = Some(HashSet::new());
        } else {
            self.relist_scorecards = Some(HashSet::new());
        }
    }

    fn end_relist(&mut self, snapshots: bool) {
        if snapshots {
            if let Some(seen) = self.relist_snapshots.take() {
                let gone: Vec<String> = self
                    .objects
                    .keys()
                    .filter(|o| !seen.contains(*o))
                    .cloned()
                    .collect();
                for o in gone {
                    self.remove_snapshot(&o);
                }
            }
            self.snapshots_listed = true;
        } else {
            if let Some(seen) = self.relist_scorecards.take() {
                self.scorecards.retain(|id, _| seen.contains(id));
            }
            self.scorecards_listed = true;
        }
    }
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Starts the list/watch loops of Scorecards and ScorecardSnapshots.
pub fn spawn(
    client: Client,
    cache: Arc<Cache>,
    namespace: Option<String>,
    cancel: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    [
        ("Scorecard", "scorecards", false),
        ("ScorecardSnapshot", "scorecardsnapshots", true),
    ]
    .into_iter()
    .map(|(kind, plural, snapshots)| {
        let cache = cache.clone();
        json_watch::spawn(
            &client,
            &resource(kind, plural),
            namespace.as_deref(),
            cancel.clone(),
            move |event| {
                let mut store = cache.write_scorecards();
                match event {
                    JsonEvent::Init => store.begin_relist(snapshots),
                    JsonEvent::InitDone => store.end_relist(snapshots),
                    JsonEvent::Apply(value) if snapshots => {
                        let today = jiff::Timestamp::now()
                            .to_zoned(jiff::tz::TimeZone::UTC)
                            .date();
                        store.apply_snapshot(&value, today);
                    }
                    JsonEvent::Apply(value) => store.apply_scorecard(&value),
                    JsonEvent::Delete(value) if snapshots => store.delete_snapshot(&value),
                    JsonEvent::Delete(value) => store.delete_scorecard(&value),
                }
            },
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use serde_json::json;

    use super::*;

    fn snapshot(name: &str, day: &str, entities: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "org"},
            "spec": {"scorecard": "prod-ready", "date": day, "levels": ["Bronze", "Silver"],
                "shard": 0, "shards": 1, "summary": {}, "entities": entities}})
    }

    #[test]
    fn snapshots_are_compacted_replaced_and_expired() {
        let mut s = ScorecardStore::default();
        s.set_retention_days(30);
        let today = date(2024, 3, 31);
        assert!(s.apply_snapshot(
            &snapshot(
                "prod-ready-20240330-0",
                "2024-03-30",
                json!({"component:a/x": [80, 1], "component:b/y": [20, -1], "bogus": [1, 1], "component:a/z": [101, 0]})
            ),
            today
        ));
        let days: Vec<_> = s.days("org/prod-ready", date(2024, 1, 1)).collect();
        assert_eq!(days.len(), 1);
        assert_eq!(
            days[0].1.entries().count(),
            2,
            "bad refs and scores are left out"
        );
        // The same object again replaces its entries.
        s.apply_snapshot(
            &snapshot(
                "prod-ready-20240330-0",
                "2024-03-30",
                json!({"component:a/x": [90, 1]}),
            ),
            today,
        );
        let day = s.days("org/prod-ready", date(2024, 1, 1)).next().unwrap().1;
        let entries: Vec<_> = day.entries().collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].score, 90);
        assert_eq!(
            s.entity(entries[0].entity).unwrap().to_string(),
            "component:a/x"
        );
        // Older than the retention: not kept.
        assert!(!s.apply_snapshot(
            &snapshot(
                "prod-ready-20240101-0",
                "2024-01-01",
                json!({"component:a/x": [1, 0]})
            ),
            today
        ));
        // A relist without the object deletes it.
        s.begin_relist(true);
        s.end_relist(true);
        assert_eq!(s.days("org/prod-ready", date(2024, 1, 1)).count(), 0);
        assert!(s.snapshots_listed);
    }
}
