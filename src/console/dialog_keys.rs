//! Keys in a dialog: opening the decision, review and kill switch dialogs (when the person may),
//! cancelling them, confirming them into the request they become. Part of `update`.

use crossterm::event::KeyEvent;

use crate::protocol::{inert, FlagVerdict, Role, Vote};

pub(super) use super::asks::quit;
use super::command::Command;
use super::dialog::{DecisionDraft, Dialog, FlipDraft, ReviewDraft, TextField};
use super::fields::{edit_field, next_field};
use super::grant_form::GrantDraft;
use super::grant_keys;
use super::keymap::{Action, Section};
use super::query_form::FormKind;
use super::replies::fetch;
use super::scroll::help_scroll;
use super::state::{Fetch, Level, Request, State, View};
use super::words::verdict_word;

/// The word to type before the global kill switch goes on.
pub const GLOBAL_CONFIRM_WORD: &str = "STOP";

pub(super) fn start_decision(s: &mut State, vote: Vote, fx: &mut Vec<Command>) {
    let Some(e) = s.selected_escalation().cloned() else {
        s.say(Level::Info, "nothing selected to decide".into());
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
        s.say(
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
            TextField::default()
        }
    };
    let grant = GrantDraft::offer(&e, vote);
    s.dialog = Some(Dialog::Decision(DecisionDraft {
        escalation: e,
        vote,
        reason,
        error: None,
        grant,
    }));
}

pub(super) fn start_review(s: &mut State, verdict: FlagVerdict) {
    let Some(f) = s.selected_flagged().cloned() else {
        s.say(Level::Info, "no flagged action selected".into());
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
        note: TextField::default(),
        error: None,
    }));
}

pub(super) fn start_flip(s: &mut State, scope: Option<String>) {
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
        reason: TextField::default(),
        confirm_word,
        confirm: TextField::default(),
        in_confirm: false,
        error: None,
    }));
}

pub(super) fn on_dialog_key(s: &mut State, k: KeyEvent, fx: &mut Vec<Command>) {
    let action = s.keymap.action(Section::Dialog, &k);
    if matches!(s.dialog, Some(Dialog::Batch(_))) {
        return super::batch::on_key(s, action, &k, fx);
    }
    if let Some(Dialog::Query(q)) = s.dialog.as_mut() {
        if !matches!(
            action,
            Some(Action::Confirm | Action::Cancel | Action::Quit)
        ) {
            return q.edit(&k);
        }
    }
    let Some(dialog) = s.dialog.as_mut() else {
        return;
    };
    if matches!(dialog, Dialog::Handling(_)) {
        return super::workflow::on_dialog_key(s, k, action, fx);
    }
    if dialog.is_notice() {
        // Only an explicit Esc or Enter (or the help key, for help) closes a notice; any other
        // key typed ahead is swallowed, never applied to the view beneath it.
        let is_help = matches!(dialog, Dialog::Help);
        let global = s.keymap.action(Section::Global, &k);
        let help_again = is_help && global == Some(Action::Help);
        if is_help && action.is_none() {
            if let Some(a) = global {
                help_scroll(s, a);
            }
        }
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
                let (approve, deny) = (
                    s.keymap.key_for(Section::Queue, Action::Approve),
                    s.keymap.key_for(Section::Queue, Action::Deny),
                );
                s.say(
                    Level::Info,
                    format!(
                        "not sent; your reason for {id} is kept: {approve} or {deny} on it resumes"
                    ),
                );
            }
            _ => {}
        },
        Some(Action::Quit) => quit(s, fx),
        Some(Action::Confirm) => confirm_dialog(s, fx),
        Some(Action::NextField) => next_field(dialog),
        Some(Action::Grant) if matches!(dialog, Dialog::Decision(_)) => {
            if let Dialog::Decision(d) = dialog {
                grant_keys::toggle(d);
            }
        }
        _ => edit_field(dialog, &k),
    }
}

fn next_request(s: &mut State, req: Request) -> u64 {
    let id = s.next_request;
    s.next_request += 1;
    s.in_flight.insert(id, req);
    id
}

fn confirm_dialog(s: &mut State, fx: &mut Vec<Command>) {
    match s.dialog.take() {
        Some(Dialog::Decision(mut d)) => {
            if d.escalation.args_elided().is_some() {
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
            let grant = match grant_keys::request(&d, &reason) {
                Ok(g) => g,
                Err(e) => {
                    d.error = Some(e);
                    s.dialog = Some(Dialog::Decision(d));
                    return;
                }
            };
            if let Some(g) = grant {
                grant_keys::queue(s, &d.escalation.id, g);
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
            s.say(
                Level::Info,
                format!("… sending your {verb} of {}", d.escalation.id),
            );
            fx.push(Command::Decide {
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
                    let tab = s.keymap.key_for(Section::Dialog, Action::NextField);
                    f.error = Some(format!(
                        "type {word} in the confirmation field ({tab} moves there)"
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
            s.say(
                Level::Info,
                format!(
                    "… turning kill switch {} {}",
                    f.scope,
                    if f.on { "on" } else { "off" }
                ),
            );
            fx.push(Command::Flip {
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
            s.say(Level::Info, format!("… sending review of {action}"));
            fx.push(Command::Review {
                request,
                action,
                verdict: r.verdict,
                note,
            });
        }
        Some(Dialog::Query(q)) => match q.kind {
            FormKind::Audit => super::audit_query::run_form(s, q, fx),
            FormKind::History => super::history_search::run_form(s, q, fx),
        },
        Some(Dialog::Revoke(r)) => grant_keys::confirm_revoke(s, r, fx),
        Some(Dialog::BreakerReset(r)) => super::breaker_reset::confirm(s, r, fx),
        other => s.dialog = other,
    }
}
