//! The Flagged, Kill switches and History views.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, HighlightSpacing, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::{inert, Vote};

use super::super::keymap::Action;
use super::super::state::State;
use super::detail::{effect_style, escalation_lines, flagged_lines, render_lines};
use super::format::{clip, clock, duration_text, not_live, outcome, title_note};
use super::hint::key;
use super::layout::window;

/// The list and the detail beside or below it (mouse clicks use the same split).
pub(super) fn split(area: Rect, list_rows: usize) -> [Rect; 2] {
    if area.width >= 140 {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    } else {
        let h = (list_rows as u16 + 3).min(area.height / 2).max(5);
        Layout::vertical([Constraint::Length(h), Constraint::Min(3)]).areas(area)
    }
}

fn block<'a>(s: &State, title: String, hint: String) -> Block<'a> {
    let t = &s.theme;
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Span::styled(title, t.accent()))
        .title_bottom(Line::from(Span::styled(hint, t.muted())).right_aligned())
}

/// The rows that fit, and the table state that marks the selected one with a symbol as well as
/// a colour (never meaning by colour alone).
fn windowed<'a>(
    rows: Vec<Row<'a>>,
    sel: usize,
    height: u16,
    selected: Style,
) -> (Vec<Row<'a>>, TableState) {
    let range = window(rows.len(), sel, height.saturating_sub(3) as usize);
    let state = TableState::default()
        .with_selected((sel >= range.start && sel < range.end).then(|| sel - range.start));
    let rows = rows
        .into_iter()
        .enumerate()
        .skip(range.start)
        .take(range.len())
        .map(|(i, r)| if i == sel { r.style(selected) } else { r })
        .collect();
    (rows, state)
}

/// Draw a list table with its selection marked.
pub fn render_table(f: &mut Frame, area: Rect, table: Table, mut state: TableState) {
    // The row itself carries the selection colours, so its cells keep their meaning colours on
    // top; the table adds the marker.
    let table = table
        .highlight_symbol(SELECTED)
        .highlight_spacing(HighlightSpacing::Always);
    f.render_stateful_widget(table, area, &mut state);
}

/// The selected row's marker.
pub const SELECTED: &str = "» ";

pub fn flagged(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let idx = s.flagged_rows();
    let sel = s.selected[1];
    if s.detail_open {
        if let Some(fl) = s.selected_flagged() {
            render_lines(f, area, s, "Flagged action", flagged_lines(s, fl), true);
            return;
        }
    }
    let [list, detail] = split(area, idx.len());
    // As in the queue: agent, tool and rule share the rest, clipped visibly to their width.
    let inner = list.width.saturating_sub(2 + 2 + 4) as usize;
    let flex = inner.saturating_sub(8 + 16).clamp(18, 60);
    let (wa, wt) = (flex * 3 / 10, flex * 4 / 10);
    let wr = flex - wa - wt;
    let rows: Vec<Row> = idx
        .iter()
        .map(|&i| {
            let fl = &s.flagged[i];
            let (review, style) = match &fl.review {
                None => ("⚑ to review".to_string(), t.fg(t.pending)),
                Some(r) => (
                    format!(
                        "{} {}",
                        match r.body.review {
                            crate::protocol::FlagVerdict::Acknowledge => "✓ ack",
                            crate::protocol::FlagVerdict::Incident => "‼ incident",
                        },
                        clip(&inert(&r.body.reviewer), 10)
                    ),
                    match r.body.review {
                        crate::protocol::FlagVerdict::Acknowledge => t.fg(t.ok),
                        crate::protocol::FlagVerdict::Incident => t.fg(t.danger),
                    },
                ),
            };
            Row::new(vec![
                Cell::from(clock(fl.flagged_at)),
                Cell::from(clip(&inert(&fl.action.agent), wa)),
                Cell::from(clip(&inert(&fl.action.tool), wt)),
                Cell::from(clip(&inert(&fl.rule.id), wr)),
                Cell::from(Span::styled(clip(&review, 16), style)),
            ])
        })
        .collect();
    let title = format!(
        " Flagged {} · {} to review {}",
        idx.len(),
        s.unreviewed_flags(),
        title_note(s)
    );
    let (rows, state) = windowed(rows, sel, list.height, s.theme.selected());
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(wa as u16),
            Constraint::Length(wt as u16),
            Constraint::Length(wr as u16),
            Constraint::Min(16),
        ],
    )
    .header(Row::new(["At", "Agent", "Tool", "Rule", "Review"]).style(t.muted()))
    .block(block(
        s,
        title,
        format!(
            " {} acknowledge · {} incident ",
            key(s, Action::Acknowledge),
            key(s, Action::Incident)
        ),
    ));
    render_table(f, list, table, state);
    if let Some(fl) = s.selected_flagged() {
        render_lines(f, detail, s, "Flagged action", flagged_lines(s, fl), false);
    } else {
        let title = match not_live(s) {
            Some(note) => format!(" {note} "),
            None if s.flagged.is_empty() => " Nothing flagged ".into(),
            None => " Nothing matches the filter ".into(),
        };
        f.render_widget(block(s, title, String::new()), detail);
    }
}

pub fn killswitches(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let rows_data = s.switch_rows();
    let sel = s.selected[2];
    let rows: Vec<Row> = rows_data
        .iter()
        .map(|r| {
            let (state, style, detail) = match &r.state {
                Some(k) if k.on => (
                    "■ STOPPED",
                    t.fg(t.danger),
                    format!(
                        "by {} at {}: {}",
                        inert(&k.by),
                        clock(k.at),
                        inert(&k.reason)
                    ),
                ),
                Some(k) => (
                    "○ running",
                    t.fg(t.ok),
                    format!(
                        "resumed by {} at {}: {}",
                        inert(&k.by),
                        clock(k.at),
                        inert(&k.reason)
                    ),
                ),
                None => ("○ running", t.fg(t.ok), String::new()),
            };
            // Under the global switch nothing runs, whatever its own switch says.
            let (state, style) =
                if s.global_stopped() && r.scope != "global" && state != "■ STOPPED" {
                    ("■ (global)", t.fg(t.danger))
                } else {
                    (state, style)
                };
            let activity = match &r.last_activity {
                Some(a) => {
                    let (w, _) = effect_style(t, a.effect);
                    clip(&format!("{} {} → {w}", clock(a.at), inert(&a.tool)), 34)
                }
                None => "—".into(),
            };
            Row::new(vec![
                Cell::from(clip(&inert(&r.scope), 26)),
                Cell::from(Span::styled(state, style)),
                Cell::from(format!("{:>6}", r.actions)),
                Cell::from(activity),
                Cell::from(detail),
            ])
        })
        .collect();
    let stopped = rows_data
        .iter()
        .filter(|r| r.state.as_ref().is_some_and(|k| k.on))
        .count();
    let title = if s.global_stopped() {
        format!(
            " Kill switches · GLOBAL STOP IS ON: every action is denied {}",
            title_note(s)
        )
    } else {
        format!(" Kill switches · {stopped} on {}", title_note(s))
    };
    let (rows, state) = windowed(rows, sel, area.height, s.theme.selected());
    let table = Table::new(
        rows,
        [
            Constraint::Length(26),
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(34),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(["Scope", "State", "Recent", "Last action", "Last flip"]).style(t.muted()))
    .block(block(
        s,
        title,
        format!(
            " {} toggle · {} stop everything ",
            key(s, Action::Toggle),
            key(s, Action::StopAll)
        ),
    ));
    render_table(f, area, table, state);
}

pub fn history(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let idx = s.history_rows();
    let sel = s.selected[3];
    if s.detail_open {
        if let Some(e) = s.selected_escalation() {
            render_lines(
                f,
                area,
                s,
                "Resolved escalation",
                escalation_lines(s, e),
                true,
            );
            return;
        }
    }
    let rows: Vec<Row> = idx
        .iter()
        .map(|&i| {
            let e = &s.history[i];
            let (word, style) = outcome(t, e.state);
            let deciders: Vec<String> = e
                .decisions
                .iter()
                .map(|d| {
                    format!(
                        "{}{}",
                        inert(&d.body.approver),
                        if d.body.verdict == Vote::Approve {
                            "✓"
                        } else {
                            "✗"
                        }
                    )
                })
                .collect();
            let took = e
                .resolved_at
                .map(|r| duration_text(r - e.created_at))
                .unwrap_or_else(|| "—".into());
            Row::new(vec![
                Cell::from(e.resolved_at.map(clock).unwrap_or_else(|| "—".into())),
                Cell::from(Span::styled(word, style)),
                Cell::from(clip(&inert(&e.action.agent), 14)),
                Cell::from(clip(&inert(&e.action.tool), 18)),
                Cell::from(clip(&inert(&e.rule.id), 16)),
                Cell::from(took),
                Cell::from(if deciders.is_empty() {
                    "—".into()
                } else {
                    deciders.join(" ")
                }),
            ])
        })
        .collect();
    let (rows, state) = windowed(rows, sel, area.height, s.theme.selected());
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(14),
            Constraint::Length(18),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(["At", "Outcome", "Agent", "Tool", "Rule", "Took", "Deciders"]).style(t.muted()),
    )
    .block(block(
        s,
        format!(" History {} {}", idx.len(), title_note(s)),
        format!(" {} detail ", key(s, Action::Open)),
    ));
    render_table(f, area, table, state);
}
