//! Keys: what a key press does in the current view. Part of `update` (the only place state
//! changes); keys inside a dialog are `dialog_keys`' job, typing into a text field `fields`'.

use crossterm::event::{KeyCode, KeyEvent};

use crate::protocol::{FlagVerdict, Vote};

use super::command::Command;
use super::dialog::Dialog;
use super::dialog_keys::{on_dialog_key, quit, start_decision, start_flip, start_review};
use super::fields::edit_filter;
use super::keymap::{Action, Section};
use super::scroll::PAGE;
use super::selection::move_to;
use super::state::{Level, State, View};
use super::view_keys::section_of;
use super::{audit_query, batch, history_search};

pub(super) fn on_key(s: &mut State, k: KeyEvent, fx: &mut Vec<Command>) {
    if s.pending_quit {
        // y, or the quit key again (ctrl-c twice), confirms; anything else keeps editing.
        let again = s.keymap.action(Section::Dialog, &k) == Some(Action::Quit);
        if again || matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            s.quit = true;
            fx.push(Command::Quit);
        }
        s.pending_quit = false;
        return;
    }
    if s.filter_editing {
        // The selection stays on its item if the filter still shows it (`update` reselects).
        return edit_filter(s, &k);
    }
    if s.dialog.is_some() {
        return on_dialog_key(s, k, fx);
    }
    if s.deny_all_prefix {
        return batch::on_prefix_key(s, &k, fx);
    }
    let Some(action) = s.keymap.action(section_of(s.view), &k) else {
        return;
    };
    on_action(s, action, fx);
}

pub(super) fn on_action(s: &mut State, action: Action, fx: &mut Vec<Command>) {
    // From the first key on, the cursor is the person's: it never jumps to another escalation.
    s.cursor_untouched = false;
    // Rows are counted only where needed (`move_to` clamps): with a filter over thousands
    // of escalations, every count is a pass over them.
    let sel = s.view.index();
    let detail = s.detail_open
        && matches!(
            s.view,
            View::Queue | View::History | View::Flagged | View::KillSwitches | View::Audit
        );
    match action {
        Action::Down if detail => s.detail_scroll = s.detail_scroll.saturating_add(1),
        Action::Up if detail => s.detail_scroll = s.detail_scroll.saturating_sub(1),
        Action::PageDown if detail => s.detail_scroll = s.detail_scroll.saturating_add(PAGE as u16),
        Action::PageUp if detail => s.detail_scroll = s.detail_scroll.saturating_sub(PAGE as u16),
        Action::Down => move_to(s, s.selected[sel] + 1),
        Action::Up => move_to(s, s.selected[sel].saturating_sub(1)),
        Action::PageDown => move_to(s, s.selected[sel] + PAGE),
        Action::PageUp => move_to(s, s.selected[sel].saturating_sub(PAGE)),
        Action::Top => move_to(s, 0),
        Action::Bottom => move_to(s, usize::MAX),
        Action::NextView | Action::PrevView => {
            let n = View::ALL.len();
            let step = if action == Action::NextView { 1 } else { n - 1 };
            s.view = View::ALL[(sel + step) % n];
            s.detail_open = false;
            s.detail_scroll = 0;
        }
        // Enter opens the detail in every view; a kill switch flips only on its own key.
        Action::Open => {
            let views = [
                View::Queue,
                View::History,
                View::Flagged,
                View::KillSwitches,
                View::Audit,
            ];
            if views.contains(&s.view) && s.row_count() > 0 {
                s.detail_open = true;
                s.detail_scroll = 0;
            }
        }
        Action::Back => {
            if s.detail_open {
                s.detail_open = false;
                s.detail_scroll = 0;
            } else if history_search::close(s) {
            } else if !s.filter.is_empty() {
                s.filter.clear();
            } else {
                s.message = None;
            }
        }
        // In the Audit view the filter is the server-side query.
        Action::Filter if s.view == View::Audit => audit_query::open_form(s),
        Action::Filter => s.filter_editing = true,
        Action::Help => {
            s.dialog = Some(Dialog::Help);
            s.help_scroll = 0;
        }
        Action::Quit => quit(s, fx),
        Action::NextMine => next_mine(s),
        Action::PriorArgs => super::prior::next_prior_args(s),
        Action::Approve | Action::Deny => {
            let vote = if action == Action::Approve {
                Vote::Approve
            } else {
                Vote::Deny
            };
            // With rows marked, the decision is for all of them.
            if !batch::start_batch(s, vote, fx) {
                start_decision(s, vote, fx);
            }
        }
        Action::Mark => batch::toggle_mark(s),
        Action::ClearMarks => batch::clear_marks(s),
        Action::DenyAll => batch::start_deny_all(s),
        Action::Search if s.view == View::Audit => audit_query::open_form(s),
        Action::Search => history_search::open_form(s),
        Action::Refresh if s.view == View::Budgets => super::budgets::refresh(s, fx),
        Action::Refresh if s.view == View::Metrics => super::figures::fetch(s, fx),
        Action::ShorterWindow | Action::LongerWindow => {
            super::figures::change_window(s, action, fx)
        }
        Action::Refresh if audit_query::may_audit(s) => audit_query::restart(s, fx),
        Action::Refresh => {}
        Action::Acknowledge => start_review(s, FlagVerdict::Acknowledge),
        Action::Incident => start_review(s, FlagVerdict::Incident),
        Action::Toggle => start_flip(s, None),
        Action::StopAll => start_flip(s, Some("global".into())),
        Action::Revoke => super::grant_keys::start_revoke(s),
        Action::Budgets => {
            s.view = View::Budgets;
            s.detail_open = false;
            s.detail_scroll = 0;
        }
        Action::Reset => super::breaker_reset::start(s),
        Action::Extend
        | Action::Claim
        | Action::Snooze
        | Action::Reassign
        | Action::ShowSnoozed => super::workflow::on_action(s, action, fx),
        Action::Confirm | Action::Cancel | Action::NextField | Action::Grant => {}
    }
}

/// The next escalation after the cursor that you may decide, wrapping around.
fn next_mine(s: &mut State) {
    if s.view != View::Queue {
        return;
    }
    let rows = s.queue_rows();
    let n = rows.len();
    let from = s.selected[0];
    let found = (1..=n)
        .map(|step| (from + step) % n.max(1))
        .find(|&pos| s.not_mine(&s.pending[rows[pos]]).is_none());
    match found {
        Some(pos) => move_to(s, pos),
        None => s.say(
            Level::Info,
            "nothing in the queue is yours to decide".into(),
        ),
    }
}
