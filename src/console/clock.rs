//! When the console's loop must wake for the clock. A countdown on screen changes every second,
//! so then once a second; with nothing on screen counting, only when something the clock drives
//! falls due (an escalation of mine entering its last minute, a snooze ending, a budget read
//! due), and at least every `IDLE_MAX` for the dates in times shown. An idle console with nothing
//! counting does not wake at all in between.

use chrono::Duration;

use crate::protocol::Timestamp;

use super::state::{State, View};

/// The longest the loop sleeps: times shown carry their date once the day has turned.
pub const IDLE_MAX: Duration = Duration::minutes(15);

/// The next moment the clock changes what the console shows or does, after `s.now`.
pub fn next_wake(s: &State) -> Timestamp {
    let second = s.now + Duration::seconds(1);
    if counting_shown(s) {
        return second;
    }
    let mut due = s.now + IDLE_MAX;
    let mut at = |t: Timestamp| {
        if t > s.now && t < due {
            due = t;
        }
    };
    if let Some(me) = &s.me {
        for e in &s.pending {
            // The warning of the last minute (`update::on_tick`), for any not yet warned of.
            if !s.warned.contains(&e.id) {
                at(e.deadline - Duration::seconds(60));
            }
            if let Some(until) = e.handling.snoozed.get(&me.id) {
                at(*until);
            }
        }
    }
    if let Some(asked) = s.budgets.asked_at {
        if s.budgets.stale {
            at(asked + super::budgets::REFRESH_EVERY);
        }
        for l in s.budgets.limits() {
            at(l.resets_at);
        }
        for b in s.budgets.breakers() {
            at(b.until);
        }
    }
    // Never sooner than a second: whatever fell due is handled by the tick at it.
    due.max(second)
}

/// Whether anything on screen counts seconds: deadlines, ages, time left.
fn counting_shown(s: &State) -> bool {
    if s.dialog.is_some() || s.detail_open {
        return true;
    }
    match s.view {
        View::Queue => s.queue_len() > 0,
        // The selected escalation's detail is beside the list.
        View::History => !s.history_rows().is_empty(),
        View::KillSwitches | View::Grants | View::Budgets => true,
        View::Flagged | View::Audit | View::Metrics => false,
    }
}
