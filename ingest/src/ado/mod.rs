//! Azure DevOps: service-hook deliveries and REST responses read by the poller.

use crate::{Context, IngestError, Outcome};

/// Parses one service-hook delivery; the event type is read from the payload's `eventType`.
pub fn service_hook(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (body, ctx);
    Ok(Outcome::ignored("Azure DevOps parser not written yet"))
}
