//! A text field's text with its cursor: the character under the cursor (or a space at the end)
//! drawn reversed, each part shown inert (a hostile paste cannot style the screen).

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::protocol::inert;

use super::super::text_field::TextField;
use super::super::theme::Theme;

pub fn spans(field: &TextField, focused: bool, style: Style) -> Vec<Span<'static>> {
    let text = field.value();
    if !focused {
        return vec![Span::styled(inert(text).into_owned(), style)];
    }
    let at = text
        .char_indices()
        .nth(field.cursor())
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let (before, rest) = text.split_at(at);
    let mut chars = rest.chars();
    let under = chars.next().map(String::from).unwrap_or_else(|| " ".into());
    vec![
        Span::styled(inert(before).into_owned(), style),
        Span::styled(
            inert(&under).into_owned(),
            style.add_modifier(Modifier::REVERSED),
        ),
        Span::styled(inert(chars.as_str()).into_owned(), style),
    ]
}

/// A text field; the focused one shows its cursor as a reversed cell where the next character
/// goes, so Home, End and the arrows are visible as they move it.
pub fn input(t: &Theme, field: &TextField, focused: bool) -> Line<'static> {
    Line::from(
        std::iter::once(Span::styled("> ", t.accent()))
            .chain(spans(field, focused, t.selected()))
            .collect::<Vec<_>>(),
    )
}
