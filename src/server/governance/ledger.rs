//! The limits' use per agent and session, in fixed windows.

use crate::protocol::{LimitUse, Timestamp};
use crate::server::policy::Limit;
use crate::server::store::RecentAction;

pub struct Ledger {}

impl Ledger {
    pub fn new(limits: &[Limit]) -> Ledger {
        let _ = limits;
        Ledger {}
    }

    /// The earliest time whose calls the current windows count; `None` without limits.
    pub fn lookback(&self, _now: Timestamp) -> Option<Timestamp> {
        None
    }

    pub fn restore(&self, _calls: &[RecentAction], _now: Timestamp) {}

    pub fn report(&self, _agent: Option<&str>, _now: Timestamp) -> Vec<LimitUse> {
        Vec::new()
    }
}
