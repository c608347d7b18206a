//! One entity's result against one scorecard, as the scorecard controller writes it into the
//! entity's status (one entry per scorecard that applies).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardResult {
    /// The scorecard, `namespace/name`.
    #[schemars(length(max = 320))]
    pub scorecard: String,
    /// The scorecard's `metadata.generation` the result was computed with: a result from an
    /// older generation is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Weighted pass ratio in percent, rounded down: `floor(100 × Σ weight of passed rules /
    /// Σ weight of all rules)`; unknown rules count as not passed.
    #[schemars(range(min = 0, max = 100))]
    pub score: i32,
    /// Highest level whose rules, and those of every lower level, all pass. Absent below the
    /// first level and when no rule has a level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub level: Option<String>,
    /// Meets the scorecard's gate; with no gate, every rule passes.
    pub passed: bool,
    /// Rules that passed, of `rulesTotal`.
    pub rules_passed: i32,
    pub rules_total: i32,
    /// Rules that evaluated to false, with what to do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub failing: Vec<RuleFinding>,
    /// Rules that could not be decided: a declared fact is absent, or evaluation failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub unknown: Vec<RuleFinding>,
    pub evaluated_at: Time,
}

/// A rule that did not pass.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleFinding {
    #[schemars(length(max = 63))]
    pub rule_id: String,
    #[schemars(length(max = 200))]
    pub title: String,
    /// For a failing rule, the rule's message (what to do); for an unknown one, why it could
    /// not be decided.
    #[schemars(length(max = 1024))]
    pub message: String,
}
