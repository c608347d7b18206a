//! The catalog controller: resolves references and ownership for every catalog kind and
//! writes `status` (relations, owner, conditions). Never writes spec.

pub mod cached;
pub mod context;
pub mod graph;
pub mod ownership;
pub mod reconciler;
pub mod status;

pub use context::Context;
pub use reconciler::run;
