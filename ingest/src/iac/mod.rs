//! Infrastructure as code: Terraform state and ARM/Bicep deployment outputs → AzureResource
//! objects (field manager `nexus-iac`), named and placed like Resource Graph's
//! (see [`crate::azure::resource_name`]) so both sources meet on one object.
//!
//! `ctx.repository`, when set, is a Repository *reference* (`repository:team-platform/infra`,
//! kind and namespace may be left out) written to `spec.repository` of every resource: the
//! repository whose infrastructure code declares them.

mod arm;
mod terraform;

pub use arm::{ARM_DEPLOYMENT, ARM_OUTPUTS};
pub use terraform::TERRAFORM_ADDRESS;

use nexus_api::{EntityKind, EntityRef, reference::MAX_REF_LEN};

use crate::{Context, IngestError, Outcome};

/// Parses a Terraform state file (format v4) or `terraform show -json` output.
pub fn terraform_state(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    terraform::parse(body, ctx)
}

/// Parses an ARM/Bicep deployment (its outputs and output resources): a deployment GET or list
/// response, or a recorded session of deployment calls.
pub fn arm_deployment(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    arm::parse(body, ctx)
}

/// `ctx.repository`, checked: a reference the CRD's `spec.repository` rule accepts.
fn repository(ctx: &Context) -> Result<Option<String>, IngestError> {
    let Some(raw) = ctx.repository.as_deref().map(str::trim) else {
        return Ok(None);
    };
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = |why: String| {
        IngestError::invalid(
            "context.repository",
            format!(
                "expected a Repository reference like repository:team-platform/infra, got {raw:?} ({why})"
            ),
        )
    };
    if raw.len() > MAX_REF_LEN as usize {
        return Err(bad(format!("longer than {MAX_REF_LEN} characters")));
    }
    // Any namespace will do for the check: the controller defaults it to the resource's.
    EntityRef::parse(
        raw,
        EntityKind::Repository,
        &[EntityKind::Repository],
        "default",
    )
    .map_err(|e| bad(e.to_string()))?;
    Ok(Some(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_must_be_a_reference() {
        let mut ctx = Context::default();
        assert_eq!(repository(&ctx).unwrap(), None);
        ctx.repository = Some("repository:team-platform/infra".into());
        assert_eq!(
            repository(&ctx).unwrap().as_deref(),
            Some("repository:team-platform/infra")
        );
        ctx.repository = Some("infra".into());
        assert_eq!(repository(&ctx).unwrap().as_deref(), Some("infra"));
        ctx.repository = Some("https://github.com/contoso/infra".into());
        let e = repository(&ctx).unwrap_err().to_string();
        assert!(
            e.starts_with("context.repository: expected a Repository reference"),
            "{e}"
        );
        ctx.repository = Some("component:x/y".into());
        assert!(repository(&ctx).is_err());
    }
}
