//! The Budgets view: each limit's use per agent or session (a bar of its share, calls and cost
//! against their maxima with grace, its state, when its window resets), then the breakers that
//! are open (why, since and until when), and the operator's reset dialog.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Padding, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::{inert, BreakerState};

use super::super::budget_state::{BudgetRow, ResetDraft};
use super::super::keymap::{Action, Section};
use super::super::state::{State, View};
use super::budget_text::{bar, calls_text, cost_text, percent, state_word, who, BAR, BAR_NARROW};
use super::cursor::input;
use super::format::{title_note, when, when_zoned};
use super::layout::Column;
use super::lists::{block, fit_table, render_table, windowed};
use super::popup::kv;

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    let rows = s.budget_rows();
    let limits: Vec<usize> = rows
        .iter()
        .filter_map(|r| match r {
            BudgetRow::Limit(i) => Some(*i),
            BudgetRow::Breaker(_) => None,
        })
        .collect();
    let breakers: Vec<usize> = rows
        .iter()
        .filter_map(|r| match r {
            BudgetRow::Breaker(i) => Some(*i),
            BudgetRow::Limit(_) => None,
        })
        .collect();
    let [top, bottom] = split(area, limits.len(), breakers.len());
    let sel = s.selected[View::Budgets.index()];
    limits_table(f, top, s, &limits, (sel < limits.len()).then_some(sel));
    breakers_table(f, bottom, s, &breakers, sel.checked_sub(limits.len()));
}

/// The limits above, the breakers below: the limits take what their rows need but leave the
/// breakers theirs (up to half); the breakers get the rest.
pub(super) fn split(area: Rect, limits: usize, breakers: usize) -> [Rect; 2] {
    let want_b = (breakers.max(1) as u16).saturating_add(3);
    let keep_b = want_b.min(area.height / 2);
    let want_l = (limits.max(2) as u16).saturating_add(3);
    let l = want_l.min(area.height.saturating_sub(keep_b)).max(5);
    Layout::vertical([Constraint::Length(l.min(area.height)), Constraint::Min(0)]).areas(area)
}

/// What the view says where it has no rows: still reading, why the read failed, or nothing.
fn empty_text(s: &State, what: &str) -> String {
    let b = &s.budgets;
    match (&b.report, &b.error, b.loading) {
        (None, Some(e), _) => format!("Could not read the limits' use: {e}"),
        (None, None, _) => "Reading the limits' use from the server…".into(),
        (Some(_), _, _) if !s.filter.is_empty() => format!("No {what} matches the filter."),
        (Some(_), _, _) if what == "limit" => {
            "No limit is in use: none is configured ([[limit]] in the policy), or no agent \
             has made a call it counts in this window."
                .into()
        }
        (Some(_), _, _) => "No breaker is open.".into(),
    }
}

fn empty(f: &mut Frame, area: Rect, s: &State, title: String, hint: String, text: String) {
    let t = &s.theme;
    let p = Paragraph::new(vec![Line::from(Span::styled(text, t.muted()))])
        .wrap(ratatui::widgets::Wrap { trim: true })
        .block(block(s, title, hint, area.width).padding(Padding::horizontal(1)));
    f.render_widget(p, area);
}

fn limits_title(s: &State, n: usize) -> String {
    let b = &s.budgets;
    let count = |st| b.limits().iter().filter(|l| l.state == st).count();
    let mut title = format!(" Limits {n}");
    if let Some(r) = b.report.as_ref().filter(|r| r.omitted > 0) {
        title += &format!(" (the fullest; {} more)", r.omitted);
    }
    let warn = count(crate::protocol::LimitState::Warning);
    let over = count(crate::protocol::LimitState::Exceeded);
    if warn > 0 {
        title += &format!(" · ⚠ {warn} warning");
    }
    if over > 0 {
        title += &format!(" · ✗ {over} exceeded");
    }
    if let Some(at) = b.fetched_at {
        title += &format!(" · as of {}", when(s, at));
    }
    if b.loading.is_some() {
        title += " · reading…";
    }
    if let (Some(_), Some(e)) = (&b.report, &b.error) {
        title += &format!(" · ✗ {e}");
    }
    format!("{title} {}", title_note(s))
}

fn limits_table(f: &mut Frame, area: Rect, s: &State, limits: &[usize], sel: Option<usize>) {
    let t = &s.theme;
    let title = limits_title(s, limits.len());
    let hint = format!(
        " {} refresh ",
        s.keymap.key_for(Section::Budgets, Action::Refresh)
    );
    if limits.is_empty() {
        return empty(f, area, s, title, hint, empty_text(s, "limit"));
    }
    let cells_of_bar = if area.width < 100 { BAR_NARROW } else { BAR };
    let cells = limits
        .iter()
        .map(|&i| {
            let l = &s.budgets.limits()[i];
            let (word, style) = state_word(t, l.state);
            vec![
                Line::from(inert(&l.limit).into_owned()),
                Line::from(who(l)),
                Line::from(Span::styled(
                    format!("{} {:>4}", bar(l.share, cells_of_bar), percent(l.share)),
                    style,
                )),
                Line::from(calls_text(l)),
                Line::from(cost_text(l)),
                Line::from(Span::styled(word, style)),
                Line::from(when(s, l.resets_at)),
            ]
        })
        .collect();
    // The numbers and the state keep their width; names give way first.
    let cols = vec![
        Column::new(6, 20),
        Column::new(8, 32).weight(110),
        Column::new(cells_of_bar + 5, cells_of_bar + 6),
        Column::new(10, 14),
        Column::new(13, 24),
        Column::new(10, 10),
        Column::new(8, 19),
    ];
    let header = ["Limit", "Agent", "Use", "Calls", "Cost", "State", "Resets"];
    let fit = fit_table(s, &header, cols, cells, area.width);
    let (rows, state) = rows_shown(fit.rows, sel, area.height, s);
    let table = Table::new(rows, fit.widths)
        .header(fit.header)
        .block(block(s, title, hint, area.width));
    render_table(f, area, table, state);
}

/// The rows that fit: around the cursor when it is in this table, else from the first.
fn rows_shown(
    rows: Vec<Row<'static>>,
    sel: Option<usize>,
    height: u16,
    s: &State,
) -> (Vec<Row<'static>>, TableState) {
    match sel {
        Some(sel) => windowed(rows, sel, height, s.theme.selected()),
        None => (
            rows.into_iter()
                .take(height.saturating_sub(3) as usize)
                .collect(),
            TableState::default(),
        ),
    }
}

fn breakers_table(f: &mut Frame, area: Rect, s: &State, breakers: &[usize], sel: Option<usize>) {
    let t = &s.theme;
    let title = format!(" Open breakers {} ", breakers.len());
    let hint = format!(
        " {} reset (operators) ",
        s.keymap.key_for(Section::Budgets, Action::Reset)
    );
    if breakers.is_empty() {
        return empty(f, area, s, title, hint, empty_text(s, "breaker"));
    }
    let cells = breakers
        .iter()
        .map(|&i| {
            let b = &s.budgets.breakers()[i];
            let (word, style) = match b.state {
                BreakerState::Open => ("● open", t.fg(t.danger)),
                BreakerState::HalfOpen => ("◐ half-open", t.fg(t.warning)),
            };
            vec![
                Line::from(inert(&b.agent).into_owned()),
                Line::from(inert(&b.breaker).into_owned()),
                Line::from(Span::styled(word, style)),
                Line::from(when(s, b.since)),
                Line::from(when(s, b.until)),
                Line::from(inert(&b.reason).into_owned()),
            ]
        })
        .collect();
    let cols = vec![
        Column::new(8, 24),
        Column::new(8, 24),
        Column::new(6, 11),
        Column::new(8, 19),
        Column::new(8, 19),
        Column::new(10, 80).weight(130),
    ];
    let header = ["Agent", "Breaker", "State", "Since", "Until", "Why"];
    let fit = fit_table(s, &header, cols, cells, area.width);
    let (rows, state) = rows_shown(fit.rows, sel, area.height, s);
    let table = Table::new(rows, fit.widths)
        .header(fit.header)
        .block(block(s, title, hint, area.width));
    render_table(f, area, table, state);
}

/// The reset dialog's lines; `dialogs` draws the popup.
pub fn reset_lines(s: &State, r: &ResetDraft) -> Vec<Line<'static>> {
    let t = &s.theme;
    let b = &r.breaker;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Reset breaker ", t.accent()),
            Span::raw(inert(&b.breaker).into_owned()),
            Span::styled(" of ", t.accent()),
            Span::raw(inert(&b.agent).into_owned()),
        ]),
        kv(t, "why open", inert(&b.reason).into_owned()),
        kv(t, "since", when_zoned(s, b.since)),
        kv(t, "until", when_zoned(s, b.until)),
        Line::from(Span::styled(
            "The agent's calls are judged by policy again at once (signed, audited).",
            t.muted(),
        )),
        Line::default(),
        Line::from(Span::styled("Reason (required)", t.muted())),
        input(t, &r.reason, true),
    ];
    if let Some(err) = &r.error {
        lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
    }
    lines.push(Line::default());
    let key = |a| s.keymap.key_for(Section::Dialog, a);
    lines.push(Line::from(Span::styled(
        format!(
            "{} send · {} cancel",
            key(Action::Confirm),
            key(Action::Cancel)
        ),
        t.accent(),
    )));
    lines
}
