//! Circuit breakers per agent: tripped by a denied share or an escalation count in a window.

use crate::protocol::{BreakerStatus, Timestamp};
use crate::server::policy::Breaker;
use crate::server::store::RecentAction;

pub struct Breakers {}

impl Breakers {
    pub fn new(breakers: &[Breaker]) -> Breakers {
        let _ = breakers;
        Breakers {}
    }

    /// The earliest time whose calls the breakers' windows count; `None` without breakers.
    pub fn lookback(&self, _now: Timestamp) -> Option<Timestamp> {
        None
    }

    pub fn restore(&self, _calls: &[RecentAction], _now: Timestamp) {}

    pub fn report(&self, _agent: Option<&str>, _now: Timestamp) -> Vec<BreakerStatus> {
        Vec::new()
    }
}
