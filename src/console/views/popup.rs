//! A pop-up over the view: a centred box as tall as its wrapped lines, and the `key  value`
//! line the dialogs are made of.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::super::state::State;
use super::super::theme::Theme;
use super::layout::{self, centered};

pub fn kv(t: &Theme, k: &str, v: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {k:<11}"), t.muted()),
        Span::raw(v),
    ])
}

/// Lines wrap: the rows they take inside a bordered box `width` wide, so nothing is cut off.
fn wrapped_rows(lines: &[Line], width: u16) -> u16 {
    layout::wrapped_rows(lines, width.saturating_sub(2) as usize) as u16
}

pub fn popup(
    f: &mut Frame,
    area: Rect,
    s: &State,
    title: &str,
    lines: Vec<Line<'static>>,
    width: u16,
) {
    let t = &s.theme;
    let r = centered(area, width, wrapped_rows(&lines, width.min(area.width)) + 2);
    f.render_widget(Clear, r);
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .style(t.base())
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.fg(t.accent))
                .title(Span::styled(title.to_string(), t.accent())),
        );
    f.render_widget(p, r);
}
