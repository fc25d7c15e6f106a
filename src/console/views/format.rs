//! How values read on screen: countdowns and their urgency, durations, sizes, clock times,
//! outcomes, why an escalation is not yours, clipped text, what a pane says while not live.

use chrono::Duration;
use ratatui::style::{Modifier, Style};

use crate::protocol::{EscalationState, NotYours, Timestamp};

use super::super::state::{Connection, State};
use super::super::theme::Theme;

/// How close a deadline is: never by colour alone, always with a word or symbol too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Calm,
    Soon,
    Urgent,
    Overdue,
}

pub fn countdown(deadline: Timestamp, now: Timestamp) -> (String, Urgency) {
    let left = deadline - now;
    let secs = left.num_seconds();
    if secs < 0 {
        return ("✗ overdue".into(), Urgency::Overdue);
    }
    let text = duration_text(left);
    if secs < 60 {
        (format!("‼ {text}"), Urgency::Urgent)
    } else if secs < 300 {
        (format!("▲ {text}"), Urgency::Soon)
    } else {
        (format!("· {text}"), Urgency::Calm)
    }
}

pub fn duration_text(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else if secs < 86400 {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}d {:02}h", secs / 86400, (secs % 86400) / 3600)
    }
}

/// The word that goes with the symbol where there is room.
pub fn urgency_word(u: Urgency) -> &'static str {
    match u {
        Urgency::Calm => "",
        Urgency::Soon => " (soon)",
        Urgency::Urgent => " (URGENT: under a minute)",
        Urgency::Overdue => " (past the deadline: the server will deny it)",
    }
}

pub fn urgency_style(t: &Theme, u: Urgency) -> Style {
    match u {
        Urgency::Calm => t.fg(t.ok),
        Urgency::Soon => t.fg(t.warning),
        Urgency::Urgent => t.fg(t.danger).add_modifier(Modifier::BOLD),
        Urgency::Overdue => t.fg(t.expired),
    }
}

/// A size for people: bytes, KiB or MiB.
pub fn size_text(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

/// What a pane says instead of its contents, or beside them, while the console is not live: it
/// never claims the queue is empty when it cannot know.
pub fn not_live(s: &State) -> Option<String> {
    if s.connection == Connection::Live {
        return None;
    }
    if !s.resynced {
        return Some(match (&s.connection, &s.incoming) {
            (Connection::Refused { .. }, _) => {
                "No data: the server refused this console (see the status bar).".into()
            }
            (_, Some(part)) => format!(
                "No data yet: receiving the server's state ({} of {} parts).",
                part.part, part.parts
            ),
            _ => "No data yet: connecting to the server.".into(),
        });
    }
    Some(match s.live_until {
        Some(t) => format!(
            "Not connected: the last known state, from {} UTC.",
            clock(t)
        ),
        None => "Not connected: the last known state.".into(),
    })
}

/// Added to a list's title while the console is not live.
pub fn title_note(s: &State) -> String {
    match (&s.connection, s.resynced, s.live_until) {
        (Connection::Live, _, _) => String::new(),
        (_, false, _) => "· ⚠ no data yet ".into(),
        (_, true, Some(t)) => format!("· ⚠ not live: as of {} ", clock(t)),
        (_, true, None) => "· ⚠ not live ".into(),
    }
}

pub fn clock(t: Timestamp) -> String {
    t.format("%H:%M:%S").to_string()
}

/// Outcome of an escalation as symbol + word, and its colour.
pub fn outcome(t: &Theme, st: EscalationState) -> (&'static str, Style) {
    match st {
        EscalationState::Pending => ("● pending", t.fg(t.pending)),
        EscalationState::Approved => ("✓ approved", t.fg(t.approved)),
        EscalationState::Denied => ("✗ denied", t.fg(t.denied)),
        EscalationState::Expired => ("◌ expired", t.fg(t.expired)),
        EscalationState::Cancelled => ("⊘ cancelled", t.fg(t.denied)),
    }
}

/// The short column form of "why not me".
pub fn short_why(n: &NotYours) -> String {
    match n {
        NotYours::NotApprover => "✗ not approver".into(),
        NotYours::OutsideGroup(g) => format!("✗ not in {g}"),
        NotYours::Requester => "✗ requester".into(),
        NotYours::Owner => "✗ owner".into(),
        NotYours::AlreadyVoted => "✓ voted".into(),
        NotYours::NotPending => "— closed".into(),
    }
}

/// Cut to `max` characters with a visible ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
