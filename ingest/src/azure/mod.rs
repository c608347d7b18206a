//! Azure: Resource Graph `resources` query responses.

use crate::{Context, IngestError, Outcome};

/// Parses a Resource Graph query response (one page).
pub fn resource_graph(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (body, ctx);
    Ok(Outcome::ignored("Resource Graph parser not written yet"))
}
