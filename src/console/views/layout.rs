//! Where things go on screen: the window of rows that keeps the cursor visible, how many rows
//! wrapped text takes, a centred popup.

use ratatui::layout::{Constraint, Layout, Rect};

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
