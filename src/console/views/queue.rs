//! The queue: pending escalations, soonest deadline first, and the selected one's detail.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::inert;

use super::super::keymap::Action;
use super::super::state::{Connection, State};
use super::detail::{escalation_lines, render_lines};
use super::format::{clip, countdown, not_live, short_why, title_note, urgency_style};
use super::hint::key;
use super::layout::window;

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    let selected = s.selected_escalation();
    if s.detail_open {
        if let Some(e) = selected {
            render_lines(f, area, s, "Escalation", escalation_lines(s, e), true);
            return;
        }
    }
    let [list, detail] = split(area, s);
    table(f, list, s);
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
        let want = s.queue_rows().len() as u16 + 3;
        let h = want.clamp(5, (area.height * 45 / 100).max(5));
        Layout::vertical([Constraint::Length(h), Constraint::Min(3)]).areas(area)
    }
}

fn table(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let rows_idx = s.queue_rows();
    let height = area.height.saturating_sub(3) as usize;
    let sel = s.selected[0];
    let range = window(rows_idx.len(), sel, height);
    // Agent, tool and rule share what the fixed columns leave, and are clipped to exactly their
    // width with a visible ellipsis: the table would otherwise cut them silently.
    // The Args column (arguments left out of the stream, fetched on selection) only when some
    // escalation needs it.
    let args_col = s.pending.iter().any(|e| e.args_elided().is_some());
    let (args_w, args_gap) = if args_col { (6, 1) } else { (0, 0) };
    let inner = area.width.saturating_sub(2 + 2 + 5 + args_gap) as usize; // borders, marker, gaps
    let flex = inner
        .saturating_sub(10 + 4 + 16 + args_w as usize)
        .clamp(18, 60);
    let (wa, wt) = (flex * 3 / 10, flex * 4 / 10);
    let wr = flex - wa - wt;
    let rows: Vec<Row> = rows_idx[range.clone()]
        .iter()
        .enumerate()
        .map(|(off, &i)| {
            let e = &s.pending[i];
            let (cd, u) = countdown(e.deadline, s.now);
            let (you, you_style) = match s.not_mine(e) {
                None => ("▶ yours".to_string(), t.fg(t.ok)),
                Some(why) => (clip(&short_why(&why), 16), t.muted()),
            };
            let mut cells = vec![
                Cell::from(Span::styled(cd, urgency_style(t, u))),
                Cell::from(clip(&inert(&e.action.agent), wa)),
                Cell::from(clip(&inert(&e.action.tool), wt)),
                Cell::from(clip(&inert(&e.rule.id), wr)),
                Cell::from(format!(
                    "{}/{}",
                    e.approvals_received(),
                    e.approvals_required
                )),
                Cell::from(Span::styled(you, you_style)),
            ];
            if args_col {
                // Arguments the stream left out: fetched on selection, before anyone signs.
                let marker = match e.args_elided() {
                    Some(x) => Span::styled(format!("⋯{}", size_short(x.bytes)), t.fg(t.warning)),
                    None => Span::raw(""),
                };
                cells.insert(5, Cell::from(marker));
            }
            let row = Row::new(cells);
            if range.start + off == sel {
                row.style(t.selected())
            } else {
                row
            }
        })
        .collect();
    let mine = s.mine_count();
    let title = if rows_idx.len() == s.pending.len() {
        format!(
            " Pending {} · {} for you {}",
            s.pending.len(),
            mine,
            title_note(s)
        )
    } else {
        format!(
            " Pending {} · {} for you · {} match the filter {}",
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
    let mut widths = vec![
        Constraint::Length(10),
        Constraint::Length(wa as u16),
        Constraint::Length(wt as u16),
        Constraint::Length(wr as u16),
        Constraint::Length(4),
        Constraint::Min(16),
    ];
    let mut header = vec!["Left", "Agent", "Tool", "Rule", "Appr", "You"];
    if args_col {
        widths.insert(5, Constraint::Length(args_w));
        header.insert(5, "Args");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.muted()))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border())
                .title(Span::styled(title, t.accent()))
                .title_bottom(Line::from(Span::styled(more, t.muted())).right_aligned()),
        )
        .style(Style::default());
    let state = TableState::default()
        .with_selected((sel >= range.start && sel < range.end).then(|| sel - range.start));
    super::lists::render_table(f, area, table, state);
}

/// A size in at most five characters: 812B, 244K, 1.2M.
fn size_short(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b}B"),
        b if b < 1024 * 1024 => format!("{}K", b / 1024),
        b => format!("{:.1}M", b as f64 / (1024.0 * 1024.0)),
    }
}
