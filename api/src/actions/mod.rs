//! The `actions.nexus.dev/v1alpha1` kinds: self-service operations behind approvals.
//!
//! - [`Action`] — the manifest (inputs as JSON Schema, executor, approval policy, who may run it,
//!   timeout, rollback). Lives in Git, arrives by GitOps.
//! - [`ActionRun`] — one request to run an Action against a target, with its state machine as
//!   conditions (`Validated` → `Approved`/`Rejected`/`Expired` → `Running` →
//!   `Succeeded`/`Failed` → `RolledBack`).
//! - [`ActionApproval`] — one approver's decision on one stage of one run.
//!
//! Who may run, approve and write status is enforced by kube-apiserver itself
//! (ValidatingAdmissionPolicies in `policies/`, RBAC grants the controller keeps per Action and
//! per run); the controller checks the same rules again before executing.

pub mod action;
pub mod approval;
pub mod executor;
pub mod run;

pub use action::{
    Action, ActionGate, ActionSpec, ActionStatus, ApprovalPolicy, ApprovalStage, Rollback,
    Subjects, TimeoutAction,
};
pub use approval::{ActionApproval, ActionApprovalSpec, ActionApprovalStatus, Decision};
pub use executor::Executor;
pub use run::{
    ActionRun, ActionRunSpec, ActionRunStatus, Execution, RecordedApproval, StageStatus,
};

/// API group of the action kinds.
pub const GROUP: &str = "actions.nexus.dev";
pub const VERSION: &str = "v1alpha1";

/// RBAC subresource and verb a person needs on an Action to run it (granted by the controller
/// from `spec.runners`; checked by the admission policy with the request's authorizer).
pub const RUN_SUBRESOURCE: &str = "run";
pub const RUN_VERB: &str = "run";
/// RBAC subresource of an ActionRun whose verb `approve-<stage>` lets its holder approve that
/// stage (granted to the stage's approvers while the stage is open).
pub const APPROVAL_SUBRESOURCE: &str = "approval";
/// RBAC subresource of an ActionRun whose verb `is` marks its requester.
pub const REQUESTER_SUBRESOURCE: &str = "requester";
