//! Counters for `/metrics`, shared by the parts that count.

use std::sync::atomic::AtomicU64;

#[derive(Default)]
pub(crate) struct Metrics {
    pub actions_allow: AtomicU64,
    pub actions_deny: AtomicU64,
    pub actions_review: AtomicU64,
    pub actions_flag: AtomicU64,
    pub decisions: AtomicU64,
    pub refused: AtomicU64,
    /// HTTP requests being handled right now.
    pub in_flight: AtomicU64,
}
