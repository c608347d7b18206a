//! The team page: who is in it, what it owns by kind, who is on call, what is burning.

use std::collections::{BTreeMap, BTreeSet};

use nexus_api::{EntityKind, EntityRef, RelationType};
use serde::Serialize;
use serde_json::Value;

use super::{QueryError, Summary, visible};
use crate::{
    authz::Visibility,
    cache::{
        Cache,
        entity::{Entity, KindFacts},
        store::Store,
    },
};

/// Entities listed per kind on the team page; `count` has the full number.
const OWNED_PER_KIND: usize = 100;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamView {
    pub team: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Summary>,
    pub subteams: Vec<Summary>,
    pub members: Vec<Summary>,
    /// By kind: how many the team owns (visible to the caller) and the first of them by name.
    pub owned: BTreeMap<&'static str, OwnedGroup>,
    pub on_call: OnCallView,
    pub open_incidents: Vec<IncidentItem>,
}

#[derive(Debug, Serialize)]
pub struct OwnedGroup {
    pub count: usize,
    pub items: Vec<Summary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OnCallView {
    /// `spec.onCall` of the Team (provider, schedule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Value>,
    /// People linked with `hasOnCall`.
    pub people: Vec<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_state: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentItem {
    #[serde(flatten)]
    pub incident: Summary,
    pub state: String,
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The affected entities (visible ones).
    pub affects: Vec<String>,
}

pub fn incident_item(e: &Entity, visibility: &Visibility) -> Option<IncidentItem> {
    let KindFacts::Incident(facts) = &e.facts else {
        return None;
    };
    Some(IncidentItem {
        incident: Summary::of(e),
        state: facts.state.clone(),
        severity: facts.severity.clone(),
        started_at: facts.started_at.clone(),
        url: facts.url.clone(),
        affects: e
            .related(RelationType::Affects)
            .filter(|t| visibility.can_see(t))
            .map(ToString::to_string)
            .collect(),
    })
}

/// Open incidents affecting any of `entities` (or owned by one of `owners`), most severe and
/// most recent first.
pub fn open_incidents<'a>(
    store: &Store,
    visibility: &Visibility,
    entities: impl Iterator<Item = &'a Entity>,
) -> Vec<IncidentItem> {
    let mut ids = BTreeSet::new();
    for e in entities {
        if e.id.kind == EntityKind::Incident {
            ids.insert(e.id.clone());
        }
        ids.extend(e.related(RelationType::AffectedBy).cloned());
    }
    let mut items: Vec<IncidentItem> = ids
        .iter()
        .filter(|id| visibility.can_see(id))
        .filter_map(|id| store.get(id))
        .filter(|e| matches!(&e.facts, KindFacts::Incident(i) if i.is_open()))
        .filter_map(|e| incident_item(e, visibility))
        .collect();
    let rank = |s: &str| match s {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => 4,
    };
    items.sort_by(|a, b| {
        rank(&a.severity)
            .cmp(&rank(&b.severity))
            .then_with(|| b.started_at.cmp(&a.started_at))
    });
    items
}

fn summaries<'a>(
    store: &Store,
    visibility: &Visibility,
    ids: impl Iterator<Item = &'a EntityRef>,
) -> Vec<Summary> {
    let mut out: Vec<Summary> = ids
        .filter(|id| visibility.can_see(id))
        .filter_map(|id| store.get(id))
        .map(|e| Summary::of(e))
        .collect();
    out.sort_by(|a, b| a.ref_.cmp(&b.ref_));
    out.dedup_by(|a, b| a.ref_ == b.ref_);
    out
}

pub fn view(
    cache: &Cache,
    visibility: &Visibility,
    id: &EntityRef,
) -> Result<TeamView, QueryError> {
    if id.kind != EntityKind::Team {
        return Err(QueryError::BadRequest(format!("{id} is not a Team")));
    }
    let store = cache.read();
    let team = visible(&store, visibility, id)?;
    let owned_entities: Vec<&std::sync::Arc<Entity>> = store
        .owned_by(id)
        .filter(|e| visibility.can_see(&e.id))
        .collect();
    let mut owned: BTreeMap<&'static str, OwnedGroup> = BTreeMap::new();
    for e in &owned_entities {
        let group = owned.entry(e.id.kind.as_str()).or_insert(OwnedGroup {
            count: 0,
            items: Vec::new(),
        });
        group.count += 1;
        group.items.push(Summary::of(e));
    }
    for group in owned.values_mut() {
        group.items.sort_by(|a, b| a.name.cmp(&b.name));
        group.items.truncate(OWNED_PER_KIND);
    }
    let people = summaries(&store, visibility, team.related(RelationType::HasOnCall));
    let schedule = match &team.facts {
        KindFacts::Team(t) => t.on_call.clone(),
        _ => None,
    };
    let empty_state = (schedule.is_none() && people.is_empty()).then_some(
        "No on-call set: add spec.onCall (PagerDuty or Opsgenie schedule) to the Team, or link people with hasOnCall",
    );
    Ok(TeamView {
        team: Summary::of(team),
        parent: team
            .related(RelationType::ChildOf)
            .find(|p| visibility.can_see(p))
            .and_then(|p| store.get(p))
            .map(|e| Summary::of(e)),
        subteams: summaries(&store, visibility, team.related(RelationType::ParentOf)),
        members: summaries(&store, visibility, team.related(RelationType::HasMember)),
        open_incidents: open_incidents(
            &store,
            visibility,
            owned_entities.iter().map(|e| e.as_ref()),
        ),
        owned,
        on_call: OnCallView {
            schedule,
            people,
            empty_state,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fixtures::org;

    #[test]
    fn team_view_lists_members_owned_by_kind_and_open_incidents() {
        let cache = org();
        let all = Visibility::everything();
        let v = view(&cache, &all, &"team:pay/payments".parse().unwrap()).unwrap();
        assert_eq!(v.members[0].ref_, "user:org/alice");
        assert_eq!(v.owned["Component"].count, 2);
        assert_eq!(v.owned["Runbook"].count, 1);
        assert_eq!(v.open_incidents.len(), 1);
        assert_eq!(v.open_incidents[0].affects, ["component:pay/ledger"]);
        assert!(v.on_call.empty_state.is_some());
        let pay_components =
            Visibility::namespaces([(EntityKind::Team, "pay"), (EntityKind::Component, "pay")]);
        let limited = view(
            &cache,
            &pay_components,
            &"team:pay/payments".parse().unwrap(),
        )
        .unwrap();
        assert!(
            limited.members.is_empty() && limited.open_incidents.is_empty(),
            "hidden kinds stay hidden"
        );
        assert!(!limited.owned.contains_key("Runbook"));
        assert!(view(&cache, &all, &"component:pay/checkout".parse().unwrap()).is_err());
    }
}
