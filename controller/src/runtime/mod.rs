//! Process plumbing: leader election, the health/metrics server.

pub mod leader;
pub mod server;
pub mod token;
