//! Scorecard: rules in CEL, weights, levels, gate and the entities they apply to.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::integrations::common::DURATION_PATTERN;

/// Condition types and reasons a Scorecard's status uses.
pub mod condition {
    /// `True` once every rule compiled and the entities were evaluated; `False` with reason
    /// [`COMPILE_FAILED`] when a rule or the filter does not compile.
    pub const READY: &str = "Ready";
    /// `True` when every expression compiled; `False` lists rule, line:column and message.
    pub const COMPILED: &str = "Compiled";
    pub const COMPILE_FAILED: &str = "CompileFailed";
    pub const COMPILED_OK: &str = "Compiled";
    pub const EVALUATED: &str = "Evaluated";
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "scorecards.nexus.dev",
    version = "v1alpha1",
    kind = "Scorecard",
    namespaced,
    status = "ScorecardStatus",
    shortname = "nxsc",
    category = "nexus",
    category = "scorecards",
    printcolumn(name = "Title", type_ = "string", json_path = ".spec.title"),
    printcolumn(
        name = "Entities",
        type_ = "integer",
        json_path = ".status.distribution.entities"
    ),
    printcolumn(
        name = "Pass Rate",
        type_ = "integer",
        json_path = ".status.distribution.passRate"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    doc = "A scorecard: CEL rules over catalog entities, their relations and facts, with weights, an ordered level ladder and a promotion gate."
)]
#[x_kube(validation = Rule::new("self.rules.all(r, self.rules.exists_one(s, s.id == r.id))").message("spec.rules[].id must be unique"))]
#[x_kube(validation = Rule::new("self.levels.all(l, self.levels.exists_one(m, m == l))").message("spec.levels must not repeat a level"))]
#[x_kube(validation = Rule::new("self.rules.all(r, !has(r.level) || r.level in self.levels)").message("spec.rules[].level must be one of spec.levels"))]
#[x_kube(validation = Rule::new("!has(self.gate) || !has(self.gate.minLevel) || self.gate.minLevel in self.levels").message("spec.gate.minLevel must be one of spec.levels"))]
#[serde(rename_all = "camelCase")]
pub struct ScorecardSpec {
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Which entities the scorecard measures.
    pub applies_to: AppliesTo,
    /// The level ladder, lowest first. Default `[Bronze, Silver, Gold]`.
    #[serde(default = "super::default_levels")]
    #[schemars(length(min = 1, max = 10), inner(length(min = 1, max = 32)))]
    #[x_kube(validation = Rule::new("self.all(l, l.matches('^[A-Za-z][A-Za-z0-9 _-]*$'))").message("spec.levels entries must start with a letter and hold letters, digits, space, '_' or '-'"))]
    pub levels: Vec<String>,
    #[schemars(length(min = 1, max = 100))]
    pub rules: Vec<RuleSpec>,
    /// Promotion threshold: an entity below it may not be promoted to production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    /// How often every entity is re-evaluated even when nothing changed (facts such as `now`
    /// move on their own). Default `1h`.
    #[serde(default = "default_sweep_interval")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("spec.sweepInterval must be a duration such as 1h"))]
    pub sweep_interval: String,
}

fn default_sweep_interval() -> String {
    "1h".into()
}

/// The entities a scorecard measures: every condition given must hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliesTo {
    /// Catalog kinds, e.g. `Component`, `AzureResource`.
    #[schemars(length(min = 1, max = 14), inner(length(max = 32)))]
    #[x_kube(validation = Rule::new(kinds_rule()).message(Message::Message(kinds_message())))]
    pub kinds: Vec<String>,
    /// Namespaces whose entities it measures. Empty: every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 63)))]
    pub namespaces: Vec<String>,
    /// Label selector on the entities' `metadata.labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// A CEL expression returning a bool, over the same variables as the rules (`entity`,
    /// `relations`, `facts`, `now`), e.g. `entity.spec.type == 'service'`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub filter: Option<String>,
}

fn kinds_rule() -> String {
    let names: Vec<String> = crate::EntityKind::ALL
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect();
    format!("self.all(k, k in [{}])", names.join(", "))
}

fn kinds_message() -> String {
    let names: Vec<&str> = crate::EntityKind::ALL.iter().map(|k| k.as_str()).collect();
    format!(
        "spec.appliesTo.kinds entries must be catalog kinds: {}",
        names.join(", ")
    )
}

/// One check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// Stable id, a DNS label; results and trends refer to it.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("spec.rules[].id must be a DNS label (lower case, digits, '-')"))]
    pub id: String,
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    /// CEL returning a bool: true passes. Variables: `entity`, `relations`, `facts`, `now`.
    #[schemars(length(min = 1, max = 4096))]
    pub expression: String,
    /// What the engineer should do when the rule fails.
    #[schemars(length(min = 1, max = 1024))]
    pub message: String,
    /// Share of the score. Default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: i32,
    /// The level this rule belongs to; without one it counts for the score only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub level: Option<String>,
    /// Facts the rule needs, as paths under `facts` (e.g. `azure.policyCompliance`). When one is
    /// absent for an entity the rule is `unknown` there, never passed or failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 128)))]
    #[x_kube(validation = Rule::new("self.all(f, f.matches('^[a-z][A-Za-z0-9]*([.][a-z][A-Za-z0-9]*)*$'))").message("spec.rules[].facts entries must be dotted camelCase paths such as azure.policyCompliance"))]
    pub facts: Vec<String>,
}

fn one() -> i32 {
    1
}

/// Minimum an entity must reach to be promoted to production. Both, when given, must hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.minScore) || has(self.minLevel)").message("spec.gate needs minScore or minLevel").reason(Reason::FieldValueRequired))]
pub struct Gate {
    /// Lowest score (0–100) allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub min_score: Option<i32>,
    /// Lowest level allowed (one of `spec.levels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub min_level: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` summarises `Compiled` (reason `CompileFailed` with rule, line:column and message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Every compile error, by rule (`appliesTo.filter` for the filter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub rule_errors: Vec<RuleErrorStatus>,
    /// Results over the entities measured at the last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated_at: Option<Time>,
}

/// A compile error of one expression.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleErrorStatus {
    /// Rule id, or the field (`appliesTo.filter`, `levels`, `gate.minLevel`) at fault.
    #[schemars(length(max = 128))]
    pub rule: String,
    /// 1-based line in the expression; 0 when the error is not at a place in it.
    pub line: i32,
    /// 1-based column (in characters); 0 when the error is not at a place in it.
    pub column: i32,
    #[schemars(length(max = 1024))]
    pub message: String,
}

/// How the measured entities stand.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    /// Entities measured.
    pub entities: i64,
    /// Entities that pass (meet the gate; with no gate, pass every rule).
    pub passed: i64,
    /// Percentage of entities that pass, rounded down (0 with no entities).
    #[schemars(range(min = 0, max = 100))]
    pub pass_rate: i32,
    /// Mean score, rounded down.
    #[schemars(range(min = 0, max = 100))]
    pub average_score: i32,
    /// Entities with at least one rule `unknown`.
    pub unknown: i64,
    /// Entities at each level (their highest), in ladder order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub per_level: Vec<LevelCount>,
    /// Entities below the first level.
    pub no_level: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LevelCount {
    #[schemars(length(max = 32))]
    pub level: String,
    pub entities: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_fields_take_their_defaults() {
        let spec: ScorecardSpec = serde_yaml::from_str(
            "title: t\nappliesTo: {kinds: [Component]}\nrules: [{id: a, title: t, expression: 'true', message: m}]\n",
        )
        .unwrap();
        assert_eq!(spec.levels, ["Bronze", "Silver", "Gold"]);
        assert_eq!(spec.rules[0].weight, 1);
        assert_eq!(spec.rules[0].level, None);
        assert!(spec.rules[0].facts.is_empty());
        assert_eq!(spec.sweep_interval, "1h");
        assert_eq!(spec.gate, None);
    }

    #[test]
    fn kinds_rule_lists_every_catalog_kind() {
        let rule = kinds_rule();
        for k in crate::EntityKind::ALL {
            assert!(rule.contains(&format!("'{}'", k.as_str())), "{rule}");
        }
    }
}
