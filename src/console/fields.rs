//! Text fields: the filter and the dialogs' reason, note and confirmation fields, typed into
//! key by key or pasted. Part of `update`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::dialog::{DecisionDraft, Dialog};
use super::state::{Level, State};

/// Longest filter text.
const MAX_FILTER_LEN: usize = crate::protocol::MAX_NAME_LEN;

/// Text typed into a field (printable characters without ctrl/alt).
fn typed(k: &KeyEvent) -> Option<char> {
    match k.code {
        KeyCode::Char(c)
            if !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

/// A key while the filter is being typed: Enter keeps it, Esc clears it.
pub(super) fn edit_filter(s: &mut State, k: &KeyEvent) {
    match k.code {
        KeyCode::Enter => s.filter_editing = false,
        KeyCode::Esc => {
            s.filter_editing = false;
            s.filter.clear();
        }
        KeyCode::Backspace => {
            s.filter.pop();
        }
        _ => {
            if let Some(c) = typed(k) {
                if s.filter.chars().count() < MAX_FILTER_LEN {
                    s.filter.push(c);
                }
            }
        }
    }
}

/// Pasted text (bracketed paste) goes into the focused text field, as one line: a newline in
/// it never sends anything. With no text field open it is ignored, never read as keys.
pub(super) fn on_paste(s: &mut State, text: &str) {
    if s.pending_quit {
        return;
    }
    let field: (&mut String, usize) = if s.filter_editing {
        (&mut s.filter, MAX_FILTER_LEN)
    } else {
        match s.dialog.as_mut() {
            Some(Dialog::Decision(d)) => {
                d.error = None;
                decision_field(d)
            }
            Some(Dialog::Revoke(r)) => {
                r.error = None;
                (&mut r.reason, crate::protocol::MAX_TEXT_LEN)
            }
            Some(Dialog::Review(r)) => {
                r.error = None;
                (&mut r.note, crate::protocol::MAX_TEXT_LEN)
            }
            Some(Dialog::Flip(f)) => {
                f.error = None;
                if f.in_confirm {
                    (&mut f.confirm, crate::protocol::MAX_NAME_LEN)
                } else {
                    (&mut f.reason, crate::protocol::MAX_TEXT_LEN)
                }
            }
            _ => {
                s.say(Level::Info, "paste ignored: no text field is open".into());
                return;
            }
        }
    };
    let (field, max) = field;
    let mut room = max.saturating_sub(field.chars().count());
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
        field.push(c);
        room -= 1;
    }
}

/// The approve dialog's focused field: the reason, or the grant's condition or duration.
fn decision_field(d: &mut DecisionDraft) -> (&mut String, usize) {
    use super::grant_form::GrantFocus;
    match d.grant.as_mut().filter(|g| g.on) {
        Some(g) if g.focus == GrantFocus::Condition => {
            (&mut g.condition, crate::protocol::MAX_GRANT_CONDITION_LEN)
        }
        Some(g) if g.focus == GrantFocus::Duration => (&mut g.duration, 16),
        _ => (&mut d.reason, crate::protocol::MAX_TEXT_LEN),
    }
}

pub(super) fn edit_field(dialog: &mut Dialog, k: &KeyEvent) {
    let field = match dialog {
        Dialog::Decision(d) => {
            d.error = None;
            if k.code == KeyCode::Tab {
                if let Some(g) = d.grant.as_mut() {
                    g.next_focus();
                }
                return;
            }
            decision_field(d).0
        }
        Dialog::Revoke(r) => {
            r.error = None;
            &mut r.reason
        }
        Dialog::Review(r) => {
            r.error = None;
            &mut r.note
        }
        Dialog::Flip(f) => {
            f.error = None;
            if k.code == KeyCode::Tab && f.confirm_word.is_some() {
                f.in_confirm = !f.in_confirm;
                return;
            }
            if f.in_confirm {
                &mut f.confirm
            } else {
                &mut f.reason
            }
        }
        _ => return,
    };
    match k.code {
        KeyCode::Backspace => {
            field.pop();
        }
        _ => {
            if let Some(c) = typed(k) {
                if field.chars().count() < crate::protocol::MAX_TEXT_LEN {
                    field.push(c);
                }
            }
        }
    }
}
