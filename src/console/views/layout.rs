//! Where things go on screen: the window of rows that keeps the cursor visible, how many rows
//! wrapped text takes, a centred popup, table columns sized to their content, and the smallest
//! terminal the console draws in.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::super::state::State;

/// Below this the console says the terminal is too small instead of drawing a broken layout:
/// the queue's list and an escalation's deadline, digest and tool must fit.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// The one message a too-small terminal gets, in the middle, instead of a broken layout.
pub fn render_too_small(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let lines = vec![
        Line::from(Span::styled("Terminal too small", t.fg(t.warning))),
        Line::from(format!(
            "{}×{} here; gavel needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
            area.width, area.height
        )),
        Line::from(Span::styled("Enlarge the window (q quits).", t.muted())),
    ];
    let rows = super::wrap::wrap_lines(lines.clone(), area.width as usize).len() as u16;
    let top = area.height.saturating_sub(rows) / 2;
    let r = Rect {
        y: area.y + top,
        height: area.height - top,
        ..area
    };
    let p = Paragraph::new(lines).centered().wrap(Wrap { trim: true });
    f.render_widget(p, r);
}

/// One table column: the widest of its header and cells, the widths it may be squeezed to or
/// grown to, and how much it matters when room is short (100 is plain; a tool name, say, at 130
/// keeps more of its width than a column repeated in the detail, at 80).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub want: usize,
    pub min: usize,
    pub max: usize,
    pub weight: usize,
}

impl Column {
    pub fn new(min: usize, max: usize) -> Column {
        Column {
            want: 0,
            min,
            max,
            weight: 100,
        }
    }

    pub fn weight(self, weight: usize) -> Column {
        Column {
            weight: weight.max(1),
            ..self
        }
    }

    /// Widen to fit `text` (in terminal columns).
    pub fn fit(&mut self, text: &str) {
        self.want = self.want.max(unicode_width::UnicodeWidthStr::width(text));
    }
}

/// Widths for `cols` in `available` terminal columns with `gap` between columns. Each column
/// gets what its content wants, within its bounds; when that is too wide the widest columns
/// (for their weight) give way first, down to their minimum (and below it only if even the
/// minimums do not fit).
/// Cells are then clipped with `…` to these widths, so nothing is cut silently, and no column
/// is wider than its content: the room left over stays at the right.
pub fn column_widths(cols: &[Column], available: usize, gap: usize) -> Vec<u16> {
    let mut w: Vec<usize> = cols
        .iter()
        .map(|c| c.want.clamp(c.min, c.max.max(c.min)))
        .collect();
    let room = available.saturating_sub(gap * cols.len().saturating_sub(1));
    for floor in [true, false] {
        while w.iter().sum::<usize>() > room {
            let widest = (0..w.len())
                .filter(|&i| w[i] > if floor { cols[i].min } else { 1 })
                .max_by_key(|&i| (w[i] * 1000 / cols[i].weight, i));
            match widest {
                Some(i) => w[i] -= 1,
                None => break,
            }
        }
    }
    w.into_iter().map(|x| x as u16).collect()
}

/// The window of rows to draw so that `selected` is visible.
pub fn window(total: usize, selected: usize, height: usize) -> std::ops::Range<usize> {
    if total <= height || height == 0 {
        return 0..total;
    }
    let start = selected.saturating_sub(height / 2).min(total - height);
    start..start + height
}

/// Rows `lines` take when word-wrapped into `width` columns (greedy, like ratatui's wrapper).
pub fn wrapped_rows(lines: &[ratatui::text::Line], width: usize) -> usize {
    let width = width.max(1);
    lines
        .iter()
        .map(|line| {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            let mut rows = 1;
            let mut col = 0;
            for word in text.split_inclusive(' ') {
                let w = ratatui::text::Span::raw(word).width();
                let visible = ratatui::text::Span::raw(word.trim_end()).width();
                if col > 0 && col + visible > width {
                    rows += 1;
                    col = 0;
                }
                if w > width {
                    rows += (w - 1) / width;
                    col = w % width;
                } else {
                    col += w;
                }
            }
            rows
        })
        .sum()
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Columns `text` takes on screen.
pub fn width(text: &str) -> usize {
    ratatui::text::Span::raw(text).width()
}

/// The tab bar, the view, the message line and the status bar (clicks are measured against
/// the same split).
pub fn areas(area: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(min: usize, max: usize, texts: &[&str]) -> Column {
        let mut c = Column::new(min, max);
        texts.iter().for_each(|t| c.fit(t));
        c
    }

    #[test]
    fn columns_take_what_their_content_needs_when_there_is_room() {
        let cols = [
            col(6, 40, &["Scope", "tool:postgres.query"]),
            col(9, 10, &["State", "○ running"]),
            col(6, 60, &["Reason", "sending duplicates"]),
        ];
        assert_eq!(column_widths(&cols, 150, 1), vec![19, 9, 18]);
    }

    #[test]
    fn the_widest_give_way_first_and_not_below_their_minimum() {
        let cols = [
            col(8, 30, &["Agent", "refund-bot"]),
            col(10, 30, &["Tool", "stripe.refund"]),
            col(8, 30, &["Rule", "a-rule-with-a-very-long-name"]),
        ];
        // 10 + 13 + 28 + 2 gaps = 53; in 40 the rule column gives way alone, to 15.
        assert_eq!(column_widths(&cols, 40, 1), vec![10, 13, 15]);
        // In 30 everyone gives way, the widest first.
        assert_eq!(column_widths(&cols, 30, 1), vec![9, 10, 9]);
        // In 20 not even the minimums fit: still squeezed into the room, never past it.
        let w = column_widths(&cols, 20, 1);
        assert_eq!(w.iter().map(|&x| x as usize).sum::<usize>(), 18, "{w:?}");
    }

    #[test]
    fn a_heavier_column_keeps_more_of_its_width() {
        let cols = [
            col(8, 30, &["customer-support-refund-bot"]).weight(100),
            col(8, 30, &["stripe.refunds.create_partial"]).weight(150),
        ];
        // 27 + 29 in 40: both give way, the tool less.
        assert_eq!(column_widths(&cols, 41, 1), vec![16, 24]);
    }

    #[test]
    fn a_column_never_outgrows_its_maximum() {
        let cols = [col(4, 12, &["a-very-long-agent-name-indeed"])];
        assert_eq!(column_widths(&cols, 100, 1), vec![12]);
    }
}
