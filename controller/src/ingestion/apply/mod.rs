//! Applies what the parsers produce: finds the objects each [`Target`] means, writes discovered
//! objects by server-side apply (spec owned by the source's field manager), merges facts into
//! status, and marks or deletes entities their source no longer reports.
//!
//! Status facts are written as JSON merge patches carrying the object's `resourceVersion`, under
//! the source's field manager: a merge patch leaves the other managers' fields (the catalog
//! controller's conditions and relations, another source's facts) untouched, and the
//! resourceVersion precondition turns two concurrent list merges into a conflict that is retried
//! on fresh data instead of a lost update — across workers and replicas alike.

pub mod index;

use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams},
};
use nexus_api::{CATALOG_GROUP, CATALOG_VERSION, EntityKind};
use nexus_ingest::{Change, Facts, Gone, ListOp, Source, Upsert, change::MANAGED_BY};
use serde_json::{Map, Value, json};

pub use index::{CatalogIndex, Found};

/// How often a status merge is retried after a resourceVersion conflict.
const CONFLICT_RETRIES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{kind} {namespace}/{name}: {source}")]
    Kube {
        kind: String,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("object has unknown kind {0:?}")]
    UnknownKind(String),
    #[error("{0}: gave up after {CONFLICT_RETRIES} write conflicts")]
    Conflicts(String),
}

/// What one batch of changes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Objects created or updated, status patches and deletions sent.
    pub written: usize,
    /// Facts whose target matched no entity (nothing to write).
    pub unmatched: usize,
    /// Writes skipped because the stored value was already current.
    pub unchanged: usize,
    /// Upserts that met an entity a person declares: only facts were written to it.
    pub declared_elsewhere: usize,
}

impl std::ops::AddAssign for Applied {
    fn add_assign(&mut self, o: Applied) {
        self.written += o.written;
        self.unmatched += o.unmatched;
        self.unchanged += o.unchanged;
        self.declared_elsewhere += o.declared_elsewhere;
    }
}

#[derive(Clone)]
pub struct Applier {
    client: Client,
    pub index: CatalogIndex,
}

impl Applier {
    pub fn new(client: Client, index: CatalogIndex) -> Self {
        Applier { client, index }
    }

    /// Applies a batch: discovered objects first (facts may be about them), then facts, then
    /// disappearances.
    pub async fn apply(&self, changes: &[Change]) -> Result<Applied, ApplyError> {
        let mut done = Applied::default();
        for c in changes {
            if let Change::Upsert(u) = c {
                done += self.upsert(u).await?;
            }
        }
        // Resolve fact targets that do not depend on others first, so an Environment named only
        // by the provider can be looked for among the components this delivery is about.
        let facts: Vec<&Facts> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Facts(f) => Some(f),
                _ => None,
            })
            .collect();
        let mut context: Vec<Found> = Vec::new();
        let mut resolved: Vec<Vec<Found>> = Vec::with_capacity(facts.len());
        for f in &facts {
            let found = if matches!(
                f.target,
                nexus_ingest::Target::Environment {
                    namespace: None,
                    ..
                }
            ) {
                Vec::new()
            } else {
                self.index.resolve(&f.target, &[])
            };
            context.extend(found.iter().cloned());
            resolved.push(found);
        }
        for (f, found) in facts.iter().zip(resolved.iter_mut()) {
            if matches!(
                f.target,
                nexus_ingest::Target::Environment {
                    namespace: None,
                    ..
                }
            ) {
                *found = self.index.resolve(&f.target, &context);
            }
        }
        for (f, found) in facts.iter().zip(resolved) {
            if found.is_empty() {
                done.unmatched += 1;
                continue;
            }
            for target in found {
                if self
                    .merge_status(&target, f.source, &f.set, &f.lists)
                    .await?
                {
                    done.written += 1;
                } else {
                    done.unchanged += 1;
                }
            }
        }
        for c in changes {
            if let Change::Gone(g) = c {
                done += self.gone(g).await?;
            }
        }
        Ok(done)
    }

    async fn upsert(&self, u: &Upsert) -> Result<Applied, ApplyError> {
        let mut done = Applied::default();
        let kind =
            EntityKind::parse(u.kind()).ok_or_else(|| ApplyError::UnknownKind(u.kind().into()))?;
        let manager = u.source.manager();
        let mut object = u.object.clone();
        for r in &u.resolve {
            let refs: Vec<Value> = self
                .index
                .resolve(&r.target, &[])
                .iter()
                .map(|f| Value::String(f.entity_ref().to_string()))
                .collect();
            append_refs(&mut object, &r.field, refs);
        }

        // The same thing may already be in the catalog under another name.
        let identity = u
            .identity
            .as_ref()
            .map(|t| self.index.resolve(t, &[]))
            .unwrap_or_default();
        let (namespace, name) = match identity
            .iter()
            .find(|f| f.managed_by.as_deref() == Some(manager))
            .or_else(|| identity.first())
        {
            Some(found) => (found.namespace.clone(), found.name.clone()),
            None => (u.namespace().to_string(), u.name().to_string()),
        };
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), Value::String(name.clone()));
            meta.insert("namespace".into(), Value::String(namespace.clone()));
        }

        let api = self.api(kind, &namespace);
        let kube_err = |source| ApplyError::Kube {
            kind: kind.to_string(),
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        };
        // An object of that name that someone else declared keeps its spec.
        if let Some(existing) = api.get_opt(&name).await.map_err(kube_err)? {
            let owner = existing
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(MANAGED_BY));
            if owner.map(String::as_str) != Some(manager) {
                done.declared_elsewhere += 1;
                // Discovered first by another Nexus source (Resource Graph and Terraform both
                // find Azure resources): that source owns the spec; this one adds only the spec
                // fields still missing (or `unknown`), under its own field manager.
                if owner.is_some_and(|o| o.starts_with("nexus-"))
                    && let Some(fill) = missing_spec(&existing, &object)
                {
                    self.apply_object(&api, &name, manager, &fill)
                        .await
                        .map_err(kube_err)?;
                    done.written += 1;
                }
                let found = Found {
                    kind,
                    namespace: namespace.clone(),
                    name: name.clone(),
                    managed_by: owner.cloned(),
                };
                if self
                    .merge_status(&found, u.source, &u.status, &u.lists)
                    .await?
                {
                    done.written += 1;
                }
                return Ok(done);
            }
            // Seen again at its source: no longer gone.
            if existing.data.pointer("/status/sourceGone").is_some() {
                let mut clear = Map::new();
                clear.insert("sourceGone".into(), Value::Null);
                let found = Found {
                    kind,
                    namespace: namespace.clone(),
                    name: name.clone(),
                    managed_by: Some(manager.into()),
                };
                if self.merge_status(&found, u.source, &clear, &[]).await? {
                    done.written += 1;
                }
            }
            if kind == EntityKind::Incident {
                keep_incident_history(&existing, &mut object);
            }
            if same_spec(&existing, &object) {
                done.unchanged += 1;
            } else {
                self.apply_object(&api, &name, manager, &object)
                    .await
                    .map_err(kube_err)?;
                done.written += 1;
            }
        } else {
            self.apply_object(&api, &name, manager, &object)
                .await
                .map_err(kube_err)?;
            done.written += 1;
        }
        if !u.status.is_empty() || !u.lists.is_empty() {
            let found = Found {
                kind,
                namespace,
                name,
                managed_by: Some(manager.into()),
            };
            if self
                .merge_status(&found, u.source, &u.status, &u.lists)
                .await?
            {
                done.written += 1;
            }
        }
        Ok(done)
    }

    async fn apply_object(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        manager: &str,
        object: &Value,
    ) -> Result<(), kube::Error> {
        api.patch(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(object),
        )
        .await
        .map(|_| ())
    }

    /// Merges `set` and `lists` into the status of `target`. Returns whether anything was
    /// written (false when the target is gone or already current).
    pub async fn merge_status(
        &self,
        target: &Found,
        source: Source,
        set: &Map<String, Value>,
        lists: &[ListOp],
    ) -> Result<bool, ApplyError> {
        if set.is_empty() && lists.is_empty() {
            return Ok(false);
        }
        let api = self.api(target.kind, &target.namespace);
        let kube_err = |source| ApplyError::Kube {
            kind: target.kind.to_string(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            source,
        };
        let params = PatchParams {
            field_manager: Some(source.manager().into()),
            ..PatchParams::default()
        };
        for _ in 0..CONFLICT_RETRIES {
            let Some(current) = api.get_opt(&target.name).await.map_err(kube_err)? else {
                return Ok(false);
            };
            let empty = Value::Object(Map::new());
            let status = current.data.get("status").unwrap_or(&empty);
            let patch_status = merged(status, set, lists);
            if patch_status.iter().all(|(k, v)| status.get(k) == Some(v)) {
                return Ok(false);
            }
            let patch = json!({
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "status": patch_status,
            });
            match api
                .patch_status(&target.name, &params, &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(kube::Error::Api(e)) if e.code == 404 => return Ok(false),
                Err(e) => return Err(kube_err(e)),
            }
        }
        Err(ApplyError::Conflicts(format!(
            "{} {}/{}",
            target.kind, target.namespace, target.name
        )))
    }

    async fn gone(&self, g: &Gone) -> Result<Applied, ApplyError> {
        let mut done = Applied::default();
        let found = self.index.resolve(&g.target, &[]);
        if found.is_empty() {
            done.unmatched += 1;
        }
        let manager = g.source.manager();
        for f in found {
            let api = self.api(f.kind, &f.namespace);
            let current = api
                .get_opt(&f.name)
                .await
                .map_err(|source| ApplyError::Kube {
                    kind: f.kind.to_string(),
                    namespace: f.namespace.clone(),
                    name: f.name.clone(),
                    source,
                })?;
            let Some(current) = current else { continue };
            let ours = current
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(MANAGED_BY))
                .is_some_and(|m| m == manager);
            if g.delete && ours {
                match api.delete(&f.name, &DeleteParams::default()).await {
                    Ok(_) => done.written += 1,
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(source) => {
                        return Err(ApplyError::Kube {
                            kind: f.kind.to_string(),
                            namespace: f.namespace.clone(),
                            name: f.name.clone(),
                            source,
                        });
                    }
                }
                continue;
            }
            if current.data.pointer("/status/sourceGone").is_some() {
                done.unchanged += 1;
                continue;
            }
            let mut set = Map::new();
            set.insert(
                "sourceGone".into(),
                json!({"since": jiff::Timestamp::now().to_string(), "reason": g.reason}),
            );
            if self.merge_status(&f, g.source, &set, &[]).await? {
                done.written += 1;
            }
        }
        Ok(done)
    }

    fn api(&self, kind: EntityKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &api_resource(kind))
    }
}

pub fn api_resource(kind: EntityKind) -> ApiResource {
    ApiResource {
        group: CATALOG_GROUP.into(),
        version: CATALOG_VERSION.into(),
        api_version: format!("{CATALOG_GROUP}/{CATALOG_VERSION}"),
        kind: kind.as_str().into(),
        plural: kind.plural().into(),
    }
}

/// The status fields a patch sets: `set` as given, each list merged from its stored value.
fn merged(status: &Value, set: &Map<String, Value>, lists: &[ListOp]) -> Map<String, Value> {
    let mut out = set.clone();
    for op in lists {
        let field = op.field().to_string();
        let mut list: Vec<Value> = out
            .get(&field)
            .or_else(|| status.get(&field))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        op.apply(&mut list);
        out.insert(field, Value::Array(list));
    }
    out
}

/// Appends references to the string list at a JSON pointer, without duplicates; a single
/// reference (a string) there is replaced by the first one found.
fn append_refs(object: &mut Value, pointer: &str, refs: Vec<Value>) {
    if refs.is_empty() {
        return;
    }
    let Some((parent, leaf)) = pointer.rsplit_once('/') else {
        return;
    };
    let Some(parent) = (if parent.is_empty() {
        Some(&mut *object)
    } else {
        object.pointer_mut(parent)
    })
    .and_then(Value::as_object_mut) else {
        return;
    };
    let list = parent
        .entry(leaf.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if list.is_string() {
        if let Some(first) = refs.into_iter().next() {
            *list = first;
        }
        return;
    }
    if let Some(list) = list.as_array_mut() {
        for r in refs {
            if !list.contains(&r) {
                list.push(r);
            }
        }
    }
}

/// The part of `object` to apply when another Nexus source owns the stored spec: the spec
/// fields the stored object lacks or holds as `unknown`. None when there are none.
fn missing_spec(existing: &DynamicObject, object: &Value) -> Option<Value> {
    let have = existing.data.get("spec").and_then(Value::as_object);
    let want = object.get("spec").and_then(Value::as_object)?;
    let fill: Map<String, Value> = want
        .iter()
        .filter(|(k, v)| {
            let stored = have.and_then(|h| h.get(*k));
            !v.is_null()
                && (stored.is_none() || stored == Some(&Value::String("unknown".into())))
                && v.as_str() != Some("unknown")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if fill.is_empty() {
        return None;
    }
    Some(json!({
        "apiVersion": object.get("apiVersion"),
        "kind": object.get("kind"),
        "metadata": {
            "name": existing.metadata.name,
            "namespace": existing.metadata.namespace,
        },
        "spec": fill,
    }))
}

/// Incident deliveries each carry a full spec, but not every event knows the whole history: a
/// resolve event may only know its own time, a note event nothing about acknowledgement. Keep
/// the earliest start and a known acknowledgement.
fn keep_incident_history(existing: &DynamicObject, object: &mut Value) {
    let old = existing.data.get("spec");
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let time = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
    };
    let old_start = old.and_then(|o| o.get("startedAt"));
    if let (Some(was), Some(now), Some(v)) =
        (time(old_start), time(spec.get("startedAt")), old_start)
        && was < now
    {
        spec.insert("startedAt".into(), v.clone());
    }
    if !spec.contains_key("acknowledgedAt")
        && let Some(v) = old.and_then(|o| o.get("acknowledgedAt"))
    {
        spec.insert("acknowledgedAt".into(), v.clone());
    }
}

/// Whether the stored object already has the spec, labels and annotations being applied.
fn same_spec(existing: &DynamicObject, object: &Value) -> bool {
    let spec_same = existing.data.get("spec") == object.get("spec");
    let sub = |want: Option<&Value>, have: Option<&std::collections::BTreeMap<String, String>>| {
        want.and_then(Value::as_object).is_none_or(|w| {
            w.iter().all(|(k, v)| {
                have.and_then(|h| h.get(k))
                    .map(|s| Value::String(s.clone()))
                    .as_ref()
                    == Some(v)
            })
        })
    };
    spec_same
        && sub(
            object.pointer("/metadata/labels"),
            existing.metadata.labels.as_ref(),
        )
        && sub(
            object.pointer("/metadata/annotations"),
            existing.metadata.annotations.as_ref(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_lists_from_stored_status_and_keeps_set_fields() {
        let status = json!({"pullRequests": [{"number": 1, "createdAt": "2024-01-01T00:00:00Z"}], "conditions": []});
        let mut set = Map::new();
        set.insert("codeowners".into(), json!({"owners": ["@a/b"]}));
        let out = merged(
            &status,
            &set,
            &[ListOp::upsert(
                "pullRequests",
                "number",
                json!({"number": 2, "createdAt": "2024-02-01T00:00:00Z"}),
                "createdAt",
                50,
            )],
        );
        assert_eq!(out["pullRequests"].as_array().map(Vec::len), Some(2));
        assert_eq!(out["pullRequests"][0]["number"], 2);
        assert!(out.contains_key("codeowners"));
        assert!(
            !out.contains_key("conditions"),
            "other managers' fields are not sent"
        );
    }

    #[test]
    fn appends_resolved_refs_once() {
        let mut o = json!({"spec": {"affects": ["component:a/b"]}});
        append_refs(
            &mut o,
            "/spec/affects",
            vec![json!("component:a/b"), json!("azureresource:a/c")],
        );
        assert_eq!(
            o["spec"]["affects"],
            json!(["component:a/b", "azureresource:a/c"])
        );
        let mut o = json!({"spec": {}});
        append_refs(&mut o, "/spec/affects", vec![json!("x")]);
        assert_eq!(o["spec"]["affects"], json!(["x"]));
        // A single reference: the parser's guess gives way to what was found.
        let mut o = json!({"spec": {"source": {"repository": "repository:a/guess"}}});
        append_refs(
            &mut o,
            "/spec/source/repository",
            vec![json!("repository:a/found"), json!("repository:b/other")],
        );
        assert_eq!(o["spec"]["source"]["repository"], "repository:a/found");
        append_refs(&mut o, "/spec/source/repository", vec![]);
        assert_eq!(o["spec"]["source"]["repository"], "repository:a/found");
    }
}
