//! What a parser produces: the objects and status facts ingestion would apply.

use nexus_api::EntityRef;
use serde::Serialize;
use serde_json::{Map, Value};

/// Where a change comes from. Decides the server-side-apply field manager and the
/// `app.kubernetes.io/managed-by` label of objects Nexus creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Github,
    AzureDevOps,
    /// Azure Resource Graph.
    Azure,
    /// Terraform state and ARM/Bicep deployment outputs.
    Iac,
    AzureMonitor,
    Pagerduty,
    Opsgenie,
    Backstage,
}

impl Source {
    /// Field manager for server-side apply, and the `managed-by` label value.
    pub fn manager(self) -> &'static str {
        match self {
            Source::Github => "nexus-github",
            Source::AzureDevOps => "nexus-ado",
            Source::Azure => "nexus-azure",
            Source::Iac => "nexus-iac",
            Source::AzureMonitor => "nexus-azure-monitor",
            Source::Pagerduty => "nexus-pagerduty",
            Source::Opsgenie => "nexus-opsgenie",
            Source::Backstage => "nexus-backstage",
        }
    }
}

/// Label that marks objects Nexus created (and may therefore update and delete).
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Annotation holding the source's own id of a discovered object (repo id, resource id, …).
pub const EXTERNAL_ID: &str = "nexus.dev/external-id";
/// Annotation holding the source's web URL of a discovered object.
pub const SOURCE_URL: &str = "nexus.dev/source-url";
/// Annotation naming the AzureSubscriptionSource (`<namespace>/<name>`) whose poller wrote a
/// discovered AzureResource. The managed-by label says only "Resource Graph"; with several
/// sources, a restarted poller needs this to know which stored objects its own result must
/// still contain, so it never reports another source's resources gone.
pub const AZURE_SOURCE: &str = "nexus.dev/azure-subscription-source";

/// The result of parsing one payload.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// What to apply (possibly nothing: a well-formed event that changes nothing).
    Changes(Vec<Change>),
    /// A well-formed payload of a type Nexus does not use; the reason says why.
    Ignored(String),
}

impl Outcome {
    pub fn ignored(reason: impl Into<String>) -> Self {
        Outcome::Ignored(reason.into())
    }

    /// The changes, or none when ignored.
    pub fn changes(&self) -> &[Change] {
        match self {
            Outcome::Changes(c) => c,
            Outcome::Ignored(_) => &[],
        }
    }
}

/// One thing ingestion would do.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum Change {
    Upsert(Upsert),
    Facts(Facts),
    Gone(Gone),
}

impl Change {
    pub fn source(&self) -> Source {
        match self {
            Change::Upsert(u) => u.source,
            Change::Facts(f) => f.source,
            Change::Gone(g) => g.source,
        }
    }
}

/// Create or update an entity Nexus discovered. The object is a full manifest (apiVersion, kind,
/// metadata with the managed-by label, spec). When an entity with the same `identity` already
/// exists and was declared by a person or GitOps, its spec is left alone and only `status` facts
/// are written to it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upsert {
    pub source: Source,
    pub object: Value,
    /// How to find an existing entity for the same thing under another name (e.g. a Repository
    /// declared in Git with the same URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Target>,
    /// Status facts to write after the object exists (same shape as [`Facts::set`]).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub status: Map<String, Value>,
    /// Bounded-list updates to status after the object exists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lists: Vec<ListOp>,
    /// References the parser cannot name (it does not know the catalog): the applier looks each
    /// target up and appends the entities found to the list field at `field` (a JSON pointer
    /// into the object, e.g. `/spec/affects`), or, when `field` holds a single reference (a
    /// string, e.g. `/spec/source/repository`), replaces the parser's guess with the first
    /// entity found. Targets that match nothing are left out (a guess stays).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolve: Vec<ResolveRefs>,
}

/// See [`Upsert::resolve`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveRefs {
    pub field: String,
    pub target: Target,
}

impl Upsert {
    /// An upsert of a typed catalog object; sets the managed-by label.
    pub fn new<K: kube::Resource<DynamicType = ()> + Serialize>(
        source: Source,
        object: &K,
    ) -> Self {
        let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(MANAGED_BY.into(), Value::String(source.manager().into()));
            }
        }
        // Facts belong to status, written separately; a typed object may carry an empty status.
        if let Some(obj) = value.as_object_mut() {
            obj.remove("status");
        }
        Upsert {
            source,
            object: value,
            identity: None,
            status: Map::new(),
            lists: Vec::new(),
            resolve: Vec::new(),
        }
    }

    /// Adds a reference for the applier to resolve into the list at `field` (JSON pointer).
    pub fn with_resolve(mut self, field: &str, target: Target) -> Self {
        self.resolve.push(ResolveRefs {
            field: field.into(),
            target,
        });
        self
    }

    pub fn with_identity(mut self, identity: Target) -> Self {
        self.identity = Some(identity);
        self
    }

    pub fn with_status(mut self, field: &str, value: impl Serialize) -> Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.status.insert(field.into(), v);
        }
        self
    }

    pub fn with_list(mut self, op: ListOp) -> Self {
        self.lists.push(op);
        self
    }

    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn namespace(&self) -> &str {
        self.object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Observed facts for existing entities found by `target`. Status fields in `set` are replaced
/// as a whole; `lists` are merged into bounded lists. Nothing is written when no entity matches.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    pub source: Source,
    pub target: Target,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub set: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lists: Vec<ListOp>,
}

impl Facts {
    pub fn new(source: Source, target: Target) -> Self {
        Facts {
            source,
            target,
            set: Map::new(),
            lists: Vec::new(),
        }
    }

    pub fn set(mut self, field: &str, value: impl Serialize) -> Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.set.insert(field.into(), v);
        }
        self
    }

    pub fn list(mut self, op: ListOp) -> Self {
        self.lists.push(op);
        self
    }
}

/// An entity is no longer reported by its source. The applier marks it (`status.sourceGone`)
/// and deletes it only when `delete` is set and Nexus created it (managed-by label).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gone {
    pub source: Source,
    pub target: Target,
    pub reason: String,
    pub delete: bool,
}

/// A change to a bounded list in status.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum ListOp {
    /// Merge into the item whose `key` field equals the new item's (the new item's non-null
    /// fields win, fields it lacks are kept: a deployment status that knows no sha does not
    /// erase the sha the deployment recorded), or insert it; then sort by `order_by` (RFC 3339
    /// strings, newest first) and keep at most `max` items.
    #[serde(rename_all = "camelCase")]
    Upsert {
        field: String,
        key: String,
        item: Value,
        order_by: String,
        max: usize,
    },
    /// Remove the item whose `key` field equals `value`.
    #[serde(rename_all = "camelCase")]
    Remove {
        field: String,
        key: String,
        value: Value,
    },
}

impl ListOp {
    pub fn upsert(
        field: &str,
        key: &str,
        item: impl Serialize,
        order_by: &str,
        max: usize,
    ) -> Self {
        ListOp::Upsert {
            field: field.into(),
            key: key.into(),
            item: serde_json::to_value(item).unwrap_or(Value::Null),
            order_by: order_by.into(),
            max,
        }
    }

    pub fn remove(field: &str, key: &str, value: impl Into<Value>) -> Self {
        ListOp::Remove {
            field: field.into(),
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn field(&self) -> &str {
        match self {
            ListOp::Upsert { field, .. } | ListOp::Remove { field, .. } => field,
        }
    }

    /// Applies the operation to a list (the applier's merge, also used by tests).
    pub fn apply(&self, list: &mut Vec<Value>) {
        match self {
            ListOp::Upsert {
                key,
                item,
                order_by,
                max,
                ..
            } => {
                let id = item.get(key);
                let mut merged = item.clone();
                if let Some(pos) = list.iter().position(|v| v.get(key) == id) {
                    let old = list.remove(pos);
                    if let (Value::Object(old), Value::Object(new)) = (old, &mut merged) {
                        for (k, v) in old {
                            if new.get(&k).is_none_or(Value::is_null) {
                                new.insert(k, v);
                            }
                        }
                    }
                }
                list.push(merged);
                let at = |v: &Value| {
                    v.get(order_by)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                // Newest first; RFC 3339 in UTC sorts as text. Stable, so ties keep arrival order.
                list.sort_by_key(|v| std::cmp::Reverse(at(v)));
                list.truncate(*max);
            }
            ListOp::Remove { key, value, .. } => list.retain(|v| v.get(key) != Some(value)),
        }
    }
}

/// How the applier finds the entities a fact is about. Parsers never know the catalog; they say
/// what the source told them and the applier looks it up in its caches.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "by", rename_all = "camelCase")]
pub enum Target {
    /// An entity by kind, namespace and name.
    #[serde(rename_all = "camelCase")]
    Entity {
        kind: String,
        namespace: String,
        name: String,
    },
    /// The Repository whose `spec.url` is this web URL (compared case-insensitively, without a
    /// trailing `.git` or `/`).
    #[serde(rename_all = "camelCase")]
    RepositoryUrl { url: String },
    /// Every Component whose `spec.repository` is the Repository with this URL.
    #[serde(rename_all = "camelCase")]
    ComponentsOfRepository { url: String },
    /// The Environment in `namespace` (or any namespace, when none) whose name, title or stage
    /// matches the provider's environment name (`production` ≈ `prod`).
    #[serde(rename_all = "camelCase")]
    Environment {
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        name: String,
    },
    /// The AzureResource whose `spec.resourceId` is this id (case-insensitive).
    #[serde(rename_all = "camelCase")]
    AzureResourceId { id: String },
    /// The Pipeline for an Azure Pipelines definition.
    #[serde(rename_all = "camelCase")]
    AdoPipeline {
        organization: String,
        project: String,
        definition_id: i64,
    },
    /// The Pipeline for a GitHub Actions workflow file in a repository.
    #[serde(rename_all = "camelCase")]
    GithubWorkflow {
        repository_url: String,
        workflow: String,
    },
    /// Every Component that an Azure Pipelines definition (build or release) deploys: the
    /// `spec.component` of the Pipeline for that definition.
    #[serde(rename_all = "camelCase")]
    ComponentsOfPipeline {
        organization: String,
        project: String,
        definition_id: i64,
    },
    /// The Package with this ecosystem and package name.
    #[serde(rename_all = "camelCase")]
    Package { ecosystem: String, name: String },
    /// Every Runbook Nexus created (`managed-by: nexus-github`) from a file of the repository
    /// with this web URL (its `nexus.dev/source-url` is `<url>/blob/…`), except those whose
    /// `spec.source.path` is in `keep`. Runbooks people declare are never matched.
    #[serde(rename_all = "camelCase")]
    RunbooksOfRepository { url: String, keep: Vec<String> },
}

impl Target {
    pub fn entity(r: &EntityRef) -> Self {
        Target::Entity {
            kind: r.kind.as_str().into(),
            namespace: r.namespace.to_string(),
            name: r.name.to_string(),
        }
    }
}

/// Normalises a repository web URL for comparison: lower case, no trailing `/` or `.git`.
pub fn normalise_repo_url(url: &str) -> String {
    let u = url.trim().trim_end_matches('/');
    let u = u.strip_suffix(".git").unwrap_or(u);
    u.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_upsert_replaces_by_key_sorts_newest_first_and_bounds() {
        let mut list = vec![
            json!({"id": "a", "createdAt": "2024-01-01T00:00:00Z"}),
            json!({"id": "b", "createdAt": "2024-01-03T00:00:00Z"}),
        ];
        ListOp::upsert(
            "deployments",
            "id",
            json!({"id": "a", "createdAt": "2024-01-05T00:00:00Z", "status": "success"}),
            "createdAt",
            2,
        )
        .apply(&mut list);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["id"], "a");
        assert_eq!(list[0]["status"], "success");
        // A later, partial record keeps what the earlier one knew.
        let mut partial = vec![
            json!({"id": "d", "sha": "abc", "status": "pending", "createdAt": "2024-01-01T00:00:00Z"}),
        ];
        ListOp::upsert(
            "deployments",
            "id",
            json!({"id": "d", "status": "success", "sha": null}),
            "createdAt",
            5,
        )
        .apply(&mut partial);
        assert_eq!(partial[0]["sha"], "abc");
        assert_eq!(partial[0]["status"], "success");
        assert_eq!(partial[0]["createdAt"], "2024-01-01T00:00:00Z");
        ListOp::upsert(
            "deployments",
            "id",
            json!({"id": "c", "createdAt": "2023-01-01T00:00:00Z"}),
            "createdAt",
            2,
        )
        .apply(&mut list);
        // The oldest falls off the end.
        assert_eq!(
            list.iter()
                .map(|v| v["id"].as_str().unwrap_or(""))
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        ListOp::remove("deployments", "id", "a").apply(&mut list);
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn repo_urls_compare_without_case_or_git_suffix() {
        assert_eq!(
            normalise_repo_url("https://GitHub.com/Contoso/App.git/"),
            "https://github.com/contoso/app"
        );
    }
}
