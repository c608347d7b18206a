//! Infrastructure as code: Terraform state and ARM/Bicep deployment outputs.

use crate::{Context, IngestError, Outcome};

/// Parses a Terraform state file (format v4).
pub fn terraform_state(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (body, ctx);
    Ok(Outcome::ignored("Terraform parser not written yet"))
}

/// Parses an ARM/Bicep deployment (its outputs and output resources).
pub fn arm_deployment(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (body, ctx);
    Ok(Outcome::ignored("ARM parser not written yet"))
}
