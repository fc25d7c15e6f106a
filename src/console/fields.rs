//! Text fields: the filter and the dialogs' reason, note and confirmation fields. Editing is
//! `tui-input`'s (cursor, ←/→, Home/End, Ctrl-w and Alt-Backspace word delete, Delete,
//! Ctrl-u), so a field edits like text everywhere else; this module adds the limits and the
//! rule that pasted text is one line. Part of `update`.

use crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::dialog::Dialog;
use super::keymap::{Action, Section};
use super::state::{Level, State};

/// Longest filter text.
const MAX_FILTER_LEN: usize = crate::protocol::MAX_NAME_LEN;

/// One line of editable text with a cursor. Reads as the `&str` it holds.
#[derive(Debug, Clone, Default)]
pub struct TextField(Input);

impl TextField {
    pub fn value(&self) -> &str {
        self.0.value()
    }

    /// Where the cursor is, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.0.cursor()
    }

    pub fn clear(&mut self) {
        self.0.reset();
    }

    /// An editing key (anything but the keymap's own keys); typed characters past `max` are
    /// dropped. Returns whether the key was an editing key.
    pub fn key(&mut self, k: &KeyEvent, max: usize) -> bool {
        let Some(req) = to_input_request(&TermEvent::Key(*k)) else {
            return false;
        };
        if matches!(req, InputRequest::InsertChar(_)) && self.value().chars().count() >= max {
            return true;
        }
        self.0.handle(req);
        true
    }

    /// Pasted text at the cursor, as one line: line breaks and tabs become spaces (a newline in
    /// it never sends anything), other control characters are dropped, and it stops at `max`.
    pub fn paste(&mut self, text: &str, max: usize) {
        let mut room = max.saturating_sub(self.value().chars().count());
        let mut after_cr = false;
        for c in text.chars() {
            if room == 0 {
                break;
            }
            let was_cr = std::mem::replace(&mut after_cr, c == '\r');
            let c = match c {
                '\n' if was_cr => continue, // \r\n is one line break: one space
                '\r' | '\n' | '\t' => ' ',
                c if c.is_control() => continue,
                c => c,
            };
            self.0.handle(InputRequest::InsertChar(c));
            room -= 1;
        }
    }
}

impl std::ops::Deref for TextField {
    type Target = str;
    fn deref(&self) -> &str {
        self.value()
    }
}

impl PartialEq for TextField {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value() && self.cursor() == other.cursor()
    }
}

impl PartialEq<&str> for TextField {
    fn eq(&self, other: &&str) -> bool {
        self.value() == *other
    }
}

impl From<String> for TextField {
    fn from(s: String) -> Self {
        TextField(Input::new(s))
    }
}

impl From<&str> for TextField {
    fn from(s: &str) -> Self {
        TextField::from(s.to_string())
    }
}

/// A key while the filter is being typed: the dialog keys confirm (keep it) or cancel (clear it).
pub(super) fn edit_filter(s: &mut State, k: &KeyEvent) {
    match s.keymap.action(Section::Dialog, k) {
        Some(Action::Confirm) => s.filter_editing = false,
        Some(Action::Cancel) => {
            s.filter_editing = false;
            s.filter.clear();
        }
        _ => {
            s.filter.key(k, MAX_FILTER_LEN);
        }
    }
}

/// The focused field of an open dialog and its longest length; clears the dialog's error, since
/// the person is changing what it was about.
fn focused(dialog: &mut Dialog) -> Option<(&mut TextField, usize)> {
    match dialog {
        Dialog::Decision(d) => {
            d.error = None;
            Some((&mut d.reason, crate::protocol::MAX_TEXT_LEN))
        }
        Dialog::Review(r) => {
            r.error = None;
            Some((&mut r.note, crate::protocol::MAX_TEXT_LEN))
        }
        Dialog::Flip(f) => {
            f.error = None;
            Some(if f.in_confirm {
                (&mut f.confirm, crate::protocol::MAX_NAME_LEN)
            } else {
                (&mut f.reason, crate::protocol::MAX_TEXT_LEN)
            })
        }
        _ => None,
    }
}

/// Pasted text (bracketed paste) goes into the focused text field. With no text field open it
/// is ignored, never read as keys.
pub(super) fn on_paste(s: &mut State, text: &str) {
    if s.pending_quit {
        return;
    }
    if s.filter_editing {
        return s.filter.paste(text, MAX_FILTER_LEN);
    }
    match s.dialog.as_mut().and_then(focused) {
        Some((field, max)) => field.paste(text, max),
        None => s.say(Level::Info, "paste ignored: no text field is open".into()),
    }
}

/// A key in a dialog that is not one of the dialog's bindings: an edit of the focused field.
pub(super) fn edit_field(dialog: &mut Dialog, k: &KeyEvent) {
    if let Some((field, max)) = focused(dialog) {
        field.key(k, max);
    }
}

/// The dialog's next-field key: between the kill switch's reason and confirmation word.
pub(super) fn next_field(dialog: &mut Dialog) {
    if let Dialog::Flip(f) = dialog {
        if f.confirm_word.is_some() {
            f.in_confirm = !f.in_confirm;
        }
    }
}
