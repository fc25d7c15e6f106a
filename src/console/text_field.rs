//! One line of editable text with a cursor, edited by `tui-input` (a maintained widget: cursor,
//! word motions and deletes, Unicode-aware), with the console's limits on top.

use crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

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
