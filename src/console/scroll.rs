//! Scrolling the help popup, by the movement keys and by the wheel. Part of `update`; how far it
//! can go is the view's geometry (`views::help_max_scroll`), so the last row stops at the bottom
//! edge instead of scrolling into blank space.

use super::keymap::Action;
use super::state::State;
use super::views::help_max_scroll;

/// Rows a page key moves.
pub(super) const PAGE: usize = 10;

/// The help's last scroll position on this screen; unclamped before the size is known.
fn max(s: &State) -> u16 {
    match s.screen {
        Some((w, h)) => help_max_scroll(s, w, h),
        None => u16::MAX,
    }
}

/// A movement key while the help is open.
pub(super) fn help_scroll(s: &mut State, action: Action) {
    let to = match action {
        Action::Down => s.help_scroll.saturating_add(1),
        Action::Up => s.help_scroll.saturating_sub(1),
        Action::PageDown => s.help_scroll.saturating_add(PAGE as u16),
        Action::PageUp => s.help_scroll.saturating_sub(PAGE as u16),
        Action::Top => 0,
        Action::Bottom => u16::MAX,
        _ => return,
    };
    s.help_scroll = to.min(max(s));
}

/// A wheel turn over the help: `rows` down (positive) or up.
pub(super) fn help_wheel(s: &mut State, rows: i32) {
    let to = (s.help_scroll as i32 + rows).clamp(0, u16::MAX as i32) as u16;
    s.help_scroll = to.min(max(s));
}
