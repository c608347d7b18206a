//! The scorecard rule engine: pure functions, no cluster access.
//!
//! - [`compile`] turns a [`ScorecardSpec`](nexus_api::scorecards::ScorecardSpec) into a
//!   [`Compiled`] scorecard: every rule's CEL is parsed once, and checked for unknown variables,
//!   unknown functions, undeclared facts and obviously non-bool results. Errors carry rule, line
//!   and column; a scorecard that does not compile is never evaluated, so no entity ever shows a
//!   compile error.
//! - [`Input`] is one entity as JSON, its resolved relations and its facts; an [`Activation`]
//!   converts it to CEL values once, so several scorecards can evaluate the same entity cheaply.
//! - [`evaluate`] runs every rule and returns a
//!   [`ScorecardResult`](nexus_api::scorecards::ScorecardResult): weighted score, level, failing
//!   and unknown rules.
//! - [`gate()`] and [`Compiled::decide`] say whether an entity may be promoted; [`Distribution`]
//!   aggregation and [`snapshots`] feed the Scorecard's status and the daily trend records.
//!
//! Semantics (also in `docs/scorecards.md`):
//! - score = `floor(100 × Σ weight(passed) / Σ weight(all rules))`; an unknown rule is not passed;
//! - level = the highest level L such that every rule at L or below passes (an unknown rule
//!   blocks its level); no level when the first level is not reached or no rule has a level;
//! - a rule is unknown when a fact it declares is absent, or when its evaluation fails.

mod compile;
mod distribution;
mod env;
mod evaluate;
pub mod facts;
mod gate;
mod input;
pub mod templates;
mod value;

pub use compile::{Compiled, RuleError, compile, compile_conditions, compile_scorecard};
pub use distribution::{DistributionBuilder, distribution, snapshot_name, snapshots};
pub use env::VARIABLES;
pub use evaluate::{EvalError, RuleOutcome, RuleStatus, applies, evaluate, evaluate_activation};
pub use gate::{GateDecision, gate};
pub use input::{Activation, Input};
pub use nexus_api::scorecards::Distribution;
