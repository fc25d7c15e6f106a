//! The Budgets view's reads, part of `update`: `GET /v1/usage` asked for on entering the view,
//! on the refresh key, once the first snapshot is in (so the tab can warn from anywhere), and
//! again when calls happened or a window or cooldown ended (at most once per
//! `REFRESH_EVERY`); the rows it lists and the one selected.

use chrono::Duration;

use crate::protocol::{inert, BreakerState, UsageReport};

use super::budget_state::BudgetRow;
use super::command::Command;
use super::state::{Request, State, View};

pub use super::budget_state::BudgetsState;

/// Calls arrive in bursts: the report is read again at most this often for them.
pub const REFRESH_EVERY: Duration = Duration::seconds(2);

/// After every event: reads the report when it is wanted and none is on its way.
pub(super) fn keep_fresh(s: &mut State, fx: &mut Vec<Command>) {
    let viewing = s.view == View::Budgets;
    let entered = viewing && !s.budgets.viewing;
    s.budgets.viewing = viewing;
    if s.budgets.loading.is_some() || !s.resynced {
        return;
    }
    let due = s
        .budgets
        .asked_at
        .is_none_or(|t| s.now - t >= REFRESH_EVERY);
    let first = s.budgets.asked_at.is_none();
    if entered || first || (due && (s.budgets.stale || window_ended(s))) {
        ask(s, fx);
    }
}

/// A limit's window or an open breaker's cooldown ended since the last read was asked for:
/// the report is out of date. (Measured from the ask, not the answer, so a read that failed is
/// not retried in a loop for the same end.)
fn window_ended(s: &State) -> bool {
    let Some(at) = s.budgets.asked_at else {
        return false;
    };
    let ended = |t| t > at && t <= s.now;
    s.budgets.limits().iter().any(|l| ended(l.resets_at))
        || s.budgets
            .breakers()
            .iter()
            .any(|b| b.state == BreakerState::Open && ended(b.until))
}

/// The refresh key: read again now (unless a read is on its way).
pub(super) fn refresh(s: &mut State, fx: &mut Vec<Command>) {
    if s.budgets.loading.is_none() {
        ask(s, fx);
    }
}

fn ask(s: &mut State, fx: &mut Vec<Command>) {
    let request = s.next_request;
    s.next_request += 1;
    s.in_flight.insert(request, Request::Usage);
    s.budgets.loading = Some(request);
    s.budgets.asked_at = Some(s.now);
    s.budgets.stale = false;
    fx.push(Command::Usage { request });
}

/// Calls were made (or escalations raised or ended): the use shown may be out of date.
pub(super) fn calls_seen(s: &mut State) {
    s.budgets.stale = true;
}

/// The report arrived (or the read was refused): a refusal keeps the last good report.
pub(super) fn on_report(s: &mut State, request: u64, result: Result<UsageReport, String>) {
    if s.budgets.loading != Some(request) {
        return;
    }
    s.budgets.loading = None;
    match result {
        Ok(report) => {
            s.budgets.report = Some(report);
            s.budgets.fetched_at = Some(s.now);
            s.budgets.error = None;
        }
        Err(e) => s.budgets.error = Some(inert(&e).into_owned()),
    }
}

/// What identifies a row across reads, for the cursor to follow (unit separators cannot be
/// in ids the server accepted, so no two rows share a key).
fn row_key(s: &State, row: BudgetRow) -> String {
    match row {
        BudgetRow::Limit(i) => {
            let l = &s.budgets.limits()[i];
            format!(
                "limit\u{1f}{}\u{1f}{}\u{1f}{}",
                l.limit,
                l.agent,
                l.session.as_deref().unwrap_or("")
            )
        }
        BudgetRow::Breaker(i) => {
            let b = &s.budgets.breakers()[i];
            format!("breaker\u{1f}{}\u{1f}{}", b.breaker, b.agent)
        }
    }
}

impl State {
    /// The limits, then the open breakers, that the filter lets through.
    pub fn budget_rows(&self) -> Vec<BudgetRow> {
        let limits = self.budgets.limits().iter().enumerate().filter(|(_, l)| {
            self.matches(&[&l.limit, &l.agent, l.session.as_deref().unwrap_or("")])
        });
        let breakers = self
            .budgets
            .breakers()
            .iter()
            .enumerate()
            .filter(|(_, b)| self.matches(&[&b.breaker, &b.agent, &b.reason]));
        limits
            .map(|(i, _)| BudgetRow::Limit(i))
            .chain(breakers.map(|(i, _)| BudgetRow::Breaker(i)))
            .collect()
    }

    /// Every row's key, in row order.
    pub fn budget_keys(&self) -> Vec<String> {
        self.budget_rows()
            .into_iter()
            .map(|r| row_key(self, r))
            .collect()
    }

    pub fn selected_budget_row(&self) -> Option<BudgetRow> {
        let key = self.selected_key[View::Budgets.index()].as_deref()?;
        self.budget_rows()
            .into_iter()
            .find(|&r| row_key(self, r) == key)
    }
}
