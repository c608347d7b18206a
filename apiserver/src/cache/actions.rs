//! Self-service actions (`actions.nexus.dev`): Actions, ActionRuns and ActionApprovals, for the
//! portal's actions pages.
//!
//! Fed by list-then-watch loops like the scorecards ([`kube::runtime::watcher`]: list once,
//! watch from the list's version, resume after a break, relist on 410 Gone and drop what
//! vanished meanwhile). Objects are kept typed; one that does not decode is counted and
//! skipped, and what the cache held for it stays. Every change is also published (namespace,
//! name, phase, action) for the live stream. The catalog's readiness does not wait for these
//! kinds: their CRDs may be missing.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use kube::{Client, api::ApiResource};
use nexus_api::actions::{Action, ActionApproval, ActionRun};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{
    Cache,
    json_watch::{self, JsonEvent},
};

pub const GROUP: &str = nexus_api::actions::GROUP;
pub const VERSION: &str = nexus_api::actions::VERSION;

/// Changes a live-update subscriber may fall behind by before it is told to refetch.
pub const CHANGE_BUFFER: usize = 4 * 1024;

/// The three kinds, as RBAC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Action,
    Run,
    Approval,
}

impl ActionKind {
    pub const ALL: [ActionKind; 3] = [ActionKind::Action, ActionKind::Run, ActionKind::Approval];

    pub fn kind(self) -> &'static str {
        match self {
            ActionKind::Action => "Action",
            ActionKind::Run => "ActionRun",
            ActionKind::Approval => "ActionApproval",
        }
    }

    /// The RBAC resource (plural).
    pub fn resource(self) -> &'static str {
        match self {
            ActionKind::Action => "actions",
            ActionKind::Run => "actionruns",
            ActionKind::Approval => "actionapprovals",
        }
    }

    pub fn api_resource(self) -> ApiResource {
        ApiResource {
            group: GROUP.into(),
            version: VERSION.into(),
            api_version: format!("{GROUP}/{VERSION}"),
            kind: self.kind().into(),
            plural: self.resource().into(),
        }
    }
}

/// `(namespace, name)`.
pub type Key = (String, String);

/// One change, as the live stream tells it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionChange {
    #[serde(skip)]
    pub kind: ActionKind,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    #[serde(rename = "type")]
    pub change: &'static str,
    pub namespace: String,
    pub name: String,
    /// Runs: the phase; approvals: the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Runs: the Action; approvals: the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Approvals: the run they decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

#[derive(Default)]
pub struct ActionStore {
    pub actions: BTreeMap<Key, Arc<Action>>,
    pub runs: BTreeMap<Key, Arc<ActionRun>>,
    pub approvals: BTreeMap<Key, Arc<ActionApproval>>,
    listed: HashSet<ActionKind>,
    relisting: BTreeMap<ActionKindKey, HashSet<Key>>,
}

/// [`ActionKind`] as a map key (ordered).
type ActionKindKey = u8;

fn kind_key(kind: ActionKind) -> ActionKindKey {
    match kind {
        ActionKind::Action => 0,
        ActionKind::Run => 1,
        ActionKind::Approval => 2,
    }
}

fn key_of(object: &Value) -> Option<Key> {
    let meta = object.get("metadata")?;
    Some((
        meta.get("namespace")?.as_str()?.to_string(),
        meta.get("name")?.as_str()?.to_string(),
    ))
}

impl ActionStore {
    /// Whether `kind` has been listed at least once.
    pub fn listed(&self, kind: ActionKind) -> bool {
        self.listed.contains(&kind)
    }

    /// Namespaces holding objects of `kind`.
    pub fn namespaces(&self, kind: ActionKind) -> Vec<String> {
        let mut out: Vec<String> = match kind {
            ActionKind::Action => self.actions.keys().map(|k| k.0.clone()).collect(),
            ActionKind::Run => self.runs.keys().map(|k| k.0.clone()).collect(),
            ActionKind::Approval => self.approvals.keys().map(|k| k.0.clone()).collect(),
        };
        out.dedup();
        out
    }

    /// The approvals of one run, in creation order.
    pub fn approvals_of(&self, namespace: &str, run: &str) -> Vec<Arc<ActionApproval>> {
        let mut out: Vec<Arc<ActionApproval>> = self
            .approvals
            .range((namespace.to_string(), String::new())..)
            .take_while(|(k, _)| k.0 == namespace)
            .filter(|(_, a)| a.spec.run == run)
            .map(|(_, a)| a.clone())
            .collect();
        out.sort_by(|a, b| {
            (&a.metadata.creation_timestamp, &a.metadata.name)
                .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
        });
        out
    }

    /// Adds or replaces one object; `None` when it does not decode (the old one stays).
    pub fn apply(&mut self, kind: ActionKind, object: Value) -> Option<ActionChange> {
        let key = key_of(&object)?;
        if let Some(seen) = self.relisting.get_mut(&kind_key(kind)) {
            seen.insert(key.clone());
        }
        let (existed, change) = match kind {
            ActionKind::Action => {
                let a: Action = serde_json::from_value(object).ok()?;
                let existed = self.actions.insert(key.clone(), Arc::new(a)).is_some();
                (existed, change_of(kind, &key, None, None, None))
            }
            ActionKind::Run => {
                let r: ActionRun = serde_json::from_value(object).ok()?;
                let phase = r.status.as_ref().and_then(|s| s.phase.clone());
                let action = Some(r.spec.action.clone());
                let existed = self.runs.insert(key.clone(), Arc::new(r)).is_some();
                (existed, change_of(kind, &key, phase, action, None))
            }
            ActionKind::Approval => {
                let a: ActionApproval = serde_json::from_value(object).ok()?;
                let decision = Some(format!("{:?}", a.spec.decision));
                let (run, stage) = (a.spec.run.clone(), a.spec.stage.clone());
                let existed = self.approvals.insert(key.clone(), Arc::new(a)).is_some();
                let mut c = change_of(kind, &key, decision, None, Some(run));
                c.stage = Some(stage);
                (existed, c)
            }
        };
        Some(ActionChange {
            change: if existed { "MODIFIED" } else { "ADDED" },
            ..change
        })
    }

    pub fn delete(&mut self, kind: ActionKind, object: &Value) -> Option<ActionChange> {
        let key = key_of(object)?;
        self.remove(kind, &key)
    }

    fn remove(&mut self, kind: ActionKind, key: &Key) -> Option<ActionChange> {
        let mut change = match kind {
            ActionKind::Action => {
                self.actions.remove(key)?;
                change_of(kind, key, None, None, None)
            }
            ActionKind::Run => {
                let r = self.runs.remove(key)?;
                let phase = r.status.as_ref().and_then(|s| s.phase.clone());
                change_of(kind, key, phase, Some(r.spec.action.clone()), None)
            }
            ActionKind::Approval => {
                let a = self.approvals.remove(key)?;
                let mut c = change_of(kind, key, None, None, Some(a.spec.run.clone()));
                c.stage = Some(a.spec.stage.clone());
                c
            }
        };
        change.change = "DELETED";
        Some(change)
    }

    fn begin_relist(&mut self, kind: ActionKind) {
        self.relisting.insert(kind_key(kind), HashSet::new());
    }

    /// The end of a (re)list: what the list did not hold is gone.
    fn end_relist(&mut self, kind: ActionKind) -> Vec<ActionChange> {
        self.listed.insert(kind);
        let Some(seen) = self.relisting.remove(&kind_key(kind)) else {
            return Vec::new();
        };
        let gone: Vec<Key> = match kind {
            ActionKind::Action => self.actions.keys().cloned().collect(),
            ActionKind::Run => self.runs.keys().cloned().collect(),
            ActionKind::Approval => self.approvals.keys().cloned().collect(),
        };
        gone.into_iter()
            .filter(|k| !seen.contains(k))
            .filter_map(|k| self.remove(kind, &k))
            .collect()
    }
}

fn change_of(
    kind: ActionKind,
    key: &Key,
    phase: Option<String>,
    action: Option<String>,
    run: Option<String>,
) -> ActionChange {
    ActionChange {
        kind,
        change: "MODIFIED",
        namespace: key.0.clone(),
        name: key.1.clone(),
        phase,
        action,
        run,
        stage: None,
    }
}

/// The store and its change stream (held by [`Cache`]).
pub struct ActionCache {
    store: std::sync::RwLock<ActionStore>,
    changes: broadcast::Sender<Arc<ActionChange>>,
}

impl Default for ActionCache {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        Self {
            store: std::sync::RwLock::new(ActionStore::default()),
            changes,
        }
    }
}

impl ActionCache {
    /// A consistent view for one query. Never hold it across an `.await`.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, ActionStore> {
        self.store.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ActionChange>> {
        self.changes.subscribe()
    }

    /// One write, then (outside the lock) the change stream.
    pub fn write(&self, f: impl FnOnce(&mut ActionStore) -> Vec<ActionChange>) {
        let changes = {
            let mut store = self.store.write().unwrap_or_else(|p| p.into_inner());
            f(&mut store)
        };
        for c in changes {
            // No subscribers is fine.
            let _ = self.changes.send(Arc::new(c));
        }
    }
}

/// Starts the list/watch loops of the three kinds.
pub fn spawn(
    client: Client,
    cache: Arc<Cache>,
    namespace: Option<String>,
    cancel: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    ActionKind::ALL
        .into_iter()
        .map(|kind| {
            let cache = cache.clone();
            let name = kind.kind();
            json_watch::spawn(
                &client,
                &kind.api_resource(),
                namespace.as_deref(),
                cancel.clone(),
                move |event| {
                    let metrics = &cache.metrics;
                    cache.actions.write(|store| match event {
                        JsonEvent::Init => {
                            store.begin_relist(kind);
                            Vec::new()
                        }
                        JsonEvent::InitDone => store.end_relist(kind),
                        JsonEvent::Apply(value) => match store.apply(kind, value) {
                            Some(c) => vec![c],
                            None => {
                                metrics.malformed_object(name);
                                tracing::warn!(kind = name, "skipping malformed object");
                                Vec::new()
                            }
                        },
                        JsonEvent::Delete(value) => {
                            store.delete(kind, &value).into_iter().collect()
                        }
                    });
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(name: &str, phase: &str) -> Value {
        json!({"apiVersion": "actions.nexus.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"action": "scale", "requester": "dana", "inputs": {}},
            "status": {"phase": phase}})
    }

    #[test]
    fn relist_drops_what_vanished_and_malformed_objects_keep_the_old_one() {
        let mut s = ActionStore::default();
        assert!(!s.listed(ActionKind::Run));
        s.begin_relist(ActionKind::Run);
        let c = s.apply(ActionKind::Run, run("a", "Pending")).unwrap();
        assert_eq!((c.change, c.phase.as_deref()), ("ADDED", Some("Pending")));
        s.apply(ActionKind::Run, run("b", "Pending")).unwrap();
        assert!(s.end_relist(ActionKind::Run).is_empty());
        assert!(s.listed(ActionKind::Run));
        // A malformed update leaves the stored run alone.
        let mut bad = run("a", "Running");
        bad["spec"]["attempt"] = json!("two");
        assert!(s.apply(ActionKind::Run, bad).is_none());
        assert_eq!(
            s.runs[&("ns".into(), "a".into())]
                .status
                .as_ref()
                .unwrap()
                .phase
                .as_deref(),
            Some("Pending")
        );
        // A relist without b deletes it, and says so.
        s.begin_relist(ActionKind::Run);
        let c = s.apply(ActionKind::Run, run("a", "Running")).unwrap();
        assert_eq!(c.change, "MODIFIED");
        let gone = s.end_relist(ActionKind::Run);
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].change, gone[0].name.as_str()), ("DELETED", "b"));
        assert_eq!(s.namespaces(ActionKind::Run), ["ns"]);
    }
}
