//! The batch dialog: every escalation in the batch with its agent, tool, rule, digest and whole
//! arguments (scrollable), one reason, then each one's result on its own row.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::protocol::canonical::short_digest;
use crate::protocol::{inert, Vote};

use super::super::batch_form::{BatchDraft, BatchItem, ItemStatus};
use super::super::state::State;
use super::super::theme::Theme;
use super::format::{countdown, size_text, urgency_style};
use super::json::json_lines;
use super::layout::{centered, wrapped_rows};

pub fn render(f: &mut Frame, area: Rect, s: &State, d: &BatchDraft) {
    let t = &s.theme;
    let r = centered(
        area,
        area.width.saturating_sub(4).min(120),
        area.height.saturating_sub(2),
    );
    f.render_widget(Clear, r);
    let (verb, style) = match d.vote {
        Vote::Approve => ("APPROVE", t.fg(t.approved).add_modifier(Modifier::BOLD)),
        Vote::Deny => ("DENY", t.fg(t.denied).add_modifier(Modifier::BOLD)),
    };
    let n = d.items.len();
    let title = match &d.scope {
        Some(scope) => format!(" Deny all {n} pending from {scope}? "),
        None => format!(" {} {n} marked escalations ", titled(verb)),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.fg(t.accent))
        .title(Span::styled(title, t.accent()));
    let inner = block.inner(r);
    f.render_widget(block.style(t.base()), r);
    let foot = footer(t, s, d, verb, style);
    let foot_h = (wrapped_rows(&foot, inner.width as usize) as u16).min(inner.height / 2);
    let [list, bottom] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(foot_h)]).areas(inner);
    let lines: Vec<Line> = d
        .items
        .iter()
        .enumerate()
        .flat_map(|(i, it)| item(t, s, i, it))
        .collect();
    let total = wrapped_rows(&lines, list.width as usize);
    let scroll = (d.scroll as usize).min(total.saturating_sub(list.height as usize));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0)),
        list,
    );
    f.render_widget(Paragraph::new(foot).wrap(Wrap { trim: false }), bottom);
}

fn titled(verb: &str) -> String {
    let lower = verb.to_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn item(t: &Theme, s: &State, i: usize, it: &BatchItem) -> Vec<Line<'static>> {
    let e = &it.escalation;
    let (cd, u) = countdown(e.deadline, s.now);
    let mut out = vec![Line::from(vec![
        Span::styled(format!("{:>2}. ", i + 1), t.muted()),
        Span::styled(inert(&e.id).into_owned(), t.accent()),
        Span::raw(format!(
            "  {} → {}  rule {}  session {}  ",
            inert(&e.action.agent),
            inert(&e.action.tool),
            inert(&e.rule.id),
            inert(&e.action.session)
        )),
        Span::styled(cd, urgency_style(t, u)),
    ])];
    out.push(Line::from(vec![
        Span::styled("    digest ", t.muted()),
        Span::raw(short_digest(&e.digest).to_string()),
        Span::styled(
            format!(
                "  approvals {}/{}",
                e.approvals_received(),
                e.approvals_required
            ),
            t.muted(),
        ),
    ]));
    match e.args_elided() {
        Some(x) => out.push(Line::from(Span::styled(
            format!(
                "    args ({}) too large for the stream: fetching; nothing is signed before they are shown",
                size_text(x.bytes)
            ),
            t.fg(t.warning),
        ))),
        None => {
            out.push(Line::from(Span::styled("    args", t.muted())));
            for l in json_lines(&e.action.args, t) {
                let mut spans = vec![Span::raw("      ")];
                spans.extend(l.spans);
                out.push(Line::from(spans));
            }
        }
    }
    let (text, style) = match &it.status {
        ItemStatus::Ready => ("→ will be signed and sent".to_string(), t.muted()),
        ItemStatus::NotYours(why) => (
            format!("✗ not yours, skipped (never sent): {why}"),
            t.fg(t.warning),
        ),
        ItemStatus::Gone(why) => (format!("– {why}"), t.fg(t.warning)),
        ItemStatus::Sending(_) => ("… sending".to_string(), t.fg(t.accent)),
        ItemStatus::Accepted(what) => {
            (format!("✓ {what}"), t.fg(t.ok).add_modifier(Modifier::BOLD))
        }
        ItemStatus::Refused(why) => (
            format!("✗ refused by the server: {why}"),
            t.fg(t.danger).add_modifier(Modifier::BOLD),
        ),
    };
    out.push(Line::from(vec![
        Span::raw("    "),
        Span::styled(text, style),
    ]));
    out.push(Line::default());
    out
}

fn footer(
    t: &Theme,
    s: &State,
    d: &BatchDraft,
    verb: &'static str,
    style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    let ready = d.count(|st| *st == ItemStatus::Ready);
    let not_yours = d.count(|st| matches!(st, ItemStatus::NotYours(_)));
    let mut lines = Vec::new();
    if d.sent {
        let ok = d.count(|st| matches!(st, ItemStatus::Accepted(_)));
        let refused = d.count(|st| matches!(st, ItemStatus::Refused(_)));
        let sending = d.count(|st| matches!(st, ItemStatus::Sending(_)));
        lines.push(Line::from(Span::styled(
            format!(
                "{ok} accepted · {refused} refused · {sending} sending · {} not sent",
                d.items.len() - ok - refused - sending
            ),
            t.accent(),
        )));
        lines.push(Line::from(Span::styled(
            "↑/↓ scroll · Enter or Esc closes",
            t.muted(),
        )));
        return lines;
    }
    lines.push(Line::from(vec![
        Span::styled(verb, style),
        Span::raw(format!(
            " {ready} of {}: each signed separately by {} over the digest shown",
            d.items.len(),
            inert(&s.key_id)
        )),
    ]));
    if not_yours > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "{not_yours} not yours to {}: shown, skipped",
                verb.to_lowercase()
            ),
            t.fg(t.warning),
        )));
    }
    if d.scope.is_some() {
        lines.push(Line::from(Span::styled(
            "Only those listed; any arriving later are not included.",
            t.muted(),
        )));
    }
    lines.push(Line::from(Span::styled(
        if d.vote == Vote::Deny {
            "Reason for all (required)"
        } else {
            "Reason for all (optional)"
        },
        t.muted(),
    )));
    lines.push(Line::from(vec![
        Span::styled("> ", t.accent()),
        Span::styled(format!("{}▏", inert(&d.reason)), t.selected()),
    ]));
    if let Some(err) = &d.error {
        lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
    }
    lines.push(Line::from(Span::styled(
        "Enter send all · Esc cancel · ↑/↓ PgUp/PgDn scroll",
        t.accent(),
    )));
    lines
}
