//! The promotion gate: may this entity go to production?

use nexus_api::scorecards::{Gate, ScorecardResult};

use crate::Compiled;

/// Whether promotion is allowed, and why (shortfalls first, then what to fix).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GateDecision {
    pub allowed: bool,
    pub reasons: Vec<String>,
}

/// Checks a result against a gate. `levels` is the scorecard's ladder (lowest first), which
/// orders the levels. Unknown rules are never taken as passed: they lower the score and block
/// their level like failing ones. When blocked, the reasons end with every failing and unknown
/// rule so the engineer knows what to fix.
pub fn gate(result: &ScorecardResult, gate: &Gate, levels: &[String]) -> GateDecision {
    let mut allowed = true;
    let mut reasons = Vec::new();
    if let Some(min) = gate.min_score {
        if result.score < min {
            allowed = false;
            reasons.push(format!(
                "score {} is below the required {min}",
                result.score
            ));
        } else {
            reasons.push(format!("score {} meets the required {min}", result.score));
        }
    }
    if let Some(min) = &gate.min_level {
        let need = levels.iter().position(|l| l == min);
        let have = result
            .level
            .as_ref()
            .and_then(|l| levels.iter().position(|x| x == l));
        match (need, have) {
            (None, _) => {
                // A gate naming a level the ladder lacks does not compile; refuse rather than
                // guess if a stale result or gate gets here.
                allowed = false;
                reasons.push(format!(
                    "required level {min} is not in the ladder {levels:?}"
                ));
            }
            (Some(_), None) => {
                allowed = false;
                reasons.push(format!("no level reached; {min} is required"));
            }
            (Some(n), Some(h)) if h < n => {
                allowed = false;
                reasons.push(format!("level {} is below the required {min}", levels[h]));
            }
            (Some(_), Some(h)) => {
                reasons.push(format!("level {} meets the required {min}", levels[h]));
            }
        }
    }
    if !allowed {
        for f in &result.failing {
            reasons.push(format!(
                "failing: {} ({}): {}",
                f.title, f.rule_id, f.message
            ));
        }
        for u in &result.unknown {
            reasons.push(format!(
                "unknown: {} ({}): {}",
                u.title, u.rule_id, u.message
            ));
        }
    }
    GateDecision { allowed, reasons }
}

impl Compiled {
    /// The decision the gate endpoint returns for an entity: no result yet, or a result from an
    /// older generation of the scorecard, is not allowed (the gate must not open on data it has
    /// not checked); a scorecard without a gate allows.
    pub fn decide(&self, result: Option<&ScorecardResult>) -> GateDecision {
        let Some(result) = result else {
            return GateDecision {
                allowed: false,
                reasons: vec![format!(
                    "the entity has not been evaluated against {} yet",
                    self.scorecard
                )],
            };
        };
        if result.generation != self.generation {
            return GateDecision {
                allowed: false,
                reasons: vec![format!(
                    "the result is from generation {} of {}, which is now at {}; wait for re-evaluation",
                    opt(result.generation),
                    self.scorecard,
                    opt(self.generation)
                )],
            };
        }
        match &self.gate {
            Some(g) => gate(result, g, &self.levels),
            None => GateDecision {
                allowed: true,
                reasons: vec![format!("{} has no gate", self.scorecard)],
            },
        }
    }
}

fn opt(g: Option<i64>) -> String {
    g.map_or_else(|| "-".to_string(), |g| g.to_string())
}
