//! Nexus ingestion parsers.
//!
//! Everything here is pure: a payload (webhook delivery, REST response, state file, catalog file)
//! goes in, [`Change`]s come out. Nothing talks to the network or to Kubernetes, so the same code
//! serves the controller's webhook receiver and pollers, the offline `nexus ingest --dry-run`
//! command, the tests over `../shared/corpus`, and the fuzz targets. Applying changes — finding
//! targets, merging bounded lists, server-side apply — is the controller's job
//! (`nexus-controller::ingestion::apply`).
//!
//! One module per source; inside it, one module per payload family. `runbooks` reads Markdown
//! files from repositories (the GitHub poller fetches them; `nexus ingest runbook` reads one).

pub mod change;
pub mod context;
pub mod error;
pub mod naming;
pub mod time;

pub mod ado;
pub mod azure;
pub mod backstage;
pub mod github;
pub mod iac;
pub mod incidents;
pub mod runbooks;

pub use change::{Change, Facts, Gone, ListOp, Outcome, ResolveRefs, Source, Target, Upsert};
pub use context::{Context, NamespaceMap, NamespaceRule, ServiceMapping, TagMapping};
pub use error::IngestError;
