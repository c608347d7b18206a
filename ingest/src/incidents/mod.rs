//! Incident tools: Azure Monitor (common alert schema), PagerDuty V3, Opsgenie.
//!
//! Each delivery becomes one upsert of a full `Incident` (the applier server-side-applies the
//! whole spec), named after the source's incident id so that every later event of the same
//! incident (acknowledge, resolve, reopen) updates the same object. Affected entities come from
//! the context's service mapping; Azure Monitor target resources are also resolved by the
//! applier (`Target::AzureResourceId` into `/spec/affects`).

mod azure_monitor;
mod draft;
mod opsgenie;
mod pagerduty;
mod signature;

pub use signature::pagerduty_signature_valid;

use crate::{Context, IngestError, Outcome};

/// An Azure Monitor action-group webhook body (common alert schema).
pub fn azure_monitor(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    azure_monitor::parse(body, ctx)
}

/// A PagerDuty V3 webhook body. Verify `X-PagerDuty-Signature` with
/// [`pagerduty_signature_valid`] first.
pub fn pagerduty(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    pagerduty::parse(body, ctx)
}

/// An Opsgenie outgoing-webhook body.
pub fn opsgenie(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    opsgenie::parse(body, ctx)
}
