//! What `GET /metrics` exposes, with the official Prometheus client library
//! (`prometheus-client`): the families the server counts into (`families`), registered once at
//! start beside the ones read from other parts at scrape time (`registry`, `live`), and the
//! exposition a scrape gets, OpenMetrics or Prometheus text by its `Accept` (`render`).
//!
//! The allow path only bumps atomics and observes a histogram: no lock is held across an await,
//! no label set is hashed (its counters are looked up once, at start).

mod budget;
mod families;
mod live;
mod registry;
mod render;

pub(crate) use budget::{BudgetSummary, BudgetUse};
pub(crate) use families::Metrics;
pub(crate) use live::{Live, OpenBreakers, PendingSummary};
pub(crate) use registry::registry;
pub(crate) use render::{render, Format};
