//! DORA four keys — deployment frequency, lead time for changes, change failure rate and failed
//! deployment recovery time — per service, team and person, over day, week, month and quarter
//! windows, each with its performance tier.
//!
//! Pure: no I/O, no clock, no Kubernetes client. Two ways to the same numbers:
//! - [`batch`] computes a window from scratch from a list of events;
//! - [`Buckets`] applies events one at a time to bounded daily buckets that are stored in a
//!   service's status ([`nexus_api::dora::DoraStatus`]) and restored from it.
//!
//! They agree on any sequence of events while no bound has dropped anything (the property
//! tests check it). `docs/dora.md` gives the definitions, data sources, attribution rule,
//! tiers and storage bounds.

mod batch;
mod buckets;
pub mod convert;
mod error;
mod metrics;
mod model;
mod samples;
pub mod tier;

pub use batch::{Settled, batch, settle};
pub use buckets::{Applied, Buckets, metrics_from_statuses};
pub use error::{ConvertError, RestoreError};
pub use metrics::{Metrics, Scope, Window};
pub use model::{
    Config, Deployment, Event, Incident, Limits, ProductionMatcher, Skip, is_success, utc_date,
};
pub use tier::{Tier, Tiers};
