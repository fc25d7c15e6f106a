//! The approver's workflow in the console: claim/unclaim, snooze, extend and reassign the
//! selected escalation, and hiding what I snoozed. Part of `update`: keys open the dialogs,
//! confirming one becomes a signed request (`Command::Handle`), its answer updates the queue.
//! The server decides who may and how much; the console only shows it and asks.

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::client::{Client, ClientError};
use crate::protocol::{
    inert, latest_snooze, may_handle, may_reassign, may_snooze, Escalation, PersonKey, Timestamp,
    MAX_TEXT_LEN,
};

use super::command::Command;
use super::dialog::Dialog;
use super::event::{Reply, RequestError};
pub use super::handling::{
    HandlingCall, HandlingDraft, HandlingKind, EXTEND_DEFAULT, SNOOZE_CHOICES,
};
use super::keymap::Action;
use super::server_events::upsert;
use super::state::{Level, Request, State};
use super::text_field::TextField;

impl State {
    /// Until when I snoozed `e`, if that is still ahead.
    pub fn snoozed_by_me(&self, e: &Escalation) -> Option<Timestamp> {
        let me = self.me.as_ref()?;
        e.handling.snoozed_until(&me.id, self.now)
    }

    /// Whether the queue hides `e` (I snoozed it and snoozed ones are not shown).
    pub fn hidden_by_snooze(&self, e: &Escalation) -> bool {
        !self.show_snoozed && self.snoozed_by_me(e).is_some()
    }

    pub fn snoozed_count(&self) -> usize {
        self.queue_summary().snoozed
    }
}

/// A queue key of the workflow.
pub(super) fn on_action(s: &mut State, action: Action, fx: &mut Vec<Command>) {
    if action == Action::ShowSnoozed {
        s.show_snoozed = !s.show_snoozed;
        super::selection::reselect(s, super::state::View::Queue);
        let n = s.snoozed_count();
        let text = match (s.show_snoozed, n) {
            (true, _) => format!("showing the {n} escalation(s) you snoozed"),
            (false, 0) => "nothing is snoozed".to_string(),
            (false, _) => format!("hiding the {n} escalation(s) you snoozed"),
        };
        return s.say(Level::Info, text);
    }
    let Some(e) = s.selected_escalation().cloned() else {
        return s.say(Level::Info, "nothing selected".into());
    };
    let Some(me) = s.me.clone() else {
        return not_yours(
            s,
            &e,
            "the server has not told us who you are yet (not connected)",
        );
    };
    let allowed = match action {
        Action::Snooze => may_snooze(&e, &me),
        Action::Reassign => may_reassign(&e, &me),
        _ => may_handle(&e, &me),
    };
    if let Err(why) = allowed {
        return not_yours(s, &e, &why.to_string());
    }
    let draft = |kind| HandlingDraft {
        escalation: e.clone(),
        kind,
        by: EXTEND_DEFAULT.into(),
        reason: TextField::default(),
        // The amount has a default: the cursor starts in the reason, Tab reaches the amount.
        in_reason: true,
        choice: 0,
        error: None,
    };
    match action {
        Action::Claim => {
            let mine = e
                .handling
                .live_claim(s.now)
                .is_some_and(|c| c.person == me.id);
            send(s, &e.id, HandlingCall::Claim { claim: !mine }, fx);
        }
        Action::Extend if e.handling.extend_allowed_secs == 0 => not_yours(
            s,
            &e,
            &format!("rule {} allows no extension", inert(&e.rule.id)),
        ),
        Action::Extend if e.handling.extend_left_secs() == 0 => {
            not_yours(s, &e, "its extension allowance is used up")
        }
        Action::Extend => s.dialog = Some(Dialog::Handling(draft(HandlingKind::Extend))),
        Action::Snooze if s.snoozed_by_me(&e).is_some() => {
            // Snoozed already (and shown): the key wakes it.
            let until = s.now - Duration::seconds(1);
            send(s, &e.id, HandlingCall::Snooze { until }, fx);
        }
        Action::Snooze => s.dialog = Some(Dialog::Handling(draft(HandlingKind::Snooze))),
        Action::Reassign => match (&e.handling.escalate_to, e.handed_over) {
            (None, _) => not_yours(s, &e, "its rule has no secondary group (escalate_to)"),
            (Some(_), true) => not_yours(s, &e, "it was handed over already"),
            (Some(_), false) => s.dialog = Some(Dialog::Handling(draft(HandlingKind::Reassign))),
        },
        _ => {}
    }
}

fn not_yours(s: &mut State, e: &Escalation, why: &str) {
    s.dialog = Some(Dialog::NotYours {
        escalation: e.id.clone(),
        why: why.to_string(),
    });
}

fn send(s: &mut State, escalation: &str, call: HandlingCall, fx: &mut Vec<Command>) {
    let request = s.next_request;
    s.next_request += 1;
    let what = call.what();
    s.in_flight.insert(
        request,
        Request::Handle {
            escalation: escalation.to_string(),
            what,
        },
    );
    s.say(
        Level::Info,
        format!("… sending your {what} of {escalation}"),
    );
    fx.push(Command::Handle {
        request,
        escalation: escalation.to_string(),
        call,
    });
}

/// A key in an extend, snooze or reassign dialog.
pub(super) fn on_dialog_key(
    s: &mut State,
    k: KeyEvent,
    action: Option<Action>,
    fx: &mut Vec<Command>,
) {
    match action {
        Some(Action::Cancel) => {
            s.dialog = None;
            return;
        }
        Some(Action::Quit) => {
            // As everywhere: asks first, since what was typed would be lost.
            if s.half_typed() {
                s.pending_quit = true;
            } else {
                s.quit = true;
                fx.push(Command::Quit);
            }
            return;
        }
        Some(Action::Confirm) => return confirm(s, fx),
        _ => {}
    }
    let Some(Dialog::Handling(d)) = s.dialog.as_mut() else {
        return;
    };
    d.error = None;
    let plain = !k
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match (d.kind, k.code) {
        (HandlingKind::Snooze, KeyCode::Up) => d.choice = d.choice.saturating_sub(1),
        (HandlingKind::Snooze, KeyCode::Down) => {
            d.choice = (d.choice + 1).min(SNOOZE_CHOICES.len() - 1)
        }
        (HandlingKind::Snooze, KeyCode::Char(c @ '1'..='3')) if plain => {
            d.choice = c as usize - '1' as usize
        }
        (HandlingKind::Snooze, _) => {}
        (HandlingKind::Extend, KeyCode::Tab | KeyCode::BackTab) => d.in_reason = !d.in_reason,
        _ => {
            field(d).key(&k, MAX_TEXT_LEN);
        }
    }
}

/// The text field the cursor is in (typed or pasted into).
pub(super) fn field(d: &mut HandlingDraft) -> &mut TextField {
    match d.kind {
        HandlingKind::Extend if !d.in_reason => &mut d.by,
        _ => &mut d.reason,
    }
}

fn confirm(s: &mut State, fx: &mut Vec<Command>) {
    let Some(Dialog::Handling(mut d)) = s.dialog.take() else {
        return;
    };
    let reason = d.reason.trim().to_string();
    let reason_missing = reason.is_empty();
    let call = match d.kind {
        HandlingKind::Snooze => {
            let until = match d.choice {
                0 => s.now + Duration::minutes(15),
                1 => s.now + Duration::hours(1),
                _ => latest_snooze(d.escalation.deadline, s.now),
            };
            Ok(HandlingCall::Snooze { until })
        }
        _ if reason_missing => Err("a reason is required (it goes into the audit log)".into()),
        HandlingKind::Reassign => Ok(HandlingCall::Reassign { reason }),
        HandlingKind::Extend => {
            let left = d.escalation.handling.extend_left_secs();
            match crate::duration::parse(d.by.trim(), crate::duration::POLICY_TIMEOUT) {
                Err(e) => Err(e.to_string()),
                Ok(by) if by.as_secs() > left => Err(format!(
                    "at most {} is left of the allowance",
                    crate::duration::format(std::time::Duration::from_secs(left))
                )),
                Ok(by) => Ok(HandlingCall::Extend {
                    by_secs: by.as_secs(),
                    reason,
                }),
            }
        }
    };
    match call {
        Ok(call) => send(s, &d.escalation.id, call, fx),
        Err(why) => {
            // The cursor goes to the field to fix: the reason when it is the one missing.
            d.in_reason = reason_missing;
            d.error = Some(why);
            s.dialog = Some(Dialog::Handling(d));
        }
    }
}

/// The server's answer to a workflow request.
pub(super) fn on_reply(
    s: &mut State,
    escalation: &str,
    what: &str,
    result: Result<Reply, RequestError>,
) {
    match result {
        Ok(Reply::Decision(ack)) => {
            let e = *ack.escalation;
            let detail = match what {
                "extension" => format!("; deadline now {} UTC", e.deadline.format("%H:%M:%S")),
                "reassign" => format!("; now with {}", inert(&e.group)),
                "snooze" => match s.me.as_ref().and_then(|m| e.handling.snoozed.get(&m.id)) {
                    Some(t) => format!("; back at {} UTC", t.format("%H:%M:%S")),
                    None => "; it is back in your queue".into(),
                },
                _ => String::new(),
            };
            s.say(
                Level::Success,
                format!("✓ your {what} of {escalation} was recorded{detail}"),
            );
            upsert(s, e);
        }
        Ok(other) => s.say(Level::Error, format!("unexpected answer: {other:?}")),
        Err(e) => s.say(
            Level::Error,
            format!(
                "✗ your {what} of {escalation} was NOT recorded: {} ({})",
                inert(&e.message),
                e.code
            ),
        ),
    }
}

/// Signs and sends a workflow request (run by the driver's network task).
pub(super) async fn call(
    client: Client,
    key: &PersonKey,
    escalation: &str,
    call: HandlingCall,
) -> Result<Reply, ClientError> {
    let ack = match call {
        HandlingCall::Extend { by_secs, reason } => {
            client
                .extend(&Client::sign_extend(key, escalation, by_secs, &reason))
                .await
        }
        HandlingCall::Claim { claim } => {
            client
                .claim(&Client::sign_claim(key, escalation, claim))
                .await
        }
        HandlingCall::Snooze { until } => {
            client
                .snooze(&Client::sign_snooze(key, escalation, until))
                .await
        }
        HandlingCall::Reassign { reason } => {
            client
                .reassign(&Client::sign_reassign(key, escalation, &reason))
                .await
        }
    };
    ack.map(Reply::Decision)
}
