//! When the agent side stops waiting (`Escalation::agent_deadline`, from the adapter's
//! `wait_budget_secs`): shown beside the rule's deadline, because an approval after it runs
//! nothing. A hook's budget is often far shorter than the rule's timeout.

use ratatui::text::{Line, Span};

use crate::protocol::{Escalation, Timestamp};

use super::super::state::State;
use super::super::theme::Theme;
use super::format::{countdown, duration_text, urgency_style, when_zoned};

/// True once the agent's own deadline has passed: it stopped waiting for this escalation.
pub fn gave_up(e: &Escalation, now: Timestamp) -> bool {
    e.agent_deadline.is_some_and(|at| at <= now)
}

/// The queue's "Left" cell for an escalation whose agent stopped waiting.
pub fn gave_up_cell(t: &Theme, e: &Escalation, now: Timestamp) -> Option<Span<'static>> {
    gave_up(e, now).then(|| Span::styled("⊘ gave up", t.fg(t.expired)))
}

/// The detail's line under the deadline: when the agent gives up, against the deadline. None
/// when the adapter did not say.
pub fn agent_line(s: &State, label: Span<'static>, e: &Escalation) -> Option<Line<'static>> {
    let (t, now) = (&s.theme, s.now);
    let at = e.agent_deadline?;
    let mut spans = vec![label];
    if at <= now {
        spans.push(Span::styled(
            format!(
                "⊘ stopped waiting {} ago: an approval now runs nothing",
                duration_text(now - at)
            ),
            t.fg(t.expired),
        ));
    } else if at < e.deadline {
        let (_, urgency) = countdown(at, now);
        spans.push(Span::styled(
            format!(
                "gives up in {}, before the deadline in {}",
                duration_text(at - now),
                duration_text(e.deadline - now)
            ),
            urgency_style(t, urgency),
        ));
    } else {
        spans.push(Span::raw(format!(
            "past the deadline (gives up in {})",
            duration_text(at - now)
        )));
    }
    spans.push(Span::styled(
        format!("  ({})", when_zoned(s, at)),
        t.muted(),
    ));
    Some(Line::from(spans))
}
