//! Incident tools: Azure Monitor (common alert schema), PagerDuty V3, Opsgenie.

use crate::{Context, IngestError, Outcome};

pub fn azure_monitor(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (body, ctx);
    Ok(Outcome::ignored("Azure Monitor parser not written yet"))
}

pub fn pagerduty(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (body, ctx);
    Ok(Outcome::ignored("PagerDuty parser not written yet"))
}

pub fn opsgenie(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (body, ctx);
    Ok(Outcome::ignored("Opsgenie parser not written yet"))
}
