//! Azure: Resource Graph `resources` query responses → AzureResource objects, and the ARM id
//! helpers every Azure-facing parser shares (object names, id parsing).

mod graph;
mod id;
pub(crate) mod recording;
pub(crate) mod resource;

pub use graph::{Page, resource_graph_page, resource_graph_request};
pub use id::{ResourceId, parse_resource_id, resource_name};
pub use resource::UNKNOWN_REGION;

use crate::{Context, IngestError, Outcome};

/// Parses a Resource Graph query response (one page; see [`resource_graph_page`] for paging).
pub fn resource_graph(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    resource_graph_page(body, ctx).map(|p| p.outcome)
}
