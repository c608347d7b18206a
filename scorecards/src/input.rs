//! What a rule sees: the entity, its relations, its facts and the time.

use std::collections::BTreeMap;

use cel::{
    Context,
    common::{
        types::{CelList, CelTimestamp},
        value::Val,
    },
};
use k8s_openapi::jiff::Timestamp;
use nexus_api::RelationType;
use serde_json::{Map, Value};

use crate::{
    env::env,
    value::{map_of, map_to_val, to_val},
};

/// One entity to evaluate.
///
/// - `entity`: the whole object as JSON (`apiVersion`, `kind`, `metadata`, `spec`, `status`).
/// - `relations`: related entities (whole objects) by relation type as written in
///   `status.relations[].type` (`ownedBy`, `hasRepository`, `hasRunbook`, …). In CEL every known
///   relation type is present, empty when the entity has none, so `size(relations.hasRunbook)`
///   never fails.
/// - `facts`: a nested object; the fact `azure.policyCompliance` is `facts.azure.policyCompliance`.
///   [`Input::derive_facts`] fills the ones the catalog already holds (see [`crate::facts`]).
/// - `now`: injectable so results are reproducible.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub entity: Value,
    pub relations: BTreeMap<String, Vec<Value>>,
    pub facts: Map<String, Value>,
    pub now: Timestamp,
}

impl Input {
    pub fn new(entity: Value, now: Timestamp) -> Input {
        Input {
            entity,
            relations: BTreeMap::new(),
            facts: Map::new(),
            now,
        }
    }

    /// Adds a related entity under `relation` (e.g. `hasRunbook`).
    pub fn relation(mut self, relation: impl Into<String>, related: Value) -> Input {
        self.relations
            .entry(relation.into())
            .or_default()
            .push(related);
        self
    }

    /// Sets the fact at a dotted path (`azure.policyCompliance`), creating the objects on the way
    /// and replacing a non-object in the way.
    pub fn fact(mut self, path: &str, value: Value) -> Input {
        set_path(&mut self.facts, path, value);
        self
    }

    /// Adds the facts [`crate::facts::derive`] finds in the entity and its relations; facts
    /// already set win (an external source is more specific than the catalog).
    pub fn derive_facts(mut self) -> Input {
        let derived = crate::facts::derive(&self.entity, &self.relations);
        merge_missing(&mut self.facts, derived);
        self
    }

    /// Whether the fact at `path` (segments) is present and not null.
    pub fn has_fact<S: AsRef<str>>(&self, path: &[S]) -> bool {
        let mut map = &self.facts;
        for (i, seg) in path.iter().enumerate() {
            match map.get(seg.as_ref()) {
                None | Some(Value::Null) => return false,
                Some(v) if i + 1 == path.len() => return !v.is_null(),
                Some(Value::Object(inner)) => map = inner,
                Some(_) => return false,
            }
        }
        !path.is_empty()
    }

    /// Converts to CEL once, for evaluating several scorecards against this entity.
    pub fn activate(&self) -> Activation<'_> {
        Activation::new(self)
    }

    pub(crate) fn kind(&self) -> &str {
        self.entity
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub(crate) fn namespace(&self) -> &str {
        self.entity
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub(crate) fn labels(&self) -> Option<&Map<String, Value>> {
        self.entity
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
    }
}

fn set_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    let mut segments = path.split('.').peekable();
    let mut map = map;
    while let Some(seg) = segments.next() {
        if segments.peek().is_none() {
            map.insert(seg.to_string(), value);
            return;
        }
        let slot = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(inner) = slot else { return };
        map = inner;
    }
}

fn merge_missing(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (None, v) => {
                into.insert(k, v);
            }
            (Some(Value::Object(existing)), Value::Object(more)) => merge_missing(existing, more),
            _ => {}
        }
    }
}

/// An [`Input`] converted to CEL values (strings borrowed, not copied).
pub struct Activation<'a> {
    pub(crate) input: &'a Input,
    pub(crate) context: Context<'a, 'a>,
}

impl std::fmt::Debug for Activation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activation")
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

impl<'a> Activation<'a> {
    pub fn new(input: &'a Input) -> Activation<'a> {
        let mut context = Context::with_env(env());
        context.add_variable_as_val("entity", to_val(&input.entity));
        let mut relations: Vec<(&'a str, Box<dyn Val + 'a>)> = RelationType::ALL
            .iter()
            .filter(|r| !input.relations.contains_key(r.as_str()))
            .map(|r| {
                let empty: Box<dyn Val + 'a> = Box::new(CelList::from(Vec::new()));
                (r.as_str(), empty)
            })
            .collect();
        for (name, related) in &input.relations {
            let list: Box<dyn Val + 'a> = Box::new(CelList::from(
                related.iter().map(to_val).collect::<Vec<_>>(),
            ));
            relations.push((name.as_str(), list));
        }
        context.add_variable_as_val("relations", map_of(relations));
        context.add_variable_as_val("facts", map_to_val(&input.facts));
        context.add_variable_as_val("now", Box::new(CelTimestamp::from(chrono_time(input.now))));
        Activation { input, context }
    }
}

fn chrono_time(t: Timestamp) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().unsigned_abs())
        .unwrap_or_default()
        .fixed_offset()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input() -> Input {
        Input::new(json!({"kind": "Component"}), Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn facts_are_set_by_dotted_path_and_null_counts_as_absent() {
        let i = input()
            .fact("azure.policyCompliance", json!({"nonCompliant": 0}))
            .fact("azure.backup", Value::Null)
            .fact("flat", json!(1));
        assert_eq!(
            Value::Object(i.facts.clone()),
            json!({"azure": {"policyCompliance": {"nonCompliant": 0}, "backup": null}, "flat": 1})
        );
        assert!(i.has_fact(&["azure", "policyCompliance"]));
        assert!(i.has_fact(&["azure", "policyCompliance", "nonCompliant"]));
        assert!(i.has_fact(&["azure"]));
        assert!(!i.has_fact(&["azure", "backup"]));
        assert!(!i.has_fact(&["flat", "deeper"]));
        assert!(!i.has_fact(&["missing"]));
        assert!(!i.has_fact::<&str>(&[]));
        // A fact set under a non-object replaces it.
        let i = i.fact("flat.deeper", json!(true));
        assert!(i.has_fact(&["flat", "deeper"]));
    }

    #[test]
    fn derived_facts_never_overwrite_set_ones() {
        let repo = json!({"kind": "Repository", "status": {
            "branchProtection": {"protected": false},
            "codeowners": {"owners": ["@org/team"]}
        }});
        let i = Input::new(repo, Timestamp::UNIX_EPOCH)
            .fact("github.branchProtection", json!({"protected": true}))
            .derive_facts();
        assert_eq!(
            i.facts["github"]["branchProtection"],
            json!({"protected": true})
        );
        assert_eq!(
            i.facts["github"]["codeowners"],
            json!({"owners": ["@org/team"]})
        );
    }
}
