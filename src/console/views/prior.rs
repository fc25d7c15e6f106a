//! The session's earlier calls in an escalation's detail: each with how it finally ended (an
//! escalated one's resolution, not just "review"), and the one the approver opened (`p`) with
//! its full args.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::protocol::{inert, Effect, Escalation, EscalationState, PriorCall, Resolution};

use super::super::state::{Fetch, State};
use super::super::theme::Theme;
use super::format::{clip, outcome, size_text, when};
use super::json::{compact, json_lines};

/// The heading the section starts with (also how the console finds it to scroll to it).
pub const HEADING: &str = "Last tool calls in this session";
/// How many earlier calls are shown.
pub const SHOWN: usize = 3;

fn state_of(r: Resolution) -> EscalationState {
    match r {
        Resolution::Approved => EscalationState::Approved,
        Resolution::Denied => EscalationState::Denied,
        Resolution::Expired => EscalationState::Expired,
        Resolution::Cancelled => EscalationState::Cancelled,
    }
}

/// A policy outcome as a word and its colour (also the detail's rule line and the activity).
pub fn effect_style(t: &Theme, e: Effect) -> (&'static str, Style) {
    match e {
        Effect::Allow => ("allow", t.fg(t.approved)),
        Effect::Deny => ("deny", t.fg(t.denied)),
        Effect::Review => ("review", t.fg(t.pending)),
        Effect::Flag => ("flag", t.fg(t.warning)),
    }
}

/// How an earlier call ended, as this console knows it: the policy's word, or for an escalated
/// call its resolution (from the server, or from the stream if it was resolved later).
fn ended(s: &State, p: &PriorCall) -> (&'static str, Style) {
    let t = &s.theme;
    if p.verdict != Effect::Review {
        return effect_style(t, p.verdict);
    }
    let known = p.resolution.map(state_of).or_else(|| {
        let id = p.escalation.as_deref()?;
        if s.pending.iter().any(|e| e.id == id) {
            return Some(EscalationState::Pending);
        }
        s.history.iter().find(|e| e.id == id).map(|e| e.state)
    });
    match known {
        Some(st) => outcome(t, st),
        None => effect_style(t, Effect::Review),
    }
}

/// The index in `e.history` of the earlier call whose args are open, if any.
pub fn open_index(s: &State, e: &Escalation) -> Option<usize> {
    match &s.prior_open {
        Some((id, i)) if *id == e.id && *i < e.history.len() => Some(*i),
        _ => None,
    }
}

pub fn prior_lines(s: &State, e: &Escalation, out: &mut Vec<Line<'static>>) {
    let t = &s.theme;
    out.push(Line::default());
    out.push(Line::from(vec![
        Span::styled(HEADING, t.accent()),
        Span::styled(
            if e.history.is_empty() {
                ""
            } else {
                "  (p shows each one's full args)"
            },
            t.muted(),
        ),
    ]));
    if e.history.is_empty() {
        out.push(Line::from(Span::styled(
            "  (none: this is the session's first call)",
            t.muted(),
        )));
    }
    let open = open_index(s, e);
    let first = e.history.len().saturating_sub(SHOWN);
    for (i, p) in e.history.iter().enumerate().skip(first) {
        let (word, style) = ended(s, p);
        let field = format!("history.{i}.args");
        let elided = e.elided.iter().find(|x| x.field == field);
        let args = match elided {
            Some(x) => Span::styled(format!("⋯ {} left out", size_text(x.bytes)), t.muted()),
            None => Span::raw(clip(&compact(&p.args), 60)),
        };
        let marker = if open == Some(i) { "▾ " } else { "  " };
        out.push(Line::from(vec![
            Span::styled(marker, t.accent()),
            Span::styled(format!("{}  ", when(s, p.at)), t.muted()),
            Span::raw(format!("{:<18} ", clip(&inert(&p.tool), 18))),
            Span::styled(format!("{word:<12}"), style),
            args,
        ]));
        if open == Some(i) {
            full_args(s, e, p, elided.is_some(), out);
        }
    }
}

/// The open call's args in full, or why they are not here yet.
fn full_args(s: &State, e: &Escalation, p: &PriorCall, elided: bool, out: &mut Vec<Line<'static>>) {
    let t: &Theme = &s.theme;
    out.push(Line::from(Span::styled(
        format!("      action {}", inert(&p.action)),
        t.muted(),
    )));
    if elided {
        let why = match s.fetches.get(&e.id) {
            Some(Fetch::Failed(why)) => format!("could not fetch them: {why}"),
            _ => "fetching the whole escalation…".into(),
        };
        out.push(Line::from(Span::styled(
            format!("      ⋯ left out of the stream (too large); {why}"),
            t.fg(t.warning),
        )));
        return;
    }
    for l in json_lines(&p.args, t) {
        let mut spans = vec![Span::raw("      ")];
        spans.extend(l.spans);
        out.push(Line::from(spans));
    }
}

/// Where the section starts among `lines` (for scrolling the detail to it).
pub fn heading_at(lines: &[Line<'_>]) -> Option<usize> {
    lines
        .iter()
        .position(|l| l.spans.first().is_some_and(|s| s.content == HEADING))
}
