//! Nexus API types.
//!
//! Every catalog kind lives in its own module under [`catalog`]; the pieces they share (entity
//! references, relation names, the status block) live beside it. The CRD YAML in `crds/` is
//! generated from these types by the `crdgen` binary and CI fails when it drifts.

pub mod actions;
pub mod catalog;
pub mod conditions;
pub mod crd;
pub mod dora;
pub mod entity;
pub mod facts;
pub mod glob;
pub mod integrations;
pub mod reference;
pub mod relation;
pub mod scorecards;
pub mod status;

pub use entity::{CatalogEntity, DeclaredRef, OwnerInputs};
pub use reference::{EntityKind, EntityRef, RefError};
pub use relation::RelationType;
pub use status::{EntityStatus, OwnerSource, Relation, ResolvedOwner, UnresolvedRef};

/// API group of the catalog kinds.
pub const CATALOG_GROUP: &str = "catalog.nexus.dev";
/// Served and stored version of the catalog kinds.
pub const CATALOG_VERSION: &str = "v1alpha1";
