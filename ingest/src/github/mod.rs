//! GitHub: webhook deliveries (`webhook`), REST responses read by the poller (`rest`).

use crate::{Context, IngestError, Outcome};

/// Parses one webhook delivery; `event` is the `X-GitHub-Event` header.
pub fn webhook(event: &str, body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let _ = (event, body, ctx);
    Ok(Outcome::ignored("GitHub parser not written yet"))
}
