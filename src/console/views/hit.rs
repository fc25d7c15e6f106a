//! What is under a point of the screen: a view's tab, a list row, the detail. Measured with the
//! same layout the views draw with, so a click lands on the row that is shown there.

use ratatui::layout::{Position, Rect};

use super::super::state::{State, View};
use super::layout::{areas, width, window};
use super::status::tab_texts;
use super::{audit, budgets, lists, queue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tab(View),
    /// A row of the current view's list, as an index into its (filtered) rows.
    Row(usize),
    Detail,
    Nothing,
}

/// What is drawn at column `x`, row `y` of a `width`×`height` screen.
pub fn target_at(s: &State, screen: (u16, u16), x: u16, y: u16) -> Target {
    let at = Position::new(x, y);
    let [tabs, main, _, _] = areas(Rect::new(0, 0, screen.0, screen.1));
    if tabs.contains(at) {
        return tab_at(s, x, screen.0);
    }
    if !main.contains(at) {
        return Target::Nothing;
    }
    let (list, detail, total, sel) = match s.view {
        View::Queue | View::History if s.detail_open && s.selected_escalation().is_some() => {
            return Target::Detail
        }
        View::Flagged if s.detail_open && s.selected_flagged().is_some() => return Target::Detail,
        View::Queue => {
            let [list, detail] = queue::split(main, s);
            (list, Some(detail), s.queue_len(), s.selected[0])
        }
        View::Flagged => {
            let n = s.flagged_rows().len();
            let [list, detail] = lists::split(main, n);
            (list, Some(detail), n, s.selected[1])
        }
        View::KillSwitches | View::Audit if s.detail_open => return Target::Detail,
        View::KillSwitches => {
            let n = s.switch_rows().len();
            let [list, detail] = lists::split(main, n);
            (list, Some(detail), n, s.selected[2])
        }
        View::History => (main, None, s.history_rows().len(), s.selected[3]),
        View::Grants => {
            let i = View::Grants.index();
            (main, None, s.grant_rows().len(), s.selected[i])
        }
        View::Budgets => return budget_row_at(s, main, y),
        View::Metrics => return Target::Nothing,
        View::Audit => {
            let [_, list] = audit::split(main);
            let i = View::Audit.index();
            (list, None, s.audit.records.len(), s.selected[i])
        }
    };
    if detail.is_some_and(|d| d.contains(at)) {
        return Target::Detail;
    }
    // Inside the border, below the header row.
    let body = Rect {
        x: list.x + 1,
        y: list.y + 2,
        width: list.width.saturating_sub(2),
        height: list.height.saturating_sub(3),
    };
    if !body.contains(at) {
        return Target::Nothing;
    }
    let range = window(total, sel, body.height as usize);
    let row = range.start + (y - body.y) as usize;
    if row < range.end {
        Target::Row(row)
    } else {
        Target::Nothing
    }
}

/// A row of the Budgets view: its limits table above, its breakers table below, each shown
/// from its first row unless the cursor is in it (as `budgets::render` draws them).
fn budget_row_at(s: &State, main: Rect, y: u16) -> Target {
    let rows = s.budget_rows();
    let limits = rows
        .iter()
        .filter(|r| matches!(r, super::super::budget_state::BudgetRow::Limit(_)))
        .count();
    let breakers = rows.len() - limits;
    let sel = s.selected[View::Budgets.index()];
    let [top, bottom] = budgets::split(main, limits, breakers);
    let (area, total, sel, first) = if top.contains(Position::new(top.x, y)) {
        (top, limits, (sel < limits).then_some(sel), 0)
    } else {
        (bottom, breakers, sel.checked_sub(limits), limits)
    };
    let (body_y, height) = (area.y + 2, area.height.saturating_sub(3) as usize);
    if y < body_y {
        return Target::Nothing;
    }
    let range = match sel {
        Some(sel) => window(total, sel, height),
        None => 0..total.min(height),
    };
    let row = range.start + (y - body_y) as usize;
    if row < range.end {
        Target::Row(first + row)
    } else {
        Target::Nothing
    }
}

fn tab_at(s: &State, x: u16, cols: u16) -> Target {
    let (lead, tabs) = tab_texts(s, cols);
    let mut left = width(lead);
    for (v, text) in tabs {
        let w = width(&text);
        if (left..left + w).contains(&(x as usize)) {
            return Target::Tab(v);
        }
        left += w + 1;
    }
    Target::Nothing
}
