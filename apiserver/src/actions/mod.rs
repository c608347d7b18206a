//! Self-service actions on the portal face: what people see of Actions, runs and approvals
//! ([`view`]), where RBAC lets them see or write ([`access`]), writes made as them by
//! impersonation ([`impersonate`]), and the audit log read back from the controller
//! ([`audit`]). The objects themselves are cached from watches in [`crate::cache::actions`].

pub mod access;
pub mod audit;
pub mod impersonate;
pub mod view;

use std::sync::Arc;

/// What the actions endpoints talk to besides the cache. Both optional: without a client
/// (tests, benchmarks) writes answer 503; without an audit source the audit page says audit is
/// not configured.
#[derive(Clone, Default)]
pub struct Backends {
    /// The shared client; writes go through it with impersonation headers.
    pub kube: Option<kube::Client>,
    pub audit: Option<Arc<audit::AuditSource>>,
}
