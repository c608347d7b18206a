//! Runbooks next to what they are for: which runbooks match an entity (contextual surfacing),
//! runbook search, and a runbook's Markdown as sanitised HTML.
//!
//! Matching, for a subject entity:
//! - **entity** — the runbook's `spec.appliesTo` names the subject, or (for an Incident) an
//!   entity the incident affects (`spec.affects` and the resolved `affects` relations);
//! - **alertRule** — (Incidents) a `spec.alerts` entry equals, or as a `*`/`?` pattern
//!   matches, the incident's `spec.alertRule` (ignoring case). Incidents whose source names no
//!   rule (PagerDuty, Opsgenie, most manual ones) are matched by their title instead, and the
//!   reason says so;
//! - **resourceType** — a `spec.resourceTypes` entry matches the `spec.type` of the subject
//!   (an AzureResource) or of an AzureResource the incident affects (ignoring case, wildcards).
//!
//! Ranked entity > alertRule > resourceType (the best reason of each runbook), then by how many
//! reasons matched, then by title. Each item lists every reason. Only entities the caller may
//! see take part: a hidden runbook is not listed and a hidden affected entity matches nothing,
//! so an answer never names what RBAC hides. Runbooks whose file left their repository
//! (`status.sourceGone`) are not surfaced.

use std::sync::Arc;

use nexus_api::{EntityKind, EntityRef, RelationType};
use serde::Serialize;
use serde_json::Value;

use super::{
    QueryError, Summary,
    markdown::{self, LinkBase},
    visible,
};
use crate::{
    authz::Visibility,
    cache::{
        Cache,
        entity::{Entity, KindFacts, RunbookFacts},
        store::Store,
    },
};

/// Why a runbook matched, strongest first (the order ranks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchKind {
    Entity,
    AlertRule,
    ResourceType,
}

/// One reason a runbook matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    #[serde(rename = "match")]
    pub kind: MatchKind,
    /// `entity`: the entity named in `spec.appliesTo`; `resourceType`: the AzureResource whose
    /// type matched.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,
    /// `entity`: `subject` (the entity asked about) or `affected` (an entity the incident
    /// affects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    /// `alertRule` / `resourceType`: the runbook's entry that matched (a name or a pattern).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `alertRule`: the incident's rule name (or title, see `alertFrom`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_rule: Option<String>,
    /// `resourceType`: the Azure type that matched.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Match {
    #[serde(flatten)]
    pub runbook: Summary,
    /// The strongest reason (what ranked it).
    #[serde(rename = "match")]
    pub best: MatchKind,
    pub reasons: Vec<Reason>,
    /// Web URL of the Markdown file, when it came from a repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunbooksFor {
    /// The entity asked about.
    pub subject: String,
    /// The name alert patterns were matched against (Incidents only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_rule: Option<String>,
    /// Where `alertRule` came from: `spec.alertRule`, or `spec.title` when the incident's
    /// source names no rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_from: Option<&'static str>,
    /// Entities whose references and types were matched: the subject, then (Incidents) what
    /// it affects, as far as the caller may see them.
    pub matched_against: Vec<String>,
    pub items: Vec<Match>,
    pub total: usize,
}

/// Runbooks for one entity, ranked, each with why it matched.
pub fn for_entity(
    cache: &Cache,
    visibility: &Visibility,
    id: &EntityRef,
) -> Result<RunbooksFor, QueryError> {
    let store = cache.read();
    let subject = visible(&store, visibility, id)?;
    let context = Context::of(&store, visibility, subject);
    let mut items: Vec<Match> = store
        .runbooks()
        .filter(|r| visibility.can_see(&r.id))
        .filter_map(|r| {
            let KindFacts::Runbook(facts) = &r.facts else {
                return None;
            };
            if facts.source_gone {
                return None;
            }
            let reasons = context.reasons(facts);
            let best = reasons.iter().map(|r| r.kind).min()?;
            Some(Match {
                runbook: Summary::of(r),
                best,
                reasons,
                source_url: facts.source_url.clone(),
            })
        })
        .collect();
    items.sort_by(|a, b| {
        a.best
            .cmp(&b.best)
            .then_with(|| b.reasons.len().cmp(&a.reasons.len()))
            .then_with(|| a.runbook.title.cmp(&b.runbook.title))
            .then_with(|| a.runbook.ref_.cmp(&b.runbook.ref_))
    });
    Ok(RunbooksFor {
        subject: id.to_string(),
        alert_rule: context.alert.as_ref().map(|(name, _)| name.clone()),
        alert_from: context.alert.as_ref().map(|(_, from)| *from),
        matched_against: context
            .entities
            .iter()
            .map(|(r, _)| r.to_string())
            .collect(),
        total: items.len(),
        items,
    })
}

/// What runbooks are matched against.
struct Context {
    /// The subject and what it affects, with how each was reached.
    entities: Vec<(EntityRef, &'static str)>,
    /// Alert name and the field it came from.
    alert: Option<(String, &'static str)>,
    /// Azure types of the subject and of affected AzureResources, with the resource.
    types: Vec<(String, EntityRef)>,
}

impl Context {
    fn of(store: &Store, visibility: &Visibility, subject: &Arc<Entity>) -> Context {
        let mut entities = vec![(subject.id.clone(), "subject")];
        let mut alert = None;
        if let KindFacts::Incident(incident) = &subject.facts {
            let affected = incident
                .affects
                .iter()
                .chain(subject.related(RelationType::Affects));
            for r in affected {
                if visibility.can_see(r) && !entities.iter().any(|(e, _)| e == r) {
                    entities.push((r.clone(), "affected"));
                }
            }
            alert = match (&incident.alert_rule, &subject.title) {
                (Some(rule), _) => Some((rule.clone(), "spec.alertRule")),
                (None, Some(title)) => Some((title.clone(), "spec.title")),
                (None, None) => None,
            };
        }
        let types = entities
            .iter()
            .filter(|(r, _)| r.kind == EntityKind::AzureResource)
            .filter_map(|(r, _)| {
                let e = store.get(r)?;
                Some((e.type_.clone()?, r.clone()))
            })
            .collect();
        Context {
            entities,
            alert,
            types,
        }
    }

    fn reasons(&self, facts: &RunbookFacts) -> Vec<Reason> {
        let mut out = Vec::new();
        for target in &facts.applies_to {
            if let Some((r, via)) = self.entities.iter().find(|(e, _)| e == target) {
                out.push(Reason {
                    kind: MatchKind::Entity,
                    ref_: Some(r.to_string()),
                    via: Some(via),
                    pattern: None,
                    alert_rule: None,
                    type_: None,
                });
            }
        }
        if let Some((name, _)) = &self.alert
            && let Some(pattern) = facts.alerts.iter().find(|p| glob_match(p, name))
        {
            out.push(Reason {
                kind: MatchKind::AlertRule,
                ref_: None,
                via: None,
                pattern: Some(pattern.clone()),
                alert_rule: Some(name.clone()),
                type_: None,
            });
        }
        for (type_, resource) in &self.types {
            if let Some(pattern) = facts.resource_types.iter().find(|p| glob_match(p, type_)) {
                out.push(Reason {
                    kind: MatchKind::ResourceType,
                    ref_: Some(resource.to_string()),
                    via: None,
                    pattern: Some(pattern.clone()),
                    alert_rule: None,
                    type_: Some(type_.clone()),
                });
            }
        }
        out
    }
}

pub use nexus_api::glob::glob_match;

/// A runbook rendered for reading.
#[derive(Debug)]
pub struct Rendered {
    pub title: String,
    /// Sanitised HTML fragment.
    pub html: String,
}

/// A visible runbook's Markdown as sanitised HTML, relative links resolved against its file's
/// place in the repository.
pub fn html(
    cache: &Cache,
    visibility: &Visibility,
    id: &EntityRef,
) -> Result<Rendered, QueryError> {
    if id.kind != EntityKind::Runbook {
        return Err(QueryError::BadRequest(format!("{id} is not a runbook")));
    }
    let store = cache.read();
    let entity = visible(&store, visibility, id)?;
    let KindFacts::Runbook(facts) = &entity.facts else {
        return Err(QueryError::NotFound(format!("{id} not found")));
    };
    let object: Value = serde_json::from_str(entity.raw.get())
        .map_err(|e| QueryError::NotFound(format!("{id}: stored object unreadable: {e}")))?;
    let Some(content) = object.pointer("/spec/content").and_then(Value::as_str) else {
        let where_ = facts
            .source_url
            .clone()
            .or_else(|| facts.source_path.clone())
            .map(|s| format!("; read it at {s}"))
            .unwrap_or_default();
        return Err(QueryError::NotFound(format!(
            "{id} stores no Markdown (spec.content is empty){where_}"
        )));
    };
    let base = link_base(&store, visibility, facts);
    Ok(Rendered {
        title: entity.display_name().to_string(),
        html: markdown::render(content, base.as_ref()),
    })
}

/// Where relative links point: the file's web URL recorded by ingestion, else the declared
/// `spec.source` with its Repository's URL (when the caller may see that Repository).
fn link_base(store: &Store, visibility: &Visibility, facts: &RunbookFacts) -> Option<LinkBase> {
    let path = facts.source_path.as_deref()?;
    if let Some(url) = &facts.source_url
        && let Some(base) = LinkBase::from_source_url(url, path)
    {
        return Some(base);
    }
    let repo = facts.source_repository.as_ref()?;
    if !visibility.can_see(repo) {
        return None;
    }
    let object: Value = serde_json::from_str(store.get(repo)?.raw.get()).ok()?;
    let url = object.pointer("/spec/url")?.as_str()?;
    url.starts_with("https://")
        .then(|| LinkBase::new(url, facts.source_ref.as_deref().unwrap_or("HEAD"), path))
}

#[cfg(test)]
mod tests;
