//! Turns a graph [`View`] into the status the catalog controller owns, and decides whether it
//! differs from what is stored (no write when nothing changed).

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use nexus_api::{
    EntityStatus, OwnerSource, Relation, ResolvedOwner, UnresolvedRef,
    conditions::{self, FALSE, NewCondition, OWNER_RESOLVED, READY, RELATIONS_RESOLVED, TRUE},
};

use super::graph::{Problem, View};

/// Field manager for everything this module writes.
pub const MANAGER: &str = "nexus-catalog";

/// Relations kept in status; more would push large fan-in entities (a team owning thousands
/// of things) towards etcd's object size limit. The count is still visible via the flag.
pub const MAX_RELATIONS: usize = 2000;

/// Condition types this controller owns; others (ingestion's) are left alone.
pub const OWNED_CONDITIONS: [&str; 4] = [READY, RELATIONS_RESOLVED, OWNER_RESOLVED, STALLED];
pub const STALLED: &str = "Stalled";

/// How many problems a condition message names before summarising.
const MAX_LISTED: usize = 10;

/// The status for `view`, merged with the stored conditions so transition times are kept.
pub fn desired(
    view: &View,
    generation: Option<i64>,
    existing: &[Condition],
    now: Timestamp,
) -> EntityStatus {
    let mut new = Vec::new();
    if let Some(err) = &view.invalid {
        let msg =
            format!("the object does not match the schema this controller understands: {err}");
        new.push(NewCondition::new(READY, FALSE, "InvalidSpec", msg.clone()));
        new.push(NewCondition::new(STALLED, TRUE, "InvalidSpec", msg));
    } else {
        let (rel_status, reason, message) = relations_condition(view);
        new.push(NewCondition::new(
            RELATIONS_RESOLVED,
            rel_status,
            reason,
            message.clone(),
        ));
        if view.owner_applicable {
            new.push(owner_condition(view));
        }
        let ready = if rel_status == TRUE {
            NewCondition::new(READY, TRUE, "Resolved", "all references resolve")
        } else {
            NewCondition::new(READY, FALSE, reason, message)
        };
        new.push(ready);
    }
    // Drop owned conditions that no longer apply (e.g. Stalled after the spec was fixed).
    let kept: Vec<_> = existing
        .iter()
        .filter(|c| {
            !OWNED_CONDITIONS.contains(&c.type_.as_str()) || new.iter().any(|n| n.type_ == c.type_)
        })
        .cloned()
        .collect();
    let conditions = conditions::merge(&kept, &new, generation, now)
        .into_iter()
        .filter(|c| OWNED_CONDITIONS.contains(&c.type_.as_str()))
        .collect();

    let mut relations: Vec<Relation> = view
        .relations
        .iter()
        .map(|(r, target)| Relation {
            type_: r.as_str().to_string(),
            target_ref: target.to_string(),
        })
        .collect();
    let truncated = relations.len() > MAX_RELATIONS;
    relations.truncate(MAX_RELATIONS);

    EntityStatus {
        observed_generation: generation,
        conditions,
        owner: view.owner.as_ref().map(|o| ResolvedOwner {
            ref_: o.owner.to_string(),
            source: o.source,
            detail: Some(o.detail.clone()),
        }),
        relations,
        unresolved_refs: view
            .unresolved
            .iter()
            .map(|u| UnresolvedRef {
                field: u.field.clone(),
                target_ref: u.target.clone(),
                reason: match u.problem {
                    Problem::NotFound => "NotFound".into(),
                    Problem::Invalid(_) => "Invalid".into(),
                },
            })
            .collect(),
        relations_truncated: truncated.then_some(true),
        scorecards: Vec::new(),
    }
}

fn relations_condition(view: &View) -> (&'static str, &'static str, String) {
    if view.unresolved.is_empty() {
        let n = view.relations.len();
        return (TRUE, "Resolved", format!("{n} relation(s) resolved"));
    }
    let invalid = view
        .unresolved
        .iter()
        .any(|u| matches!(u.problem, Problem::Invalid(_)));
    let mut parts: Vec<String> = view
        .unresolved
        .iter()
        .take(MAX_LISTED)
        .map(|u| match &u.problem {
            Problem::NotFound => format!("{}: {} not found", u.field, u.target),
            Problem::Invalid(e) => {
                format!("{}: {:?} is not a valid reference ({e})", u.field, u.target)
            }
        })
        .collect();
    if view.unresolved.len() > MAX_LISTED {
        parts.push(format!("and {} more", view.unresolved.len() - MAX_LISTED));
    }
    let reason = if invalid {
        "InvalidReference"
    } else {
        "DanglingReference"
    };
    (FALSE, reason, parts.join("; "))
}

fn owner_condition(view: &View) -> NewCondition {
    match &view.owner {
        Some(o) => {
            let reason = match o.source {
                OwnerSource::Spec => "OwnerFromSpec",
                OwnerSource::Codeowners => "OwnerFromCodeowners",
                OwnerSource::AzureTags => "OwnerFromAzureTags",
                OwnerSource::EntraGroup => "OwnerFromEntraGroup",
            };
            let found = view.unresolved.iter().all(|u| u.field != "spec.owner");
            if found {
                NewCondition::new(
                    OWNER_RESOLVED,
                    TRUE,
                    reason,
                    format!("{} ({})", o.owner, o.detail),
                )
            } else {
                NewCondition::new(
                    OWNER_RESOLVED,
                    FALSE,
                    "OwnerNotFound",
                    format!("{} does not exist", o.owner),
                )
            }
        }
        None if view.unresolved.iter().any(|u| u.field == "spec.owner") => NewCondition::new(
            OWNER_RESOLVED,
            FALSE,
            "OwnerNotFound",
            "spec.owner is not a valid reference",
        ),
        None => NewCondition::new(
            OWNER_RESOLVED,
            FALSE,
            "NoOwner",
            "no spec.owner, CODEOWNERS entry, owner/team Azure tag or mapped Entra ID group names an owner",
        ),
    }
}

/// What the controller remembers of a stored status: its own conditions reduced to type, status
/// and transition time (all the merge and the readiness events need) and a hash of every field
/// it owns (to decide whether to write). At 100k entities, remembering this instead of the
/// status itself keeps relation lists and condition messages out of memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredStatus {
    conditions: Vec<StoredCondition>,
    pub hash: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct StoredCondition {
    type_: &'static str,
    status: &'static str,
    last_transition_time: Timestamp,
}

impl StoredStatus {
    /// The remembered conditions in metav1 shape (reason and message left empty).
    pub fn conditions(&self) -> Vec<Condition> {
        self.conditions
            .iter()
            .map(|c| Condition {
                type_: c.type_.to_string(),
                status: c.status.to_string(),
                last_transition_time: Time(c.last_transition_time),
                reason: String::new(),
                message: String::new(),
                observed_generation: None,
            })
            .collect()
    }
}

/// Summarises a status read from the apiserver.
pub fn stored(status: &EntityStatus) -> StoredStatus {
    let owned = EntityStatus {
        conditions: status
            .conditions
            .iter()
            .filter(|c| OWNED_CONDITIONS.contains(&c.type_.as_str()))
            .cloned()
            .collect(),
        // Written by the scorecard controller under its own field manager: a change there is
        // no reason for this controller to write.
        scorecards: Vec::new(),
        ..status.clone()
    };
    let statuses = [TRUE, FALSE, conditions::UNKNOWN];
    StoredStatus {
        hash: hash_of(&owned),
        conditions: owned
            .conditions
            .iter()
            .filter_map(|c| {
                Some(StoredCondition {
                    type_: OWNED_CONDITIONS.into_iter().find(|t| *t == c.type_)?,
                    status: statuses.into_iter().find(|s| *s == c.status)?,
                    last_transition_time: c.last_transition_time.0,
                })
            })
            .collect(),
    }
}

/// Whether `desired` differs from the stored status in any field this controller owns.
pub fn needs_write(current: Option<&StoredStatus>, desired: &EntityStatus) -> bool {
    current.is_none_or(|c| c.hash != hash_of(desired))
}

fn hash_of(status: &EntityStatus) -> u64 {
    use std::hash::{Hash, Hasher};
    // The JSON form is canonical here: fields in declaration order, lists in status order.
    let bytes = serde_json::to_vec(status).unwrap_or_default();
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use nexus_api::{EntityKind, EntityRef, RelationType};

    use super::*;
    use crate::catalog::{graph::Unresolved, ownership::Ownership};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn resolved_view() -> View {
        let team = EntityRef::new(EntityKind::Team, "ns", "t");
        View {
            relations: [(RelationType::OwnedBy, team.clone())]
                .into_iter()
                .collect(),
            owner: Some(Ownership {
                owner: team,
                source: OwnerSource::Spec,
                detail: "spec.owner t".into(),
            }),
            owner_applicable: true,
            ..Default::default()
        }
    }

    #[test]
    fn resolved_entity_is_ready_and_a_second_pass_writes_nothing() {
        let first = desired(&resolved_view(), Some(1), &[], ts(10));
        assert!(conditions::is_ready(&first.conditions));
        assert_eq!(first.relations[0].target_ref, "team:ns/t");
        assert_eq!(first.owner.as_ref().unwrap().ref_, "team:ns/t");
        let second = desired(
            &resolved_view(),
            Some(1),
            &stored(&first).conditions(),
            ts(20),
        );
        assert!(
            !needs_write(Some(&stored(&first)), &second),
            "unchanged status must not be rewritten"
        );
        let bumped = desired(
            &resolved_view(),
            Some(2),
            &stored(&first).conditions(),
            ts(20),
        );
        assert!(needs_write(Some(&stored(&first)), &bumped));
    }

    #[test]
    fn dangling_reference_names_field_and_target() {
        let mut v = resolved_view();
        v.unresolved.push(Unresolved {
            field: "spec.dependsOn[0]".into(),
            target: "component:ns/ghost".into(),
            problem: Problem::NotFound,
        });
        let s = desired(&v, Some(1), &[], ts(1));
        let ready = conditions::find(&s.conditions, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            (FALSE, "DanglingReference")
        );
        assert_eq!(
            ready.message,
            "spec.dependsOn[0]: component:ns/ghost not found"
        );
        assert_eq!(s.unresolved_refs[0].reason, "NotFound");
    }

    #[test]
    fn invalid_object_is_stalled_and_stalled_clears_once_fixed() {
        let v = View {
            invalid: Some("spec.type: unknown variant".into()),
            ..Default::default()
        };
        let bad = desired(&v, Some(3), &[], ts(1));
        assert!(conditions::find(&bad.conditions, STALLED).is_some());
        let fixed = desired(&resolved_view(), Some(4), &stored(&bad).conditions(), ts(2));
        assert!(conditions::find(&fixed.conditions, STALLED).is_none());
        assert!(needs_write(Some(&stored(&bad)), &fixed));
    }

    #[test]
    fn foreign_conditions_do_not_force_writes() {
        let mut on_server = desired(&resolved_view(), Some(1), &[], ts(1));
        on_server.conditions = conditions::merge(
            &on_server.conditions,
            &[NewCondition::new("Synced", TRUE, "Ok", "by nexus-github")],
            None,
            ts(1),
        );
        let again = desired(
            &resolved_view(),
            Some(1),
            &stored(&on_server).conditions(),
            ts(5),
        );
        assert!(!needs_write(Some(&stored(&on_server)), &again));
    }

    #[test]
    fn scorecard_results_do_not_force_writes() {
        let mut on_server = desired(&resolved_view(), Some(1), &[], ts(1));
        on_server.scorecards = vec![nexus_api::scorecards::ScorecardResult {
            scorecard: "nexus-org/production-readiness".into(),
            generation: Some(1),
            score: 40,
            level: None,
            passed: false,
            rules_passed: 1,
            rules_total: 2,
            failing: Vec::new(),
            unknown: Vec::new(),
            evaluated_at: Time(ts(1)),
        }];
        let again = desired(
            &resolved_view(),
            Some(1),
            &stored(&on_server).conditions(),
            ts(5),
        );
        assert!(
            !needs_write(Some(&stored(&on_server)), &again),
            "the scorecard controller's results are not the catalog controller's to write"
        );
    }

    #[test]
    fn owner_condition_reports_missing_owner() {
        let mut v = resolved_view();
        v.owner = None;
        let s = desired(&v, Some(1), &[], ts(1));
        let c = conditions::find(&s.conditions, OWNER_RESOLVED).unwrap();
        assert_eq!(c.reason, "NoOwner");
        // A missing inferred owner does not make the entity unready.
        assert!(conditions::is_ready(&s.conditions));
    }
}
