//! What the console holds of cost and rate governance, as data: the last `GET /v1/usage`
//! report, when it was asked for, and the breaker reset dialog's draft. (Asking, refreshing and
//! the keys are `budgets`' and `breaker_reset`'s.)

use crate::protocol::{BreakerStatus, LimitState, LimitUse, Timestamp, UsageReport};

use super::text_field::TextField;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetsState {
    /// The last report the server answered with; `None` until the first answer.
    pub report: Option<UsageReport>,
    /// When `report` arrived.
    pub fetched_at: Option<Timestamp>,
    /// When the last request was sent (throttles refreshes).
    pub asked_at: Option<Timestamp>,
    /// The request whose answer is awaited; answers to any other are stale.
    pub loading: Option<u64>,
    /// Why the last read failed (shown in the view; the last good report stays).
    pub error: Option<String>,
    /// Calls happened since the last read: the report is out of date.
    pub stale: bool,
    /// The Budgets view was on screen after the last event: entering it reads again.
    pub viewing: bool,
}

impl BudgetsState {
    pub fn limits(&self) -> &[LimitUse] {
        self.report.as_ref().map_or(&[], |r| r.limits.as_slice())
    }

    pub fn breakers(&self) -> &[BreakerStatus] {
        self.report.as_ref().map_or(&[], |r| r.breakers.as_slice())
    }

    /// How many limits are past their warning mark or exceeded, and breakers not closed: what
    /// the tab shows with a `!`.
    pub fn alerts(&self) -> usize {
        let limits = self
            .limits()
            .iter()
            .filter(|l| l.state != LimitState::Ok)
            .count();
        limits.saturating_add(self.breakers().len())
    }
}

/// One row of the Budgets view: a limit's use or an open breaker, by index into the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetRow {
    Limit(usize),
    Breaker(usize),
}

/// The breaker reset dialog: a reason is required.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetDraft {
    pub breaker: BreakerStatus,
    pub reason: TextField,
    pub error: Option<String>,
}
