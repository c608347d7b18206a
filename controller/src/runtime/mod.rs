//! Process plumbing: leader election, the health/metrics server, logging.

pub mod leader;
pub mod server;
pub mod telemetry;
