//! Key hints: the key the active keymap binds to an action in the current view.

use super::super::keymap::Action;
use super::super::state::State;
use super::super::view_keys::section_of;

/// The key bound to `action` in the current view (or globally), as a hint shows it.
pub fn key(s: &State, action: Action) -> String {
    s.keymap.key_for(section_of(s.view), action)
}
