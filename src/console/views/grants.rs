//! Standing grants on screen: the Grants view (live grants, soonest to expire first), the grant
//! part of the approve dialog, and the revoke dialog.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::inert;

use super::super::dialog::DecisionDraft;
use super::super::grant_form::{GrantFocus, RevokeDraft};
use super::super::keymap::{Action, Section};
use super::super::state::{State, View};
use super::cursor::input;
use super::format::{clip, duration_text, title_note};
use super::layout::window;
use super::lists::render_table;
use super::popup::kv;

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let rows_data = s.grant_rows();
    let sel = s.selected[View::Grants.index()];
    // Agent, tool and condition share what the fixed columns leave.
    let inner = area.width.saturating_sub(2 + 2 + 5) as usize;
    let flex = inner.saturating_sub(10 + 9 + 5).max(24);
    let (wa, wt) = (flex * 2 / 10, flex * 2 / 10);
    let wc = flex - wa - wt;
    let rows: Vec<Row> = rows_data
        .iter()
        .map(|g| {
            let left = duration_text(g.expires_at - s.now);
            Row::new(vec![
                Cell::from(clip(&inert(&g.agent), wa)),
                Cell::from(clip(&inert(&g.tool), wt)),
                Cell::from(clip(&inert(g.when.as_deref().unwrap_or("(any call)")), wc)),
                Cell::from(clip(&inert(&g.by), 10)),
                Cell::from(Span::styled(format!("⏳ {left}"), t.fg(t.pending))),
                Cell::from(format!("{:>5}", g.uses)),
            ])
        })
        .collect();
    let range = window(rows.len(), sel, area.height.saturating_sub(3) as usize);
    let state = TableState::default()
        .with_selected((sel >= range.start && sel < range.end).then(|| sel - range.start));
    let rows: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .skip(range.start)
        .take(range.len())
        .map(|(i, r)| if i == sel { r.style(t.selected()) } else { r })
        .collect();
    let title = format!(" Standing grants {} {}", rows_data.len(), title_note(s));
    let hint = format!(
        " {} revoke ",
        s.keymap.key_for(Section::Grants, Action::Revoke)
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(wa as u16),
            Constraint::Length(wt as u16),
            Constraint::Length(wc as u16),
            Constraint::Length(10),
            Constraint::Length(11),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new([
            "Agent",
            "Tool",
            "Condition",
            "Signer",
            "Expires in",
            " Uses",
        ])
        .style(t.muted()),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(t.border())
            .title(Span::styled(title, t.accent()))
            .title_bottom(Line::from(Span::styled(hint, t.muted())).right_aligned()),
    );
    render_table(f, area, table, state);
}

/// The reason field has the keys unless a grant field does.
pub fn reason_focused(d: &DecisionDraft) -> bool {
    d.grant
        .as_ref()
        .is_none_or(|g| !g.on || g.focus == GrantFocus::Reason)
}

/// The grant part of the approve dialog: an offer, or the condition and duration being typed.
pub fn decision_lines(s: &State, d: &DecisionDraft) -> Vec<Line<'static>> {
    let t = &s.theme;
    let Some(g) = &d.grant else {
        return Vec::new();
    };
    let key = s.keymap.key_for(Section::Dialog, Action::Grant);
    if !g.on {
        return vec![
            Line::default(),
            Line::from(Span::styled(
                format!("{key}: also allow calls like this for a while (a standing grant)"),
                t.muted(),
            )),
        ];
    }
    vec![
        Line::default(),
        Line::from(Span::styled(
            "Also allow calls like this (a standing grant you sign, with this reason):",
            t.fg(t.warning),
        )),
        kv(t, "agent", inert(&d.escalation.action.agent).into_owned()),
        kv(t, "tool", inert(&d.escalation.action.tool).into_owned()),
        Line::from(Span::styled("  when (CEL, empty: any call)", t.muted())),
        input(t, &g.condition, g.focus == GrantFocus::Condition),
        Line::from(Span::styled("  for (at most 7d)", t.muted())),
        input(t, &g.duration, g.focus == GrantFocus::Duration),
    ]
}

/// The dialog's key hint line.
pub fn decision_keys(s: &State, d: &DecisionDraft) -> String {
    let key = |a| s.keymap.key_for(Section::Dialog, a);
    match &d.grant {
        Some(g) if g.on => format!(
            "{} send both · {} next field · {} no grant · {} cancel",
            key(Action::Confirm),
            key(Action::NextField),
            key(Action::Grant),
            key(Action::Cancel)
        ),
        Some(_) => format!(
            "{} send · {} also allow calls like this · {} cancel",
            key(Action::Confirm),
            key(Action::Grant),
            key(Action::Cancel)
        ),
        None => format!(
            "{} send · {} cancel",
            key(Action::Confirm),
            key(Action::Cancel)
        ),
    }
}

/// The revoke dialog's lines; `dialogs` draws the popup.
pub fn revoke_lines(s: &State, r: &RevokeDraft) -> Vec<Line<'static>> {
    let t = &s.theme;
    let g = &r.grant;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Revoke grant ", t.accent()),
            Span::raw(inert(&g.id).into_owned()),
        ]),
        kv(t, "agent", inert(&g.agent).into_owned()),
        kv(t, "tool", inert(&g.tool).into_owned()),
        kv(
            t,
            "when",
            inert(g.when.as_deref().unwrap_or("(any call)")).into_owned(),
        ),
        kv(t, "signed by", inert(&g.by).into_owned()),
        kv(t, "uses", g.uses.to_string()),
        Line::default(),
        Line::from(Span::styled("Reason (required)", t.muted())),
        input(t, &r.reason, true),
    ];
    if let Some(err) = &r.error {
        lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "Enter send · Esc cancel",
        t.accent(),
    )));
    lines
}
