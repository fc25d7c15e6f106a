//! Keys: what a key press does in the current view or dialog. Part of `update` (the only place
//! state changes), split out to keep files small.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::protocol::{inert, FlagVerdict, Role, Vote};

use super::keymap::{Action, Section};
use super::replies::{fetch, not_signable};
use super::selection::move_to;
use super::state::{
    DecisionDraft, Dialog, Fetch, FlipDraft, Level, Request, ReviewDraft, State, View,
};
use super::update::{say, verdict_word, Effect, GLOBAL_CONFIRM_WORD};

const PAGE: usize = 10;
/// Longest filter text.
const MAX_FILTER_LEN: usize = crate::protocol::MAX_NAME_LEN;

fn section(view: View) -> Section {
    match view {
        View::Queue => Section::Queue,
        View::Flagged => Section::Flagged,
        View::KillSwitches => Section::KillSwitches,
        View::History => Section::History,
    }
}

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

pub(super) fn on_key(s: &mut State, k: KeyEvent, fx: &mut Vec<Effect>) {
    if s.pending_quit {
        // y, or the quit key again (ctrl-c twice), confirms; anything else keeps editing.
        let again = s.keymap.action(Section::Dialog, &k) == Some(Action::Quit);
        if again || matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            s.quit = true;
            fx.push(Effect::Quit);
        }
        s.pending_quit = false;
        return;
    }
    if s.filter_editing {
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
                if let Some(c) = typed(&k) {
                    if s.filter.chars().count() < MAX_FILTER_LEN {
                        s.filter.push(c);
                    }
                }
            }
        }
        // The selection stays on its item if the filter still shows it (`update` reselects).
        return;
    }
    if s.dialog.is_some() {
        return on_dialog_key(s, k, fx);
    }
    let Some(action) = s.keymap.action(section(s.view), &k) else {
        return;
    };
    on_action(s, action, fx);
}

fn on_action(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    let rows = s.row_count();
    let sel = s.view.index();
    let detail = s.detail_open && matches!(s.view, View::Queue | View::History | View::Flagged);
    match action {
        Action::Down if detail => s.detail_scroll = s.detail_scroll.saturating_add(1),
        Action::Up if detail => s.detail_scroll = s.detail_scroll.saturating_sub(1),
        Action::PageDown if detail => s.detail_scroll = s.detail_scroll.saturating_add(PAGE as u16),
        Action::PageUp if detail => s.detail_scroll = s.detail_scroll.saturating_sub(PAGE as u16),
        Action::Down => move_to(s, (s.selected[sel] + 1).min(rows.saturating_sub(1))),
        Action::Up => move_to(s, s.selected[sel].saturating_sub(1)),
        Action::PageDown => move_to(s, (s.selected[sel] + PAGE).min(rows.saturating_sub(1))),
        Action::PageUp => move_to(s, s.selected[sel].saturating_sub(PAGE)),
        Action::Top => move_to(s, 0),
        Action::Bottom => move_to(s, rows.saturating_sub(1)),
        Action::NextView | Action::PrevView => {
            let n = View::ALL.len();
            let step = if action == Action::NextView { 1 } else { n - 1 };
            s.view = View::ALL[(sel + step) % n];
            s.detail_open = false;
            s.detail_scroll = 0;
        }
        Action::Open => {
            if matches!(s.view, View::Queue | View::History | View::Flagged) && rows > 0 {
                s.detail_open = true;
                s.detail_scroll = 0;
            } else if s.view == View::KillSwitches {
                start_flip(s, None);
            }
        }
        Action::Back => {
            if s.detail_open {
                s.detail_open = false;
                s.detail_scroll = 0;
            } else if !s.filter.is_empty() {
                s.filter.clear();
            } else {
                s.message = None;
            }
        }
        Action::Filter => s.filter_editing = true,
        Action::Help => s.dialog = Some(Dialog::Help),
        Action::Quit => quit(s, fx),
        Action::NextMine => next_mine(s),
        Action::Approve => start_decision(s, Vote::Approve, fx),
        Action::Deny => start_decision(s, Vote::Deny, fx),
        Action::Acknowledge => start_review(s, FlagVerdict::Acknowledge),
        Action::Incident => start_review(s, FlagVerdict::Incident),
        Action::Toggle => start_flip(s, None),
        Action::StopAll => start_flip(s, Some("global".into())),
        Action::Confirm | Action::Cancel => {}
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
        None => say(
            s,
            Level::Info,
            "nothing in the queue is yours to decide".into(),
        ),
    }
}

fn start_decision(s: &mut State, vote: Vote, fx: &mut Vec<Effect>) {
    let Some(e) = s.selected_escalation().cloned() else {
        say(s, Level::Info, "nothing selected to decide".into());
        return;
    };
    if let Some(why) = s.may_not_vote(&e, vote) {
        let why = match (&s.me, &why) {
            (None, _) => "the server has not told us who you are yet (not connected)".into(),
            _ => why.to_string(),
        };
        s.dialog = Some(Dialog::NotYours {
            escalation: e.id.clone(),
            why,
        });
        return;
    }
    if s.in_flight
        .values()
        .any(|r| matches!(r, Request::Decide { escalation, .. } if *escalation == e.id))
    {
        say(
            s,
            Level::Info,
            format!("your decision on {} is still being sent", e.id),
        );
        return;
    }
    if e.args_elided().is_some() && matches!(s.fetches.get(&e.id), Some(Fetch::Failed(_)) | None) {
        fetch(s, e.id.clone(), fx);
    }
    let reason = match s.stashed.take() {
        Some(d) if d.escalation.id == e.id => d.reason,
        other => {
            s.stashed = other;
            String::new()
        }
    };
    s.dialog = Some(Dialog::Decision(DecisionDraft {
        escalation: e,
        vote,
        reason,
        error: None,
    }));
}

fn start_review(s: &mut State, verdict: FlagVerdict) {
    let Some(f) = s.selected_flagged().cloned() else {
        say(s, Level::Info, "no flagged action selected".into());
        return;
    };
    let why = if !s.me.as_ref().is_some_and(|m| m.has_role(Role::Lead)) {
        Some("only people with the lead role review flagged actions".to_string())
    } else {
        f.review.as_ref().map(|r| {
            format!(
                "already reviewed by {} ({})",
                inert(&r.body.reviewer),
                verdict_word(r.body.review)
            )
        })
    };
    if let Some(why) = why {
        s.dialog = Some(Dialog::NotYours {
            escalation: f.action.id.clone(),
            why,
        });
        return;
    }
    s.dialog = Some(Dialog::Review(ReviewDraft {
        flagged: f,
        verdict,
        note: String::new(),
        error: None,
    }));
}

fn start_flip(s: &mut State, scope: Option<String>) {
    let scope = match scope {
        Some(sc) => sc,
        None => {
            if s.view != View::KillSwitches {
                return;
            }
            match s.selected_scope() {
                Some(scope) => scope.to_string(),
                None => return,
            }
        }
    };
    if !s.me.as_ref().is_some_and(|m| m.has_role(Role::Operator)) {
        s.dialog = Some(Dialog::NotYours {
            escalation: scope,
            why: "only people with the operator role flip kill switches".into(),
        });
        return;
    }
    let on = !s.killswitches.get(&scope).is_some_and(|k| k.on);
    let confirm_word = (scope == "global" && on).then_some(GLOBAL_CONFIRM_WORD);
    s.dialog = Some(Dialog::Flip(FlipDraft {
        scope,
        on,
        reason: String::new(),
        confirm_word,
        confirm: String::new(),
        in_confirm: false,
        error: None,
    }));
}

fn on_dialog_key(s: &mut State, k: KeyEvent, fx: &mut Vec<Effect>) {
    let action = s.keymap.action(Section::Dialog, &k);
    let Some(dialog) = s.dialog.as_mut() else {
        return;
    };
    if dialog.is_notice() {
        // Only an explicit Esc or Enter (or the help key, for help) closes a notice; any other
        // key typed ahead is swallowed, never applied to the view beneath it.
        let help_again = matches!(dialog, Dialog::Help)
            && s.keymap.action(Section::Global, &k) == Some(Action::Help);
        match action {
            Some(Action::Quit) => quit(s, fx),
            Some(Action::Confirm | Action::Cancel) => s.dialog = None,
            _ if help_again => s.dialog = None,
            _ => {}
        }
        return;
    }
    match action {
        Some(Action::Cancel) => match s.dialog.take() {
            Some(Dialog::Decision(d)) if !d.reason.trim().is_empty() => {
                let id = d.escalation.id.clone();
                s.stashed = Some(d);
                say(
                    s,
                    Level::Info,
                    format!("not sent; your reason for {id} is kept: a or d on it resumes"),
                );
            }
            _ => {}
        },
        Some(Action::Quit) => quit(s, fx),
        Some(Action::Confirm) => confirm_dialog(s, fx),
        _ => edit_field(dialog, &k),
    }
}

fn quit(s: &mut State, fx: &mut Vec<Effect>) {
    if s.half_typed() {
        s.pending_quit = true;
    } else {
        s.quit = true;
        fx.push(Effect::Quit);
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
                (&mut d.reason, crate::protocol::MAX_TEXT_LEN)
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
                say(
                    s,
                    Level::Info,
                    "paste ignored: no text field is open".into(),
                );
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

fn edit_field(dialog: &mut Dialog, k: &KeyEvent) {
    let field = match dialog {
        Dialog::Decision(d) => {
            d.error = None;
            &mut d.reason
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

fn next_request(s: &mut State, req: Request) -> u64 {
    let id = s.next_request;
    s.next_request += 1;
    s.in_flight.insert(id, req);
    id
}

fn confirm_dialog(s: &mut State, fx: &mut Vec<Effect>) {
    match s.dialog.take() {
        Some(Dialog::Decision(mut d)) => {
            if not_signable(s, &d.escalation).is_some() {
                // Never sign on a copy whose arguments were left out: fetch (again) instead.
                let whole_here = s
                    .pending
                    .iter()
                    .any(|p| p.id == d.escalation.id && p.args_elided().is_none());
                if !whole_here {
                    fetch(s, d.escalation.id.clone(), fx);
                }
                d.error = Some("not sent: the whole arguments must be shown first".into());
                s.dialog = Some(Dialog::Decision(d));
                return;
            }
            let reason = d.reason.trim().to_string();
            if d.vote == Vote::Deny && reason.is_empty() {
                d.error = Some("a reason is required to deny".into());
                s.dialog = Some(Dialog::Decision(d));
                return;
            }
            let request = next_request(
                s,
                Request::Decide {
                    escalation: d.escalation.id.clone(),
                    vote: d.vote,
                },
            );
            let verb = if d.vote == Vote::Approve {
                "approval"
            } else {
                "denial"
            };
            say(
                s,
                Level::Info,
                format!("… sending your {verb} of {}", d.escalation.id),
            );
            fx.push(Effect::Decide {
                request,
                escalation: Box::new(d.escalation),
                vote: d.vote,
                reason,
            });
        }
        Some(Dialog::Flip(mut f)) => {
            let reason = f.reason.trim().to_string();
            if reason.is_empty() {
                f.error = Some("a reason is required".into());
                f.in_confirm = false;
                s.dialog = Some(Dialog::Flip(f));
                return;
            }
            if let Some(word) = f.confirm_word {
                if f.confirm.trim() != word {
                    f.error = Some(format!(
                        "type {word} in the confirmation field (Tab moves there)"
                    ));
                    f.in_confirm = true;
                    s.dialog = Some(Dialog::Flip(f));
                    return;
                }
            }
            let request = next_request(
                s,
                Request::Flip {
                    scope: f.scope.clone(),
                    on: f.on,
                },
            );
            say(
                s,
                Level::Info,
                format!(
                    "… turning kill switch {} {}",
                    f.scope,
                    if f.on { "on" } else { "off" }
                ),
            );
            fx.push(Effect::Flip {
                request,
                scope: f.scope,
                on: f.on,
                reason,
            });
        }
        Some(Dialog::Review(mut r)) => {
            let note = r.note.trim().to_string();
            if note.is_empty() && r.verdict == FlagVerdict::Incident {
                r.error = Some("a note is required for an incident".into());
                s.dialog = Some(Dialog::Review(r));
                return;
            }
            let action = r.flagged.action.id.clone();
            let request = next_request(
                s,
                Request::Review {
                    action: action.clone(),
                    verdict: r.verdict,
                },
            );
            say(s, Level::Info, format!("… sending review of {action}"));
            fx.push(Effect::Review {
                request,
                action,
                verdict: r.verdict,
                note,
            });
        }
        other => s.dialog = other,
    }
}
