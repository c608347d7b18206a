//! How current the cache is: per kind, whether the initial list is done and whether the watch
//! is connected. While any watch is down the cache still answers, and says how stale it may be.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use nexus_api::EntityKind;
use serde::Serialize;

#[derive(Default, Clone, Copy)]
struct KindSync {
    listed: bool,
    /// Set while the watch of this kind is down: since when.
    down_since: Option<Instant>,
}

pub struct SyncState {
    kinds: Mutex<HashMap<EntityKind, KindSync>>,
    started: Instant,
}

/// Reported with every answer (`cache` field, `X-Nexus-Cache-*` headers).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Freshness {
    /// Every kind has been listed at least once.
    pub synced: bool,
    /// Seconds since the oldest broken watch broke; 0 when all watches are live.
    pub stale_seconds: f64,
}

impl SyncState {
    pub fn new() -> Self {
        Self {
            kinds: Mutex::new(
                EntityKind::ALL
                    .into_iter()
                    .map(|k| {
                        (
                            k,
                            KindSync {
                                listed: false,
                                down_since: None,
                            },
                        )
                    })
                    .collect(),
            ),
            started: Instant::now(),
        }
    }

    fn update(&self, kind: EntityKind, f: impl FnOnce(&mut KindSync)) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        f(kinds.entry(kind).or_default());
    }

    pub fn listed(&self, kind: EntityKind) {
        self.update(kind, |k| {
            k.listed = true;
            k.down_since = None;
        });
    }

    pub fn connected(&self, kind: EntityKind) {
        self.update(kind, |k| k.down_since = None);
    }

    pub fn disconnected(&self, kind: EntityKind) {
        let now = Instant::now();
        self.update(kind, |k| {
            k.down_since.get_or_insert(now);
        });
    }

    pub fn freshness(&self) -> Freshness {
        let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let synced = kinds.values().all(|k| k.listed);
        let oldest = kinds.values().filter_map(|k| k.down_since).min();
        let stale_seconds = match (synced, oldest) {
            (_, Some(since)) => since.elapsed().as_secs_f64(),
            // Never listed: stale since start.
            (false, None) => self.started.elapsed().as_secs_f64(),
            (true, None) => 0.0,
        };
        Freshness {
            synced,
            stale_seconds: (stale_seconds * 10.0).round() / 10.0,
        }
    }
}

impl Default for SyncState {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_while_any_watch_is_down_and_fresh_after() {
        let s = SyncState::new();
        assert!(!s.freshness().synced);
        for k in EntityKind::ALL {
            s.listed(k);
        }
        assert_eq!(
            s.freshness(),
            Freshness {
                synced: true,
                stale_seconds: 0.0
            }
        );
        s.disconnected(EntityKind::Team);
        std::thread::sleep(std::time::Duration::from_millis(120));
        s.disconnected(EntityKind::Team); // keeps the first time
        assert!(s.freshness().stale_seconds >= 0.1);
        s.connected(EntityKind::Team);
        assert_eq!(s.freshness().stale_seconds, 0.0);
    }
}
