//! The detail of one escalation or flagged action: everything needed to decide in seconds.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::protocol::canonical::short_digest;
use crate::protocol::{
    inert, inert_multiline, ActionRecord, Elided, Escalation, FlaggedAction, RuleRef, Vote,
    ELIDED_ARGS,
};

use super::super::keymap::Action;
use super::super::state::{Fetch, State};
use super::super::theme::Theme;
use super::super::words::verdict_word;
use super::agent_wait::agent_line;
use super::format::{
    clip, countdown, duration_text, outcome, size_text, urgency_style, urgency_word, when_zoned,
};
use super::hint::key;
use super::json::json_lines;
pub use super::prior::effect_style;
use super::prior::prior_lines;
use super::wrap::wrap_lines;

fn label(t: &Theme, l: &str) -> Span<'static> {
    Span::styled(format!("{l:<14}"), t.muted())
}

fn heading(t: &Theme, h: &str) -> Line<'static> {
    Line::from(Span::styled(h.to_string(), t.accent()))
}

fn field(t: &Theme, l: &str, v: String) -> Line<'static> {
    Line::from(vec![label(t, l), Span::raw(v)])
}

fn action_lines(t: &Theme, a: &ActionRecord, owner: Option<&str>, out: &mut Vec<Line<'static>>) {
    out.push(field(
        t,
        "Agent",
        match owner {
            Some(o) => format!("{}  (owner {})", inert(&a.agent), inert(o)),
            None => inert(&a.agent).into_owned(),
        },
    ));
    out.push(Line::from(vec![
        label(t, "Tool"),
        Span::styled(inert(&a.tool).into_owned(), t.accent()),
    ]));
    out.push(field(t, "Session", inert(&a.session).into_owned()));
    out.push(field(
        t,
        "On behalf of",
        a.on_behalf_of
            .as_deref()
            .map(|s| inert(s).into_owned())
            .unwrap_or_else(|| "—".into()),
    ));
    out.push(field(
        t,
        "Delegated by",
        a.parent
            .as_deref()
            .map(|s| inert(s).into_owned())
            .unwrap_or_else(|| "— (called directly)".into()),
    ));
    if let Some(c) = a.cost {
        out.push(field(t, "Cost estimate", format!("{c}")));
    }
    out.push(Line::default());
    out.push(heading(t, "Rationale"));
    match a.rationale.as_deref() {
        Some(r) if !r.is_empty() => {
            for l in inert_multiline(r).lines() {
                out.push(Line::from(format!("  {l}")));
            }
        }
        _ => out.push(Line::from(Span::styled(
            "  (the agent gave none)",
            t.muted(),
        ))),
    }
}

fn rule_lines(t: &Theme, r: &RuleRef, out: &mut Vec<Line<'static>>) {
    let (word, style) = effect_style(t, r.effect);
    out.push(Line::default());
    out.push(heading(t, "Policy"));
    out.push(Line::from(vec![
        label(t, "Rule"),
        Span::styled(
            inert(&r.id).into_owned(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw("  "),
        Span::styled(word, style),
    ]));
    out.push(field(t, "Reason", inert(&r.reason).into_owned()));
    out.push(field(
        t,
        "Condition",
        r.condition
            .as_deref()
            .map(|c| inert(c).into_owned())
            .unwrap_or_else(|| "(always, for these tools)".into()),
    ));
}

/// Where the whole of a left-out value is: being fetched, not fetchable, or elsewhere.
enum Whole<'a> {
    /// An escalation: fetched from the server on selection; the keys that try again.
    Escalation(Option<&'a Fetch>, String),
    /// A flagged action: the stream's copy is all the console gets.
    Flagged,
}

fn elided_line(t: &Theme, x: &Elided, whole: &Whole) -> Line<'static> {
    let status = match whole {
        Whole::Escalation(Some(Fetch::Failed(why)), again) => {
            format!("could not fetch them: {why} ({again} tries again)")
        }
        Whole::Escalation(..) => "fetching the whole escalation…".into(),
        Whole::Flagged => "the audit log's `action` record holds them in full".into(),
    };
    Line::from(Span::styled(
        format!(
            "  ⋯ {} left out of the stream (too large); {status}",
            size_text(x.bytes)
        ),
        t.fg(t.warning),
    ))
}

fn args_lines(
    t: &Theme,
    a: &ActionRecord,
    elided: &[Elided],
    whole: Whole,
    out: &mut Vec<Line<'static>>,
) {
    out.push(Line::default());
    out.push(heading(t, "Arguments"));
    if let Some(x) = elided.iter().find(|x| x.field == ELIDED_ARGS) {
        out.push(elided_line(t, x, &whole));
        return;
    }
    for l in json_lines(&a.args, t) {
        let mut spans = vec![Span::raw("  ")];
        spans.extend(l.spans);
        out.push(Line::from(spans));
    }
}

pub fn escalation_lines(s: &State, e: &Escalation) -> Vec<Line<'static>> {
    let t = &s.theme;
    let mut out = Vec::new();
    let (state_word, state_style) = outcome(t, e.state);
    let mut top = vec![
        Span::styled(inert(&e.id).into_owned(), t.accent()),
        Span::raw("  "),
        Span::styled(state_word, state_style),
        Span::raw(format!(
            "  {}/{} approvals",
            e.approvals_received(),
            e.approvals_required
        )),
    ];
    if e.handed_over {
        top.push(Span::styled("  ↪ handed over", t.fg(t.warning)));
    }
    out.push(Line::from(top));
    if e.state == crate::protocol::EscalationState::Pending {
        let (cd, u) = countdown(e.deadline, s.now);
        out.push(Line::from(vec![
            label(t, "Deadline"),
            Span::styled(format!("{cd} left{}", urgency_word(u)), urgency_style(t, u)),
            Span::styled(format!("  (at {})", when_zoned(s, e.deadline)), t.muted()),
        ]));
        out.extend(agent_line(s, label(t, "Agent waits"), e));
    } else if let Some(at) = e.resolved_at {
        out.push(field(
            t,
            "Resolved",
            format!(
                "{}, {} after it was raised{}",
                when_zoned(s, at),
                duration_text(at - e.created_at),
                e.resolution_reason
                    .as_deref()
                    .map(|r| format!(": {}", inert(r)))
                    .unwrap_or_default()
            ),
        ));
    }
    match s.not_mine(e) {
        None => out.push(Line::from(vec![
            label(t, "You"),
            Span::styled(
                format!(
                    "✓ you may decide this ({} approve · {} deny)",
                    key(s, Action::Approve),
                    key(s, Action::Deny)
                ),
                t.fg(t.ok),
            ),
        ])),
        Some(why) => out.push(Line::from(vec![
            label(t, "You"),
            Span::styled(format!("✗ you may not decide: {why}"), t.fg(t.warning)),
        ])),
    }
    out.push(Line::from(vec![
        label(t, "Approvers"),
        Span::raw(format!(
            "group {} · {} needed{}",
            inert(&e.group),
            e.approvals_required,
            if e.separate_owner {
                " · not the agent's owner"
            } else {
                ""
            }
        )),
    ]));
    super::workflow::detail_lines(s, e, &mut out);
    super::budget_text::ask_lines(s, e, &mut out);
    out.push(Line::from(vec![
        label(t, "You sign"),
        Span::styled(format!("digest {}", short_digest(&e.digest)), t.accent()),
        Span::styled("  (sha256 of exactly this action)", t.muted()),
    ]));
    out.push(Line::default());
    action_lines(t, &e.action, e.agent_owner.as_deref(), &mut out);
    rule_lines(t, &e.rule, &mut out);
    args_lines(
        t,
        &e.action,
        &e.elided,
        Whole::Escalation(
            s.fetches.get(&e.id),
            format!("{} or {}", key(s, Action::Approve), key(s, Action::Deny)),
        ),
        &mut out,
    );
    prior_lines(s, e, &mut out);
    if !e.decisions.is_empty() {
        out.push(Line::default());
        out.push(heading(t, "Decisions"));
        for d in &e.decisions {
            let (w, st) = match d.body.verdict {
                Vote::Approve => ("✓ approve", t.fg(t.approved)),
                Vote::Deny => ("✗ deny", t.fg(t.denied)),
            };
            out.push(Line::from(vec![
                Span::raw(format!("  {:<10} ", clip(&inert(&d.body.approver), 10))),
                Span::styled(format!("{w:<10}"), st),
                Span::styled(
                    format!(
                        "{}  ",
                        s.zone
                            .when_text(&d.body.issued_at, s.now)
                            .unwrap_or_else(|| inert(&d.body.issued_at).into_owned())
                    ),
                    t.muted(),
                ),
                Span::raw(inert(&d.body.reason).into_owned()),
            ]));
        }
    }
    out
}

pub fn flagged_lines(s: &State, f: &FlaggedAction) -> Vec<Line<'static>> {
    let t = &s.theme;
    let mut out = vec![Line::from(vec![
        Span::styled(inert(&f.action.id).into_owned(), t.accent()),
        Span::styled(
            format!("  executed, flagged at {}", when_zoned(s, f.flagged_at)),
            t.muted(),
        ),
    ])];
    match &f.review {
        None => out.push(Line::from(vec![
            label(t, "Review"),
            Span::styled(
                "⚑ not reviewed yet (a acknowledge · i incident)",
                t.fg(t.pending),
            ),
        ])),
        Some(r) => out.push(Line::from(vec![
            label(t, "Review"),
            Span::styled(
                format!(
                    "{} by {}: {}",
                    verdict_word(r.body.review),
                    inert(&r.body.reviewer),
                    inert(&r.body.note)
                ),
                t.fg(t.ok),
            ),
        ])),
    }
    out.push(Line::default());
    let owner = s
        .agents
        .iter()
        .find(|a| a.id == f.action.agent)
        .and_then(|a| a.owner.as_deref());
    action_lines(t, &f.action, owner, &mut out);
    rule_lines(t, &f.rule, &mut out);
    args_lines(t, &f.action, &f.elided, Whole::Flagged, &mut out);
    out
}

pub fn render_lines(
    f: &mut Frame,
    area: Rect,
    s: &State,
    title: &str,
    lines: Vec<Line<'static>>,
    focused: bool,
) {
    let t = &s.theme;
    // Say when there is more than fits: nothing is cut off silently.
    let inner_w = area.width.saturating_sub(2).max(1) as usize;
    let inner_h = area.height.saturating_sub(2) as usize;
    // Wrapped here, not by the paragraph, so that wrapped lines keep their indent and the
    // count of rows is exact.
    let lines = wrap_lines(lines, inner_w);
    let total = lines.len();
    let scroll = if focused {
        (s.detail_scroll as usize).min(total.saturating_sub(inner_h))
    } else {
        0
    };
    let below = total.saturating_sub(scroll + inner_h);
    let (down, up, back, open) = (
        key(s, Action::Down),
        key(s, Action::Up),
        key(s, Action::Back),
        key(s, Action::Open),
    );
    let hint = match (focused, below) {
        (true, 0) if scroll == 0 => format!(" {back} back "),
        (true, 0) => format!(" end · {up} scroll up · {back} back "),
        (true, n) => format!(" ↓ {n} more lines · {down}/{up} scroll · {back} back "),
        (false, 0) => format!(" {open} to focus "),
        (false, n) => format!(" ↓ {n} more lines · {open} to read all "),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { t.fg(t.accent) } else { t.border() })
        .title(Span::styled(format!(" {title} "), t.accent()))
        .title_bottom(Line::from(Span::styled(hint, t.muted())).right_aligned());
    let p = Paragraph::new(lines)
        .block(block)
        .scroll((scroll as u16, 0));
    f.render_widget(p, area);
}
