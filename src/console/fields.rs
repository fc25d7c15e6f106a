//! Text fields: the filter and the dialogs' reason, note and confirmation fields. Editing is
//! `tui-input`'s (cursor, ←/→, Home/End, Ctrl-w and Alt-Backspace word delete, Delete,
//! Ctrl-u), so a field edits like text everywhere else; this module adds the limits and the
//! rule that pasted text is one line. Part of `update`.

use crossterm::event::KeyEvent;

use super::dialog::{DecisionDraft, Dialog};
use super::keymap::{Action, Section};
use super::state::{Level, State};
use super::text_field::TextField;

/// Longest filter text.
const MAX_FILTER_LEN: usize = crate::protocol::MAX_NAME_LEN;

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
            Some(decision_field(d))
        }
        Dialog::Revoke(r) => {
            r.error = None;
            Some((&mut r.reason, crate::protocol::MAX_TEXT_LEN))
        }
        Dialog::BreakerReset(r) => {
            r.error = None;
            Some((&mut r.reason, crate::protocol::MAX_TEXT_LEN))
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
        Dialog::Batch(b) if !b.sent => {
            b.error = None;
            Some((&mut b.reason, crate::protocol::MAX_TEXT_LEN))
        }
        Dialog::Query(q) => {
            q.error = None;
            Some((q.focused_mut(), MAX_FILTER_LEN))
        }
        Dialog::Handling(h) => {
            h.error = None;
            Some((super::workflow::field(h), crate::protocol::MAX_TEXT_LEN))
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

/// The approve dialog's focused field: the reason, or the grant's condition or duration.
fn decision_field(d: &mut DecisionDraft) -> (&mut TextField, usize) {
    use super::grant_form::GrantFocus;
    match d.grant.as_mut().filter(|g| g.on) {
        Some(g) if g.focus == GrantFocus::Condition => {
            (&mut g.condition, crate::protocol::MAX_GRANT_CONDITION_LEN)
        }
        Some(g) if g.focus == GrantFocus::Duration => (&mut g.duration, 16),
        _ => (&mut d.reason, crate::protocol::MAX_TEXT_LEN),
    }
}

/// The dialog's next-field key: between the kill switch's reason and confirmation word, and
/// between the approve dialog's reason and its grant's condition and duration.
pub(super) fn next_field(dialog: &mut Dialog) {
    match dialog {
        Dialog::Flip(f) if f.confirm_word.is_some() => f.in_confirm = !f.in_confirm,
        Dialog::Decision(d) => {
            if let Some(g) = d.grant.as_mut() {
                g.next_focus();
            }
        }
        _ => {}
    }
}

/// A key typed into a free text field of a dialog that handles its own keys (batch, query
/// form, extend/snooze/reassign): an edit, up to the longest text.
pub(super) fn edit_text(field: &mut TextField, k: &KeyEvent) {
    field.key(k, crate::protocol::MAX_TEXT_LEN);
}
