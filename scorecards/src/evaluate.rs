//! Evaluating a compiled scorecard against one entity.

use cel::Value as CelValue;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use nexus_api::scorecards::{RuleFinding, ScorecardResult};
use serde_json::{Map, Value};

use crate::{
    Input,
    compile::{Compiled, CompiledRule, truncate},
    facts,
    input::Activation,
};

/// Why the filter could not decide whether a scorecard applies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("appliesTo.filter failed: {0}")]
    Filter(String),
    #[error("appliesTo.filter must return a bool, got {0}")]
    FilterNotBool(String),
}

/// One rule's result for one entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleStatus {
    Passed,
    Failed,
    /// Could not be decided; the reason says why (absent fact, evaluation error, non-bool).
    Unknown(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOutcome {
    pub rule_id: String,
    pub status: RuleStatus,
}

/// Whether the scorecard measures this entity: kind, namespace, label selector, then filter.
/// A filter that fails (e.g. reads a field the entity lacks) is an error, which callers should
/// count as "does not apply" and surface, rather than guess.
pub fn applies(compiled: &Compiled, activation: &Activation<'_>) -> Result<bool, EvalError> {
    let input = activation.input;
    if !compiled.kinds.iter().any(|k| k == input.kind()) {
        return Ok(false);
    }
    if !compiled.namespaces.is_empty()
        && !compiled.namespaces.iter().any(|n| n == input.namespace())
    {
        return Ok(false);
    }
    if let Some(selector) = &compiled.selector
        && !selector_matches(selector, input.labels())
    {
        return Ok(false);
    }
    let Some(filter) = &compiled.filter else {
        return Ok(true);
    };
    match filter.execute(&activation.context) {
        Ok(CelValue::Bool(b)) => Ok(b),
        Ok(other) => Err(EvalError::FilterNotBool(type_name(&other))),
        Err(e) => Err(EvalError::Filter(truncate(&e.to_string(), 1000))),
    }
}

/// Evaluates every rule against one entity. Converts the input to CEL first; to evaluate
/// several scorecards against the same entity, [`Input::activate`] once and call
/// [`evaluate_activation`].
pub fn evaluate(compiled: &Compiled, input: &Input) -> ScorecardResult {
    evaluate_activation(compiled, &Activation::new(input))
}

pub fn evaluate_activation(compiled: &Compiled, activation: &Activation<'_>) -> ScorecardResult {
    let outcomes: Vec<RuleStatus> = compiled
        .rules
        .iter()
        .map(|r| run_rule(r, activation))
        .collect();
    summarise(compiled, &outcomes, activation.input.now)
}

impl Compiled {
    /// Every rule's outcome, in declaration order (for a detailed view; results keep only the
    /// rules that did not pass).
    pub fn outcomes(&self, activation: &Activation<'_>) -> Vec<RuleOutcome> {
        self.rules
            .iter()
            .map(|r| RuleOutcome {
                rule_id: r.id.clone(),
                status: run_rule(r, activation),
            })
            .collect()
    }
}

fn run_rule(rule: &CompiledRule, activation: &Activation<'_>) -> RuleStatus {
    for (name, path) in &rule.facts {
        if !activation.input.has_fact(path) {
            return RuleStatus::Unknown(facts::absent_reason(name));
        }
    }
    match rule.program.execute(&activation.context) {
        Ok(CelValue::Bool(true)) => RuleStatus::Passed,
        Ok(CelValue::Bool(false)) => RuleStatus::Failed,
        Ok(other) => RuleStatus::Unknown(format!(
            "rule {} must return a bool, got {}",
            rule.id,
            type_name(&other)
        )),
        Err(e) => RuleStatus::Unknown(format!("evaluation failed: {e}")),
    }
}

fn summarise(
    compiled: &Compiled,
    outcomes: &[RuleStatus],
    now: k8s_openapi::jiff::Timestamp,
) -> ScorecardResult {
    let mut passed_weight = 0u64;
    let mut rules_passed = 0i32;
    let mut failing = Vec::new();
    let mut unknown = Vec::new();
    for (rule, status) in compiled.rules.iter().zip(outcomes) {
        match status {
            RuleStatus::Passed => {
                passed_weight += rule.weight;
                rules_passed += 1;
            }
            RuleStatus::Failed => failing.push(RuleFinding {
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                message: rule.message.clone(),
            }),
            RuleStatus::Unknown(reason) => unknown.push(RuleFinding {
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                message: truncate(reason, 1024),
            }),
        }
    }
    // Integer math: floor, so 79.9 % never meets a gate of 80. No weight (cannot happen after
    // compile, which needs a rule of weight ≥ 1) scores 0.
    let score = (passed_weight * 100)
        .checked_div(compiled.total_weight)
        .and_then(|s| i32::try_from(s).ok())
        .unwrap_or(0);
    let level = level_index(compiled, outcomes).map(|i| compiled.levels[i].clone());
    let mut result = ScorecardResult {
        scorecard: compiled.scorecard.clone(),
        generation: compiled.generation,
        score,
        level,
        passed: false,
        rules_passed,
        rules_total: i32::try_from(compiled.rules.len()).unwrap_or(i32::MAX),
        failing,
        unknown,
        evaluated_at: Time(now),
    };
    result.passed = match &compiled.gate {
        Some(g) => crate::gate(&result, g, &compiled.levels).allowed,
        None => result.failing.is_empty() && result.unknown.is_empty(),
    };
    result
}

/// The highest ladder index L such that every rule at a level ≤ L passed; `None` when the first
/// level is not reached or no rule has a level. A level with no rules of its own is reached
/// when the levels below it are.
fn level_index(compiled: &Compiled, outcomes: &[RuleStatus]) -> Option<usize> {
    if compiled.rules.iter().all(|r| r.level.is_none()) {
        return None;
    }
    // The lowest level with a rule that did not pass blocks it and everything above.
    let blocked = compiled
        .rules
        .iter()
        .zip(outcomes)
        .filter(|(_, s)| **s != RuleStatus::Passed)
        .filter_map(|(r, _)| r.level)
        .min();
    match blocked {
        None => Some(compiled.levels.len() - 1),
        Some(0) => None,
        Some(b) => Some(b - 1),
    }
}

fn type_name(v: &CelValue) -> String {
    match v {
        CelValue::Bool(_) => "bool",
        CelValue::Int(_) => "int",
        CelValue::UInt(_) => "uint",
        CelValue::Float(_) => "double",
        CelValue::String(_) => "string",
        CelValue::Bytes(_) => "bytes",
        CelValue::List(_) => "list",
        CelValue::Map(_) => "map",
        CelValue::Null => "null",
        CelValue::Duration(_) => "duration",
        CelValue::Timestamp(_) => "timestamp",
        _ => "a value of another type",
    }
    .to_string()
}

/// Kubernetes label selector semantics: every `matchLabels` pair and every expression must hold.
fn selector_matches(selector: &LabelSelector, labels: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    for (k, v) in selector.match_labels.iter().flatten() {
        if get(k) != Some(v.as_str()) {
            return false;
        }
    }
    for req in selector.match_expressions.iter().flatten() {
        let value = get(&req.key);
        let values = req.values.as_deref().unwrap_or_default();
        let ok = match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
            "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            // An operator Kubernetes does not define matches nothing, as in apimachinery.
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}
