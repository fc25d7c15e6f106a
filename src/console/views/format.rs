//! How values read on screen: countdowns and their urgency, durations, sizes, clock times,
//! outcomes, why an escalation is not yours, clipped text, what a pane says while not live.
//! Every time shown goes through [`when`]; every cut through [`clip`].

use chrono::Duration;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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
            "Not connected: the last known state, from {}.",
            when_zoned(s, t)
        ),
        None => "Not connected: the last known state.".into(),
    })
}

/// Added to a list's title while the console is not live.
pub fn title_note(s: &State) -> String {
    match (&s.connection, s.resynced, s.live_until) {
        (Connection::Live, _, _) => String::new(),
        (_, false, _) => "· ⚠ no data yet ".into(),
        (_, true, Some(t)) => format!("· ⚠ not live: as of {} ", when(s, t)),
        (_, true, None) => "· ⚠ not live ".into(),
    }
}

/// A time as the console shows every time: in the viewer's zone, `HH:MM:SS`, with the date
/// before it when it is not today (see `Zone::when`).
pub fn when(s: &State, t: Timestamp) -> String {
    s.zone.when(t, s.now)
}

/// [`when`] with the zone's abbreviation, for a time that stands on its own in a sentence.
pub fn when_zoned(s: &State, t: Timestamp) -> String {
    s.zone.when_zoned(t, s.now)
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

/// The one truncation of the console: `s` in at most `max` terminal columns (wide characters
/// count two), cut with a visible `…` when it does not fit. Nothing is cut silently.
pub fn clip(s: &str, max: usize) -> String {
    if s.width() <= max {
        return s.to_string();
    }
    cut(s, max)
}

/// `s` cut to `max - 1` columns and `…`, whether or not it would fit.
fn cut(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// A line cut to `max` columns, styles kept, with `…` where it was cut.
pub fn clip_line(line: Line<'static>, max: usize) -> Line<'static> {
    if line.width() <= max {
        return line;
    }
    let mut spans = Vec::new();
    let mut left = max;
    for span in line.spans {
        let w = span.width();
        if w < left {
            left -= w;
            spans.push(span);
            continue;
        }
        // Something is cut here or after: the ellipsis goes here.
        spans.push(Span::styled(cut(&span.content, left), span.style));
        break;
    }
    let mut out = Line::from(spans).style(line.style);
    out.alignment = line.alignment;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_columns_and_always_shows_the_cut() {
        assert_eq!(clip("stripe.refund", 13), "stripe.refund");
        assert_eq!(clip("stripe.refund", 12), "stripe.refu…");
        assert_eq!(clip("stripe.refund", 1), "…");
        assert_eq!(clip("stripe.refund", 0), "");
        // Wide characters take two columns: never half of one, never past the width.
        assert_eq!(clip("払い戻し処理", 7), "払い戻…");
        assert_eq!(clip("払い戻し処理", 6), "払い…");
        assert_eq!(clip("払い戻し処理", 6).width(), 5);
        assert_eq!(clip("naïve", 5), "naïve");
    }

    #[test]
    fn clip_line_keeps_styles_and_marks_the_cut() {
        let line = Line::from(vec![
            Span::styled("● live ", Style::default().add_modifier(Modifier::BOLD)),
            Span::raw("│ Alice Ng (alice)"),
        ]);
        let cut = clip_line(line.clone(), 12);
        assert_eq!(cut.to_string(), "● live │ Al…");
        assert_eq!(cut.width(), 12);
        assert_eq!(cut.spans[0].style, line.spans[0].style);
        assert_eq!(clip_line(line.clone(), 40), line);
        // The first span fits exactly, the second does not fit at all: the cut shows anyway.
        assert_eq!(clip_line(line, 7).to_string(), "● live…");
    }
}
