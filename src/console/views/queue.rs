//! The queue: pending escalations, soonest deadline first, and the selected one's detail.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::inert;

use super::super::keymap::Action;
use super::super::state::{Connection, State};
use super::detail::{escalation_lines, render_lines};
use super::format::{clip, countdown, not_live, short_why, title_note, urgency_style};
use super::hint::key;
use super::layout::{window, Column};
use super::lists::{fit_table, render_table};

/// `mine`: how many pending escalations are the viewer's to decide (`State::mine_count`).
pub fn render(f: &mut Frame, area: Rect, s: &State, mine: usize) {
    let selected = s.selected_escalation();
    if s.detail_open {
        if let Some(e) = selected {
            render_lines(f, area, s, "Escalation", escalation_lines(s, e), true);
            return;
        }
    }
    let [list, detail] = split(area, s);
    table(f, list, s, mine);
    match selected {
        Some(e) => render_lines(f, detail, s, "Escalation", escalation_lines(s, e), false),
        None => {
            let t = &s.theme;
            // Not live, the console cannot know that nothing waits: it says what it knows.
            let text = match (not_live(s), s.pending.is_empty()) {
                (Some(note), true) => note,
                (_, true) => "Nothing waits for a decision.".into(),
                (_, false) => format!(
                    "Nothing matches the filter ({} clears it).",
                    key(s, Action::Back)
                ),
            };
            let p = Paragraph::new(vec![
                Line::default(),
                Line::from(Span::styled(
                    format!("  {text}"),
                    if s.connection == Connection::Live {
                        t.muted()
                    } else {
                        t.fg(t.warning)
                    },
                )),
            ])
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.border()),
            );
            f.render_widget(p, detail);
        }
    }
}

/// The list and the detail beside or below it (mouse clicks use the same split).
pub(super) fn split(area: Rect, s: &State) -> [Rect; 2] {
    if area.width >= 140 {
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(area)
    } else {
        // The list takes what its rows need, up to 45%; the detail gets the rest.
        let want = s.queue_len() as u16 + 3;
        let h = want.clamp(5, (area.height * 45 / 100).max(5));
        Layout::vertical([Constraint::Length(h), Constraint::Min(3)]).areas(area)
    }
}

fn table(f: &mut Frame, area: Rect, s: &State, mine: usize) {
    let t = &s.theme;
    let summary = s.queue_summary();
    let rows_idx = &summary.rows;
    let height = area.height.saturating_sub(3) as usize;
    let sel = s.selected[0];
    let range = window(rows_idx.len(), sel, height);
    // The Args column (arguments left out of the stream, fetched on selection) only when some
    // escalation needs it.
    let args_col = summary.args_elided;
    // The batch marks column only while something is marked.
    let marks_col = !s.marks.is_empty();
    // Columns are sized to the rows on screen (a queue of thousands is not measured per frame).
    let cells = rows_idx[range.clone()]
        .iter()
        .map(|&i| {
            let e = &s.pending[i];
            let (cd, u) = countdown(e.deadline, s.now);
            let you = match (super::workflow::you_cell(s, e), s.not_mine(e)) {
                (Some((text, style)), _) => Span::styled(text, style),
                (None, None) => Span::styled("▶ yours", t.fg(t.ok)),
                (None, Some(why)) => Span::styled(short_why(&why), t.muted()),
            };
            // An agent that stopped waiting runs nothing an approval would allow: said first.
            let left = super::agent_wait::gave_up_cell(t, e, s.now)
                .unwrap_or_else(|| Span::styled(cd, urgency_style(t, u)));
            let mut cells = vec![
                Line::from(left),
                Line::from(inert(&e.action.agent).into_owned()),
                Line::from(inert(&e.action.tool).into_owned()),
                super::budget_text::rule_cell(t, e),
                Line::from(format!(
                    "{}/{}",
                    e.approvals_received(),
                    e.approvals_required
                )),
                Line::from(you),
            ];
            if args_col {
                // Arguments the stream left out: fetched on selection, before anyone signs.
                let marker = match e.args_elided() {
                    Some(x) => Span::styled(format!("⋯{}", size_short(x.bytes)), t.fg(t.warning)),
                    None => Span::raw(""),
                };
                cells.insert(5, Line::from(marker));
            }
            if marks_col {
                let mark = if s.marks.contains(&e.id) { "●" } else { "" };
                cells.insert(0, Line::from(Span::styled(mark, t.accent())));
            }
            cells
        })
        .collect();
    let mut header = vec!["Left", "Agent", "Tool", "Rule", "Appr", "You"];
    // The tool matters most when room is short; who may decide is in the detail too.
    let mut cols = vec![
        Column::new(9, 10),
        Column::new(8, 24).weight(110),
        Column::new(10, 32).weight(130),
        Column::new(8, 24),
        Column::new(4, 5),
        Column::new(10, 24).weight(80),
    ];
    if args_col {
        header.insert(5, "Args");
        cols.insert(5, Column::new(6, 6));
    }
    if marks_col {
        header.insert(0, "●");
        cols.insert(0, Column::new(1, 1));
    }
    let fit = fit_table(s, &header, cols, cells, area.width);
    let rows: Vec<Row> = fit
        .rows
        .into_iter()
        .enumerate()
        .map(|(off, row)| {
            if range.start + off == sel {
                row.style(t.selected())
            } else {
                row
            }
        })
        .collect();
    let marked = match s.marks.len() {
        0 => String::new(),
        n => format!("· ● {n} marked "),
    };
    let snoozed_n = summary.snoozed;
    let snoozed = super::workflow::snoozed_note(s, snoozed_n);
    let title = if rows_idx.len() + snoozed_n * usize::from(!s.show_snoozed) == s.pending.len() {
        format!(
            " Pending {} · {} for you {snoozed}{marked}{}",
            s.pending.len(),
            mine,
            title_note(s)
        )
    } else {
        format!(
            " Pending {} · {} for you {snoozed}· {} match the filter {marked}{}",
            s.pending.len(),
            mine,
            rows_idx.len(),
            title_note(s)
        )
    };
    let more = if rows_idx.len() > range.len() {
        format!(" {}–{} of {} ", range.start + 1, range.end, rows_idx.len())
    } else {
        String::new()
    };
    let table = Table::new(rows, fit.widths)
        .header(fit.header)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border())
                .title(Span::styled(
                    clip(&title, (area.width as usize).saturating_sub(4)),
                    t.accent(),
                ))
                .title_bottom(Line::from(Span::styled(more, t.muted())).right_aligned()),
        )
        .style(Style::default());
    let state = TableState::default()
        .with_selected((sel >= range.start && sel < range.end).then(|| sel - range.start));
    render_table(f, area, table, state);
}

/// A size in at most five characters: 812B, 244K, 1.2M.
fn size_short(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b}B"),
        b if b < 1024 * 1024 => format!("{}K", b / 1024),
        b => format!("{:.1}M", b as f64 / (1024.0 * 1024.0)),
    }
}
