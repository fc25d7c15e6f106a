//! The help popup: every binding of the active keymap with its description, the text-field and
//! mouse keys, scrollable (keys and wheel) with a scroll bar and a "more" count, so every
//! binding can be read even at 80×24.

use ratatui::layout::{Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState, Wrap,
};
use ratatui::Frame;

use super::super::keymap::{Action, Section};
use super::super::state::State;
use super::layout::{centered, wrapped_rows};

/// The popup's widest; narrower terminals get their whole width.
const WIDTH: u16 = 96;

fn title(section: Section) -> &'static str {
    match section {
        Section::Global => "Everywhere",
        Section::Queue => "Queue",
        Section::Flagged => "Flagged",
        Section::KillSwitches => "Kill switches",
        Section::History => "History",
        Section::Dialog => "In a dialog",
        Section::Audit => "Audit",
        Section::Grants => "Grants",
        Section::Budgets => "Budgets",
        Section::Metrics => "Metrics",
    }
}

fn row(s: &State, keys: &str, desc: &str) -> Line<'static> {
    let t = &s.theme;
    Line::from(vec![
        Span::styled(format!("  {keys:<16} "), t.fg(t.json_key)),
        Span::raw(desc.to_string()),
    ])
}

fn lines(s: &State) -> Vec<Line<'static>> {
    let t = &s.theme;
    let mut lines = Vec::new();
    for section in Section::ALL {
        let bindings = s.keymap.bindings(section);
        if bindings.is_empty() {
            continue;
        }
        lines.push(Line::from(Span::styled(title(section), t.accent())));
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(|k| k.label()).collect();
            let keys = if keys.is_empty() {
                "(unbound)".to_string()
            } else {
                keys.join(" ")
            };
            lines.push(row(s, &keys, &b.desc));
        }
    }
    // The text fields' editing keys are tui-input's, not the keymap's: listed so they are found.
    lines.push(Line::from(Span::styled("In a text field", t.accent())));
    lines.push(row(s, "← → Home End", "Move the cursor"));
    lines.push(row(
        s,
        "Backspace Delete",
        "Delete the character before / under the cursor",
    ));
    lines.push(row(
        s,
        "Ctrl-w Alt-Bksp",
        "Delete the word before the cursor",
    ));
    lines.push(row(s, "Ctrl-u", "Clear the field"));
    lines.push(Line::from(Span::styled("Mouse", t.accent())));
    lines.push(row(
        s,
        "click",
        "Select a row, or switch to a view by its tab",
    ));
    lines.push(row(
        s,
        "wheel",
        "Scroll the list, the open detail or this help",
    ));
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "Rebind keys in <config dir>/keymap.toml (a key may do one thing per view).",
        t.muted(),
    )));
    lines
}

/// Where the popup goes, how many rows its text takes and how far it can scroll.
fn geometry(area: Rect, lines: &[Line]) -> (Rect, usize, u16) {
    let width = WIDTH.min(area.width);
    let total = wrapped_rows(lines, width.saturating_sub(2) as usize);
    let r = centered(area, width, (total as u16).saturating_add(2));
    let inner = r.height.saturating_sub(2) as usize;
    (r, total, total.saturating_sub(inner) as u16)
}

/// How far the help can scroll on a `width`×`height` screen: the last row at the bottom edge.
pub fn help_max_scroll(s: &State, width: u16, height: u16) -> u16 {
    let lines = lines(s);
    geometry(Rect::new(0, 0, width, height), &lines).2
}

pub fn render(f: &mut Frame, area: Rect, s: &State) {
    let t = &s.theme;
    let lines = lines(s);
    let (r, total, max) = geometry(area, &lines);
    let scroll = s.help_scroll.min(max);
    let key = |a: Action| s.keymap.key_for(Section::Global, a);
    let closes = format!(
        "{} closes",
        s.keymap.key_for(Section::Dialog, Action::Cancel)
    );
    let hint = if max == 0 {
        format!(" {closes} ")
    } else {
        let inner = r.height.saturating_sub(2) as usize;
        let below = total.saturating_sub(scroll as usize + inner);
        format!(
            " ▲ {scroll} more · ▼ {below} more · {}/{} {}/{} scroll · {closes} ",
            key(Action::Down),
            key(Action::Up),
            key(Action::PageDown),
            key(Action::PageUp),
        )
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .style(t.base())
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.fg(t.accent))
                    .title(Span::styled(" Help: key bindings ", t.accent()))
                    .title_bottom(Line::from(Span::styled(hint, t.muted())).right_aligned()),
            ),
        r,
    );
    if max > 0 {
        let mut bar = ScrollbarState::new(max as usize + 1).position(scroll as usize);
        f.render_stateful_widget(
            Scrollbar::new(ScrollbarOrientation::VerticalRight)
                .begin_symbol(None)
                .end_symbol(None)
                .thumb_style(t.accent())
                .track_style(t.muted()),
            r.inner(Margin::new(0, 1)),
            &mut bar,
        );
    }
}
