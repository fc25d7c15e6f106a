//! `p` on an escalation: open the full args of the session's earlier calls, one at a time
//! (oldest shown first, then the next, then none), and scroll the detail to them.

use super::state::{Level, State};
use super::views::escalation_lines;
use super::views::prior::{heading_at, SHOWN};

pub(super) fn next_prior_args(s: &mut State) {
    let Some(e) = s.selected_escalation() else {
        return;
    };
    let n = e.history.len();
    if n == 0 {
        s.say(
            Level::Info,
            "this is the session's first call: no earlier calls to show".into(),
        );
        return;
    }
    let first = n.saturating_sub(SHOWN);
    let next = match &s.prior_open {
        Some((id, i)) if *id == e.id && i + 1 < n => Some(i + 1),
        Some((id, _)) if *id == e.id => None,
        _ => Some(first),
    };
    let id = e.id.clone();
    s.prior_open = next.map(|i| (id, i));
    s.detail_open = true;
    let lines = s.selected_escalation().map(|e| escalation_lines(s, e));
    if let Some(at) = lines.as_deref().and_then(heading_at) {
        // Blank line above the heading stays in view.
        s.detail_scroll = at.saturating_sub(1).min(u16::MAX as usize) as u16;
    }
}
