//! Authorisation is Kubernetes RBAC, asked through SubjectAccessReviews, so whatever the
//! cluster's authorisers say (RBAC, webhooks) holds for the portal too. A user sees an entity
//! when they may `get` it: in its namespace (or cluster-wide) for its kind, or by name where
//! RBAC uses `resourceNames`.

pub mod grants;
pub mod sar;
pub mod visibility;

pub use sar::{Attributes, Authorizer, AuthzError, Decision};
pub use visibility::Visibility;

/// The aggregated API group served here; people need `get`/`list` on its resources to call
/// either face, and catalog `get` to see entities through it.
pub const PORTAL_GROUP: &str = "portal.nexus.dev";
