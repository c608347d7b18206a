//! One catalog object as the cache keeps it: the fields search, facets, views and the graph
//! need, parsed once per watch event, plus the object's JSON for `get` responses.
//!
//! Parsing is tolerant by design: the apiserver has already validated the object against the
//! CRD schema, so a field of an unexpected shape (an older CRD version, a hand-edited status)
//! degrades to "absent" instead of dropping the entity. Only a missing name, namespace or kind
//! makes an object unusable ([`ParseError`]).

use std::sync::Arc;

use nexus_api::{EntityKind, EntityRef, RelationType, dora::DoraStatus};
use serde_json::{Map, Value, value::RawValue};

/// Longest kind-specific text indexed per entity; spec fields beyond it are not searchable.
const MAX_SPEC_TEXT: usize = 4096;
/// Longest part of a runbook's Markdown (`spec.content`) indexed for search.
const MAX_CONTENT_TEXT: usize = 64 * 1024;

#[derive(Debug)]
pub struct Entity {
    pub id: EntityRef,
    pub uid: String,
    pub resource_version: String,
    pub created: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub lifecycle: Option<String>,
    /// `spec.type` (Component, API, Environment, …).
    pub type_: Option<String>,
    pub owner: Option<EntityRef>,
    pub owner_source: Option<String>,
    /// Resolved relations from `status.relations` (the catalog controller writes both sides).
    pub relations: Vec<(RelationType, EntityRef)>,
    pub ready: Readiness,
    /// Annotation keys and values, for search.
    pub annotations_text: String,
    /// Every other string in the spec (URLs, resource ids, emails, …), for search.
    pub spec_text: String,
    pub facts: KindFacts,
    /// `status.scorecards`: one result per scorecard that measures the entity (written by the
    /// scorecard controller); malformed entries are left out.
    pub scorecards: Vec<ScoreFact>,
    /// The object as the apiserver sent it, without `metadata.managedFields`.
    pub raw: Box<RawValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    /// `True`, `False` or `Unknown` (also when the controller has not visited yet).
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// Kind-specific fields the views need.
#[derive(Debug, Default)]
pub enum KindFacts {
    #[default]
    None,
    User(UserFacts),
    Team(TeamFacts),
    Incident(IncidentFacts),
    Component(ComponentFacts),
    Repository(RepositoryFacts),
    Runbook(RunbookFacts),
}

#[derive(Debug, Default)]
pub struct UserFacts {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub entra_object_id: Option<String>,
    pub github_login: Option<String>,
}

#[derive(Debug, Default)]
pub struct TeamFacts {
    pub display_name: Option<String>,
    pub entra_group_id: Option<String>,
    pub on_call: Option<Value>,
}

#[derive(Debug, Default)]
pub struct IncidentFacts {
    pub state: String,
    pub severity: String,
    pub started_at: Option<String>,
    pub url: Option<String>,
    /// `spec.alertRule`: the rule that raised it, matched against runbooks' `spec.alerts`.
    pub alert_rule: Option<String>,
    /// `spec.affects` as declared (the resolved `affects` relations lag behind the catalog
    /// controller; runbooks should surface as soon as the incident exists).
    pub affects: Vec<EntityRef>,
}

/// What contextual surfacing and rendering need of a Runbook.
#[derive(Debug, Default)]
pub struct RunbookFacts {
    /// `spec.appliesTo`, with the defaults filled in (kind component, the runbook's namespace);
    /// entries that do not parse are skipped.
    pub applies_to: Vec<EntityRef>,
    /// `spec.alerts`: alert rule names or `*`/`?` patterns.
    pub alerts: Vec<String>,
    /// `spec.resourceTypes`: Azure types or patterns, lower-cased.
    pub resource_types: Vec<String>,
    /// `status.sourceGone` is set: the file it was read from is no longer in the repository.
    pub source_gone: bool,
    /// Web URL of the file (`nexus.dev/source-url`, written by ingestion).
    pub source_url: Option<String>,
    /// `spec.source`: the Repository, path and ref of the file.
    pub source_repository: Option<EntityRef>,
    pub source_path: Option<String>,
    pub source_ref: Option<String>,
}

impl IncidentFacts {
    pub fn is_open(&self) -> bool {
        self.state != "resolved"
    }
}

/// Recent deployments ingestion records in `status.deployments` (GitHub deployment_status, ADO
/// releases); empty until an integration writes them. And the daily DORA buckets the DORA
/// controller keeps in `status.dora`.
#[derive(Debug, Default)]
pub struct ComponentFacts {
    pub deployments: Vec<Value>,
    /// `status.dora` with its daily buckets only (the ledgers are the controller's
    /// bookkeeping; the read path merges days). `None` when absent or not readable.
    pub dora: Option<Arc<DoraStatus>>,
    /// Teams and people credited in those buckets (for the team and personal indexes).
    pub dora_teams: Vec<String>,
    pub dora_people: Vec<String>,
}

/// One entity's result against one scorecard (`status.scorecards[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreFact {
    /// The scorecard, `namespace/name`.
    pub scorecard: Arc<str>,
    /// 0–100.
    pub score: u8,
    pub level: Option<Arc<str>>,
    pub passed: bool,
}

/// `status.scorecards` entries that have the fields the views need with sane values.
fn score_facts(status: Option<&Map<String, Value>>) -> Vec<ScoreFact> {
    let Some(list) = status
        .and_then(|s| s.get("scorecards"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut out: Vec<ScoreFact> = list
        .iter()
        .filter_map(|r| {
            let scorecard = r.get("scorecard")?.as_str().filter(|s| !s.is_empty())?;
            let score = r.get("score")?.as_i64().filter(|s| (0..=100).contains(s))?;
            Some(ScoreFact {
                scorecard: Arc::from(scorecard),
                score: u8::try_from(score).ok()?,
                level: r
                    .get("level")
                    .and_then(Value::as_str)
                    .filter(|l| !l.is_empty())
                    .map(Arc::from),
                passed: r.get("passed").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    // One result per scorecard: a repeated one (hand-edited status) counts once.
    out.sort_by(|a, b| a.scorecard.cmp(&b.scorecard));
    out.dedup_by(|a, b| a.scorecard == b.scorecard);
    out
}

/// `status.dora` reduced to its days, with the teams and people its cells name.
fn dora_facts(
    status: Option<&Map<String, Value>>,
) -> (Option<Arc<DoraStatus>>, Vec<String>, Vec<String>) {
    let Some(raw) = status.and_then(|s| s.get("dora")) else {
        return (None, Vec::new(), Vec::new());
    };
    let Ok(full) = serde_json::from_value::<DoraStatus>(raw.clone()) else {
        return (None, Vec::new(), Vec::new());
    };
    // A day that does not parse would make every answer over this service fail: leave the
    // service out instead (the controller reports such statuses).
    if full
        .days
        .iter()
        .any(|d| d.date.parse::<jiff::civil::Date>().is_err())
    {
        return (None, Vec::new(), Vec::new());
    }
    let mut teams: Vec<String> = full.days.iter().filter_map(|d| d.team.clone()).collect();
    teams.sort();
    teams.dedup();
    let mut people: Vec<String> = full.days.iter().filter_map(|d| d.person.clone()).collect();
    people.sort();
    people.dedup();
    let days = DoraStatus {
        updated_at: full.updated_at,
        days: full.days,
        ..DoraStatus::default()
    };
    (Some(Arc::new(days)), teams, people)
}

/// Open pull requests ingestion records in `status.pullRequests`.
#[derive(Debug, Default)]
pub struct RepositoryFacts {
    pub pull_requests: Vec<Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("object has no {0}")]
    Missing(&'static str),
    #[error("kind {0:?} is not a catalog kind")]
    UnknownKind(String),
}

impl Entity {
    /// Builds the cache entry from one object of `kind` as returned by list/watch.
    pub fn from_object(kind: EntityKind, mut object: Value) -> Result<Entity, ParseError> {
        let metadata = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or(ParseError::Missing("metadata"))?;
        metadata.remove("managedFields");
        let name = str_of(metadata, "name").ok_or(ParseError::Missing("metadata.name"))?;
        let namespace =
            str_of(metadata, "namespace").ok_or(ParseError::Missing("metadata.namespace"))?;
        if let Some(k) = object.get("kind").and_then(Value::as_str)
            && k != kind.as_str()
        {
            return Err(ParseError::UnknownKind(k.to_string()));
        }
        let metadata = object.get("metadata").and_then(Value::as_object);
        let meta = |key: &str| metadata.and_then(|m| str_of(m, key));
        let spec = object.get("spec").and_then(Value::as_object);
        let status = object.get("status").and_then(Value::as_object);
        let spec_str = |key: &str| spec.and_then(|s| str_of(s, key));

        let annotations_text = metadata
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
            .map(|a| {
                a.iter()
                    .filter(|(k, _)| !k.starts_with("kubectl.kubernetes.io/"))
                    .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();

        let mut spec_text = String::new();
        if let Some(spec) = spec {
            for (key, value) in spec {
                if !matches!(key.as_str(), "title" | "description" | "tags" | "content") {
                    collect_strings(value, &mut spec_text);
                }
            }
            // A runbook's Markdown last, so a long one cannot crowd out its alerts, resource
            // types or source; it is indexed up to its own, larger bound.
            if let Some(content) = spec.get("content").and_then(Value::as_str) {
                spec_text.push_str(clip(content, MAX_CONTENT_TEXT));
            }
        }

        let owner_obj = status
            .and_then(|s| s.get("owner"))
            .and_then(Value::as_object);
        let owner = owner_obj
            .and_then(|o| str_of(o, "ref"))
            .and_then(|r| r.parse::<EntityRef>().ok());
        let owner_source = owner_obj.and_then(|o| str_of(o, "source"));

        let relations = status
            .and_then(|s| s.get("relations"))
            .and_then(Value::as_array)
            .map(|rels| {
                rels.iter()
                    .filter_map(|r| {
                        let t = RelationType::parse(r.get("type")?.as_str()?)?;
                        let target = r.get("targetRef")?.as_str()?.parse::<EntityRef>().ok()?;
                        Some((t, target))
                    })
                    .collect()
            })
            .unwrap_or_default();

        let ready = status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|conds| {
                conds
                    .iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            })
            .and_then(Value::as_object)
            .map(|c| Readiness {
                status: str_of(c, "status").unwrap_or_else(|| "Unknown".into()),
                reason: str_of(c, "reason"),
                message: str_of(c, "message"),
            })
            .unwrap_or_else(|| Readiness {
                status: "Unknown".into(),
                reason: Some("NotObserved".into()),
                message: Some("the catalog controller has not reported on this entity yet".into()),
            });

        let list_of = |obj: Option<&Map<String, Value>>, key: &str| -> Vec<Value> {
            obj.and_then(|o| o.get(key))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let facts = match kind {
            EntityKind::User => KindFacts::User(UserFacts {
                email: spec_str("email"),
                display_name: spec_str("displayName"),
                entra_object_id: spec_str("entraObjectId"),
                github_login: spec_str("githubLogin"),
            }),
            EntityKind::Team => KindFacts::Team(TeamFacts {
                display_name: spec_str("displayName"),
                entra_group_id: spec
                    .and_then(|s| s.get("entraGroup"))
                    .and_then(Value::as_object)
                    .and_then(|g| str_of(g, "id")),
                on_call: spec.and_then(|s| s.get("onCall")).cloned(),
            }),
            EntityKind::Incident => KindFacts::Incident(IncidentFacts {
                state: spec_str("state").unwrap_or_else(|| "triggered".into()),
                severity: spec_str("severity").unwrap_or_else(|| "info".into()),
                started_at: spec_str("startedAt"),
                url: spec_str("url"),
                alert_rule: spec_str("alertRule"),
                affects: refs_of(spec, "affects", EntityKind::Component, &namespace),
            }),
            EntityKind::Runbook => {
                let source = spec
                    .and_then(|s| s.get("source"))
                    .and_then(Value::as_object);
                KindFacts::Runbook(RunbookFacts {
                    applies_to: refs_of(spec, "appliesTo", EntityKind::Component, &namespace),
                    alerts: strings_of(spec, "alerts"),
                    resource_types: strings_of(spec, "resourceTypes")
                        .into_iter()
                        .map(|t| t.to_ascii_lowercase())
                        .collect(),
                    source_gone: status
                        .and_then(|s| s.get("sourceGone"))
                        .is_some_and(|g| !g.is_null()),
                    source_url: metadata
                        .and_then(|m| m.get("annotations"))
                        .and_then(Value::as_object)
                        .and_then(|a| str_of(a, "nexus.dev/source-url")),
                    source_repository: source.and_then(|s| str_of(s, "repository")).and_then(|r| {
                        EntityRef::parse(
                            &r,
                            EntityKind::Repository,
                            &[EntityKind::Repository],
                            &namespace,
                        )
                        .ok()
                    }),
                    source_path: source.and_then(|s| str_of(s, "path")),
                    source_ref: source.and_then(|s| str_of(s, "ref")),
                })
            }
            EntityKind::Component => {
                let (dora, dora_teams, dora_people) = dora_facts(status);
                KindFacts::Component(ComponentFacts {
                    deployments: list_of(status, "deployments"),
                    dora,
                    dora_teams,
                    dora_people,
                })
            }
            EntityKind::Repository => KindFacts::Repository(RepositoryFacts {
                pull_requests: list_of(status, "pullRequests"),
            }),
            _ => KindFacts::None,
        };

        let entity = Entity {
            id: EntityRef::new(kind, namespace, name),
            uid: meta("uid").unwrap_or_default(),
            resource_version: meta("resourceVersion").unwrap_or_default(),
            created: meta("creationTimestamp"),
            title: spec_str("title"),
            description: spec_str("description"),
            tags: spec
                .and_then(|s| s.get("tags"))
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            lifecycle: spec_str("lifecycle"),
            type_: spec_str("type"),
            owner,
            owner_source,
            relations,
            ready,
            annotations_text,
            spec_text,
            facts,
            scorecards: score_facts(status),
            raw: serde_json::value::to_raw_value(&object)
                .map_err(|_| ParseError::Missing("serialisable body"))?,
        };
        Ok(entity)
    }

    /// `Team` or `User` names are the most useful display name; otherwise title, then name.
    pub fn display_name(&self) -> &str {
        let named = match &self.facts {
            KindFacts::User(u) => u.display_name.as_deref(),
            KindFacts::Team(t) => t.display_name.as_deref(),
            _ => None,
        };
        named.or(self.title.as_deref()).unwrap_or(&self.id.name)
    }

    /// Targets of relations of one type.
    pub fn related(&self, relation: RelationType) -> impl Iterator<Item = &EntityRef> {
        self.relations
            .iter()
            .filter(move |(t, _)| *t == relation)
            .map(|(_, target)| target)
    }

    /// Approximate heap bytes held by this entry (for the cache-size metric).
    pub fn approx_bytes(&self) -> usize {
        self.raw.get().len()
            + self.annotations_text.len()
            + self.spec_text.len()
            + self.description.as_ref().map_or(0, String::len)
            + self.relations.len() * 48
            + self.scorecards.len() * 64
            + match &self.facts {
                // Parsed DORA days: the struct and its sample lists (the raw JSON is counted
                // above).
                KindFacts::Component(c) => c.dora.as_ref().map_or(0, |d| {
                    d.days
                        .iter()
                        .map(|day| 160 + 4 * (day.lead_times.len() + day.recoveries.len()))
                        .sum()
                }),
                _ => 0,
            }
            + 256
    }
}

/// The strings of a list field (other entries skipped).
fn strings_of(obj: Option<&Map<String, Value>>, key: &str) -> Vec<String> {
    obj.and_then(|o| o.get(key))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A list of entity references with the defaults filled in; entries that do not parse are
/// skipped (the catalog controller reports them on the entity).
fn refs_of(
    obj: Option<&Map<String, Value>>,
    key: &str,
    default_kind: EntityKind,
    namespace: &str,
) -> Vec<EntityRef> {
    strings_of(obj, key)
        .iter()
        .filter_map(|r| EntityRef::parse(r, default_kind, &[], namespace).ok())
        .collect()
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn str_of(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn collect_strings(value: &Value, out: &mut String) {
    if out.len() >= MAX_SPEC_TEXT {
        return;
    }
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push(' ');
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn component() -> Value {
        json!({
            "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Component",
            "metadata": {"name": "checkout", "namespace": "team-payments", "uid": "u1",
                "resourceVersion": "42", "annotations": {"nexus.dev/slack": "#payments"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"title": "Checkout", "description": "Takes the money", "tags": ["java", "pci"],
                "type": "service", "lifecycle": "production", "owner": "payments",
                "repository": "checkout-repo"},
            "status": {"owner": {"ref": "team:team-payments/payments", "source": "Spec"},
                "relations": [{"type": "dependsOn", "targetRef": "component:team-payments/ledger"},
                              {"type": "bogus", "targetRef": "component:x/y"},
                              {"type": "ownedBy", "targetRef": "not a ref"}],
                "conditions": [{"type": "Ready", "status": "False", "reason": "DanglingReference",
                    "message": "spec.repository: repository:team-payments/checkout-repo not found"}]}
        })
    }

    #[test]
    fn parses_the_fields_views_need_and_drops_managed_fields() {
        let e = Entity::from_object(EntityKind::Component, component()).unwrap();
        assert_eq!(e.id.to_string(), "component:team-payments/checkout");
        assert_eq!(e.title.as_deref(), Some("Checkout"));
        assert_eq!(e.tags, ["java", "pci"]);
        assert_eq!(e.type_.as_deref(), Some("service"));
        assert_eq!(e.lifecycle.as_deref(), Some("production"));
        assert_eq!(
            e.owner.as_ref().unwrap().to_string(),
            "team:team-payments/payments"
        );
        assert_eq!(
            e.relations.len(),
            1,
            "unknown relation types and bad refs are skipped"
        );
        assert_eq!(e.ready.status, "False");
        assert!(e.spec_text.contains("checkout-repo"));
        assert!(e.annotations_text.contains("#payments"));
        assert!(!e.raw.get().contains("managedFields"));
    }

    #[test]
    fn scorecard_results_and_dora_days_are_read_tolerantly() {
        let mut c = component();
        c["status"]["scorecards"] = json!([
            {"scorecard": "org/prod-ready", "score": 80, "level": "Silver", "passed": true},
            {"scorecard": "org/security", "score": 130, "passed": false},
            {"scorecard": "org/cost", "score": "high"},
            {"scorecard": "org/prod-ready", "score": 10, "passed": false},
        ]);
        c["status"]["dora"] = json!({"days": [
            {"date": "2024-03-01", "team": "team:team-payments/payments", "person": "user:org/ann", "deployments": 2},
            {"date": "2024-03-02", "team": "team:team-payments/payments", "deployments": 1}],
            "deployments": [{"id": "d1", "finishedAt": "2024-03-01T10:00:00Z"}]});
        let e = Entity::from_object(EntityKind::Component, c.clone()).unwrap();
        assert_eq!(
            e.scorecards.len(),
            1,
            "out-of-range and malformed results are left out"
        );
        assert_eq!(e.scorecards[0].score, 80);
        assert_eq!(e.scorecards[0].level.as_deref(), Some("Silver"));
        let KindFacts::Component(f) = &e.facts else {
            panic!("component facts")
        };
        let dora = f.dora.as_ref().unwrap();
        assert_eq!(dora.days.len(), 2);
        assert!(dora.deployments.is_empty(), "the ledgers are not kept");
        assert_eq!(f.dora_teams, ["team:team-payments/payments"]);
        assert_eq!(f.dora_people, ["user:org/ann"]);
        c["status"]["dora"]["days"][0]["date"] = json!("2024-02-31");
        let e = Entity::from_object(EntityKind::Component, c).unwrap();
        let KindFacts::Component(f) = &e.facts else {
            panic!("component facts")
        };
        assert!(f.dora.is_none() && f.dora_teams.is_empty());
    }

    #[test]
    fn missing_identity_is_an_error_and_odd_shapes_degrade() {
        let mut no_ns = component();
        no_ns["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        assert_eq!(
            Entity::from_object(EntityKind::Component, no_ns).unwrap_err(),
            ParseError::Missing("metadata.namespace")
        );
        let mut odd = component();
        odd["spec"]["tags"] = json!("not-a-list");
        odd["status"]["relations"] = json!({"what": 1});
        odd["status"]["conditions"] = json!(null);
        let e = Entity::from_object(EntityKind::Component, odd).unwrap();
        assert!(e.tags.is_empty() && e.relations.is_empty());
        assert_eq!(e.ready.status, "Unknown");
        let wrong_kind = Entity::from_object(EntityKind::Team, component()).unwrap_err();
        assert_eq!(wrong_kind, ParseError::UnknownKind("Component".into()));
    }
}
