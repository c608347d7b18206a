//! metav1.Condition helpers in the style of cluster-api's `util/conditions`: setting a condition
//! keeps `lastTransitionTime` unless status changes, and `Ready` always sorts first.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

pub const READY: &str = "Ready";
pub const RELATIONS_RESOLVED: &str = "RelationsResolved";
pub const OWNER_RESOLVED: &str = "OwnerResolved";

pub const TRUE: &str = "True";
pub const FALSE: &str = "False";
pub const UNKNOWN: &str = "Unknown";

/// A condition without its timestamp, as computed by a reconciler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCondition {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

impl NewCondition {
    pub fn new(
        type_: &'static str,
        status: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Merges `new` into `existing`: untouched types are kept, `lastTransitionTime` only moves
/// when the status flips, and the result is sorted with `Ready` first, then by type.
pub fn merge(
    existing: &[Condition],
    new: &[NewCondition],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| !new.iter().any(|n| n.type_ == c.type_))
        .cloned()
        .collect();
    for n in new {
        let prev = existing.iter().find(|c| c.type_ == n.type_);
        let last_transition_time = match prev {
            Some(p) if p.status == n.status => p.last_transition_time.clone(),
            _ => Time(now),
        };
        out.push(Condition {
            type_: n.type_.to_string(),
            status: n.status.to_string(),
            reason: n.reason.clone(),
            message: truncate(&n.message, 32_000),
            observed_generation: generation,
            last_transition_time,
        });
    }
    out.sort_by(|a, b| {
        (a.type_ != READY, a.type_.as_str()).cmp(&(b.type_ != READY, b.type_.as_str()))
    });
    out
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the `Ready` condition is `True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    find(conditions, READY).is_some_and(|c| c.status == TRUE)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let first = merge(
            &[],
            &[NewCondition::new(READY, FALSE, "DanglingReference", "x")],
            Some(1),
            ts(100),
        );
        let same = merge(
            &first,
            &[NewCondition::new(READY, FALSE, "DanglingReference", "y")],
            Some(2),
            ts(200),
        );
        assert_eq!(same[0].last_transition_time, Time(ts(100)));
        assert_eq!(same[0].message, "y");
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(
            &same,
            &[NewCondition::new(READY, TRUE, "Resolved", "")],
            Some(2),
            ts(300),
        );
        assert_eq!(flipped[0].last_transition_time, Time(ts(300)));
    }

    #[test]
    fn ready_sorts_first_and_foreign_conditions_survive() {
        let foreign = merge(
            &[],
            &[NewCondition::new("Synced", TRUE, "Ok", "")],
            None,
            ts(1),
        );
        let out = merge(
            &foreign,
            &[
                NewCondition::new(RELATIONS_RESOLVED, TRUE, "Resolved", ""),
                NewCondition::new(READY, TRUE, "Resolved", ""),
            ],
            Some(1),
            ts(2),
        );
        let types: Vec<_> = out.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "RelationsResolved", "Synced"]);
        assert!(is_ready(&out));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(20_000);
        let out = merge(
            &[],
            &[NewCondition::new(READY, FALSE, "X", long)],
            None,
            ts(1),
        );
        assert!(out[0].message.len() <= 32_000);
        assert!(out[0].message.ends_with("..."));
    }
}
