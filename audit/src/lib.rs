//! Nexus audit trail and notifications (DESIGN.md §3: "Every transition goes to an audit sink").
//!
//! - [`log`]: append-only, hash-chained JSON Lines log with rotation, retention and verification;
//!   sinks (file, Azure Monitor Logs Ingestion API).
//! - [`notify`]: approval requests and outcomes to Microsoft Teams, Slack and e-mail.

pub mod log;
pub mod notify;
mod retry;

pub use retry::RetryPolicy;
