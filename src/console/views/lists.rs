//! The Flagged and History views, and what every list shares: the list/detail split, the
//! bordered block, the window of rows, and tables whose columns are sized to their content.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, HighlightSpacing, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::{inert, FlagVerdict, Vote};

use super::super::keymap::{Action, Section};
use super::super::state::State;
use super::detail::{escalation_lines, flagged_lines, render_lines};
use super::format::{clip, clip_line, duration_text, not_live, outcome, title_note, when};
use super::hint::key;
use super::layout::{column_widths, window, Column};

/// A table's header, its rows clipped (with `…`) to columns sized from the content of the
/// cells given and the room there is, and the widths to lay it out with.
pub struct Fitted {
    pub header: Row<'static>,
    pub rows: Vec<Row<'static>>,
    pub widths: Vec<Constraint>,
}

/// `cols` gives each column's bounds and weight; `area_width` is the bordered table's width.
pub fn fit_table(
    s: &State,
    header: &[&str],
    mut cols: Vec<Column>,
    cells: Vec<Vec<Line<'static>>>,
    area_width: u16,
) -> Fitted {
    for (c, h) in cols.iter_mut().zip(header) {
        c.fit(h);
    }
    for row in &cells {
        for (c, cell) in cols.iter_mut().zip(row) {
            c.want = c.want.max(cell.width());
        }
    }
    // Borders, and the selection marker's column.
    let inner = (area_width as usize).saturating_sub(2 + SELECTED.chars().count());
    let w = column_widths(&cols, inner, 1);
    let clipped = |row: Vec<Line<'static>>| {
        Row::new(
            row.into_iter()
                .zip(&w)
                .map(|(l, &cw)| clip_line(l, cw as usize))
                .collect::<Vec<_>>(),
        )
    };
    let header = header.iter().map(|h| Line::from(h.to_string())).collect();
    Fitted {
        header: clipped(header).style(s.theme.muted()),
        rows: cells.into_iter().map(clipped).collect(),
        widths: w.iter().map(|&x| Constraint::Length(x)).collect(),
    }
}

/// The list and the detail beside or below it (mouse clicks use the same split).
pub fn split(area: Rect, list_rows: usize) -> [Rect; 2] {
    if area.width >= 140 {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    } else {
        let h = (list_rows as u16 + 3).min(area.height / 2).max(5);
        Layout::vertical([Constraint::Length(h), Constraint::Min(3)]).areas(area)
    }
}

/// A list's frame: its title and, bottom right, its keys; the title is clipped with `…` to
/// the room the border leaves.
pub fn block(s: &State, title: String, hint: impl Into<String>, width: u16) -> Block<'static> {
    let t = &s.theme;
    let room = (width as usize).saturating_sub(4);
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Span::styled(clip(&title, room.max(8)), t.accent()))
        .title_bottom(Line::from(Span::styled(hint.into(), t.muted())).right_aligned())
}

/// The rows that fit, and the table state that marks the selected one with a symbol as well as
/// a colour (never meaning by colour alone).
pub fn windowed<'a>(
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
    let cells = idx
        .iter()
        .map(|&i| {
            let fl = &s.flagged[i];
            let review = match &fl.review {
                None => Span::styled("⚑ to review", t.fg(t.pending)),
                Some(r) => {
                    let (word, style) = match r.body.review {
                        FlagVerdict::Acknowledge => ("✓ ack", t.fg(t.ok)),
                        FlagVerdict::Incident => ("‼ incident", t.fg(t.danger)),
                    };
                    Span::styled(format!("{word} {}", inert(&r.body.reviewer)), style)
                }
            };
            vec![
                Line::from(when(s, fl.flagged_at)),
                Line::from(inert(&fl.action.agent).into_owned()),
                Line::from(inert(&fl.action.tool).into_owned()),
                Line::from(inert(&fl.rule.id).into_owned()),
                Line::from(review),
            ]
        })
        .collect();
    let cols = vec![
        Column::new(8, 19),
        Column::new(8, 24).weight(110),
        Column::new(10, 32).weight(130),
        Column::new(8, 24),
        Column::new(11, 24).weight(80),
    ];
    let header = ["At", "Agent", "Tool", "Rule", "Review"];
    let fit = fit_table(s, &header, cols, cells, list.width);
    let title = format!(
        " Flagged {} · {} to review {}",
        idx.len(),
        s.unreviewed_flags(),
        title_note(s)
    );
    let (rows, state) = windowed(fit.rows, sel, list.height, t.selected());
    let table = Table::new(rows, fit.widths).header(fit.header).block(block(
        s,
        title,
        format!(
            " {} acknowledge · {} incident ",
            key(s, Action::Acknowledge),
            key(s, Action::Incident)
        ),
        list.width,
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
        f.render_widget(block(s, title, "", detail.width), detail);
    }
}

pub fn history(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let idx = s.history_rows();
    let sel = s.selected[3];
    if s.detail_open {
        if let Some(e) = s.selected_escalation() {
            let lines = escalation_lines(s, e);
            render_lines(f, area, s, "Resolved escalation", lines, true);
            return;
        }
    }
    let cells = idx
        .iter()
        .map(|&i| {
            let e = &s.history_list()[i];
            let (word, style) = outcome(t, e.state);
            let deciders: Vec<String> = e
                .decisions
                .iter()
                .map(|d| {
                    let mark = if d.body.verdict == Vote::Approve {
                        "✓"
                    } else {
                        "✗"
                    };
                    format!("{}{mark}", inert(&d.body.approver))
                })
                .collect();
            let took = e
                .resolved_at
                .map(|r| duration_text(r - e.created_at))
                .unwrap_or_else(|| "—".into());
            vec![
                Line::from(e.resolved_at.map_or_else(|| "—".into(), |r| when(s, r))),
                Line::from(Span::styled(word, style)),
                Line::from(inert(&e.action.agent).into_owned()),
                Line::from(inert(&e.action.tool).into_owned()),
                super::budget_text::rule_cell(t, e),
                Line::from(took),
                Line::from(if deciders.is_empty() {
                    "—".into()
                } else {
                    deciders.join(" ")
                }),
            ]
        })
        .collect();
    let cols = vec![
        Column::new(8, 19),
        Column::new(9, 11),
        Column::new(8, 24).weight(110),
        Column::new(10, 32).weight(130),
        Column::new(8, 24),
        Column::new(6, 8),
        Column::new(8, 60).weight(80),
    ];
    let header = ["At", "Outcome", "Agent", "Tool", "Rule", "Took", "Deciders"];
    let fit = fit_table(s, &header, cols, cells, area.width);
    let (rows, state) = windowed(fit.rows, sel, area.height, t.selected());
    let key = s.keymap.key_for(Section::History, Action::Search);
    let search_hint = match s.history_search {
        Some(_) => format!(" Enter detail · {key} search · Esc live history "),
        None => format!(" Enter detail · {key} search all "),
    };
    let title = match &s.history_search {
        Some(h) => format!(
            " Server search ({}): {} found{} ",
            h.describe(),
            idx.len(),
            match (&h.error, h.loading, &h.next) {
                (Some(e), _, _) => format!(" · ✗ {e}"),
                (_, Some(_), _) => " · … loading".into(),
                (_, _, Some(_)) => " · more on the server: moving down loads them".into(),
                _ => " · all".into(),
            }
        ),
        None => format!(" History {} {}", idx.len(), title_note(s)),
    };
    let table = Table::new(rows, fit.widths).header(fit.header).block(block(
        s,
        title,
        &search_hint,
        area.width,
    ));
    render_table(f, area, table, state);
}
