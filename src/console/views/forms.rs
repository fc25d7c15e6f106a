//! The query form popup: the Audit view's filters or a history search, one field per line with
//! what it accepts, the focused one marked.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::protocol::inert;

use super::super::query_form::{FormKind, QueryForm};
use super::super::state::State;
use super::layout::{centered, wrapped_rows};

pub fn render(f: &mut Frame, area: Rect, s: &State, q: &QueryForm) {
    let t = &s.theme;
    let title = match q.kind {
        FormKind::Audit => " Audit query (signed read of the server's audit log) ",
        FormKind::History => " Search all history on the server ",
    };
    let mut lines = Vec::new();
    for (i, field) in q.fields.iter().enumerate() {
        let focused = i == q.focus;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}{:<8}", if focused { "» " } else { "  " }, field.name),
                if focused { t.accent() } else { t.muted() },
            ),
            Span::styled(
                format!("{}{}", inert(&field.value), if focused { "▏" } else { "" }),
                if focused { t.selected() } else { t.base() },
            ),
        ]));
        lines.push(Line::from(Span::styled(
            format!("          {}", field.hint),
            t.muted(),
        )));
    }
    lines.push(Line::default());
    if let Some(err) = &q.error {
        lines.push(Line::from(Span::styled(format!("✗ {err}"), t.fg(t.danger))));
    }
    lines.push(Line::from(Span::styled(
        "Tab/↑/↓ field · Enter run (empty fields match all) · Esc cancel",
        t.accent(),
    )));
    let width = 80.min(area.width);
    let r = centered(
        area,
        width,
        wrapped_rows(&lines, width.saturating_sub(2) as usize) as u16 + 2,
    );
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .style(t.base())
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.fg(t.accent))
                    .title(Span::styled(title, t.accent())),
            ),
        r,
    );
}
