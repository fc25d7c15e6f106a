//! Each agent's own recent rate and the tools it has called: what an unusual call is measured
//! against.

use crate::protocol::Timestamp;
use crate::server::policy::Anomaly;
use crate::server::store::RecentAction;

pub struct Baseline {}

impl Baseline {
    pub fn new(anomaly: &Anomaly) -> Baseline {
        let _ = anomaly;
        Baseline {}
    }

    /// The earliest time whose calls the baseline needs; `None` when nothing is flagged.
    pub fn lookback(&self, _now: Timestamp) -> Option<Timestamp> {
        None
    }

    pub fn restore(&self, _calls: &[RecentAction], _now: Timestamp) {}

    /// Whether the baseline needs every (agent, tool) pair ever called.
    pub fn wants_tools_called(&self) -> bool {
        false
    }

    pub fn restore_tools(&self, _pairs: Vec<(String, String)>) {}
}
