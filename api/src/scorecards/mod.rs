//! The `scorecards.nexus.dev/v1alpha1` kinds: standards that catalog entities are measured against.
//!
//! - [`Scorecard`] — which entities it applies to, CEL rules with weights and levels, and the
//!   promotion gate. Lives in Git, arrives by GitOps; the controller compiles it (compile errors
//!   land on its status, never per entity) and writes the distribution of results.
//! - [`ScorecardResult`] — one entity's result against one scorecard, kept in the entity's status.
//! - [`ScorecardSnapshot`] — one compact record per scorecard per day (per shard) for trends.
//!
//! The rule engine (compile, evaluate, score, level, gate) is the `nexus-scorecards` crate; these
//! are only the shapes that Kubernetes stores.

pub mod result;
pub mod scorecard;
pub mod snapshot;

pub use result::{RuleFinding, ScorecardResult};
pub use scorecard::{
    AppliesTo, Distribution, Gate, LevelCount, RuleErrorStatus, RuleSpec, Scorecard, ScorecardSpec,
    ScorecardStatus,
};
pub use snapshot::{ScorecardSnapshot, ScorecardSnapshotSpec};

/// API group of the scorecard kinds.
pub const GROUP: &str = "scorecards.nexus.dev";
pub const VERSION: &str = "v1alpha1";

/// Most rules a scorecard may have (and so most findings a result may list).
pub const MAX_RULES: usize = 100;
/// Most levels a ladder may have.
pub const MAX_LEVELS: usize = 10;
/// Longest CEL expression (rule or filter).
pub const MAX_EXPRESSION_LEN: usize = 4096;
/// Most entities one [`ScorecardSnapshot`] holds; a day with more is split into shards. At the
/// longest entity reference (330 bytes) plus `[100,9]` this stays under 1.1 MB, below etcd's
/// 1.5 MiB object limit; typical references (~50 bytes) make a full shard ~200 KB.
pub const MAX_SNAPSHOT_ENTITIES: usize = 3000;

/// The default ladder, lowest first.
pub fn default_levels() -> Vec<String> {
    ["Bronze", "Silver", "Gold"].map(String::from).to_vec()
}
