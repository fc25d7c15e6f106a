//! Batch decisions, part of `update`: marks on queue rows, one dialog listing every marked
//! escalation with its agent, tool, rule, digest and arguments (no blind approval), one reason,
//! then each decision signed and sent separately and its result shown on its own row. Also
//! "deny everything pending from this agent / this session" (a prefix key, then `a` or `s`).

use crossterm::event::{KeyCode, KeyEvent};

use crate::protocol::{inert, Escalation, EscalationState, Vote};

use super::asks::{fetch, quit};
use super::command::Command;
use super::dialog::Dialog;
use super::event::{Reply, RequestError};
use super::fields::edit_text;
use super::keymap::{Action, Section};
use super::selection::move_to;
use super::server_events::{keep_whole, upsert};
use super::state::{Level, Request, State, View};
use super::text_field::TextField;
use super::words::state_word;

pub use super::batch_form::{BatchDraft, BatchItem, ItemStatus};

/// Rows a page key scrolls the batch list by.
const PAGE: u16 = 10;

/// Marks or unmarks the selected queue row, then moves down so the next one can be marked.
pub(super) fn toggle_mark(s: &mut State) {
    if s.view != View::Queue {
        return;
    }
    let Some(id) = s.selected_escalation().map(|e| e.id.clone()) else {
        return;
    };
    if !s.marks.remove(&id) {
        s.marks.insert(id);
    }
    move_to(s, s.selected[0] + 1);
    if !s.marks.is_empty() {
        s.say(
            Level::Info,
            format!(
                "{} marked: {} approves, {} denies them all (each shown, each signed)",
                s.marks.len(),
                s.keymap.key_for(Section::Queue, Action::Approve),
                s.keymap.key_for(Section::Queue, Action::Deny)
            ),
        );
    }
}

pub(super) fn clear_marks(s: &mut State) {
    if !s.marks.is_empty() {
        s.marks.clear();
        s.say(Level::Info, "marks cleared".into());
    }
}

/// Marks drop as their escalations leave the queue.
pub(super) fn prune_marks(s: &mut State) {
    if s.marks.is_empty() {
        return;
    }
    let pending = &s.pending;
    s.marks.retain(|id| pending.iter().any(|e| e.id == *id));
}

/// `a` or `d` with rows marked: the batch dialog over them. False when nothing is marked.
pub(super) fn start_batch(s: &mut State, vote: Vote, fx: &mut Vec<Command>) -> bool {
    if s.marks.is_empty() || s.view != View::Queue {
        return false;
    }
    let chosen: Vec<Escalation> = s
        .pending
        .iter()
        .filter(|e| s.marks.contains(&e.id))
        .map(|e| (**e).clone())
        .collect();
    open(s, vote, None, chosen, fx);
    true
}

/// The deny-all prefix key: the next key picks agent (`a`) or session (`s`).
pub(super) fn start_deny_all(s: &mut State) {
    if s.view != View::Queue || s.selected_escalation().is_none() {
        s.say(
            Level::Info,
            "select an escalation in the queue first: deny-all takes its agent or session".into(),
        );
        return;
    }
    s.deny_all_prefix = true;
    s.say(
        Level::Info,
        "deny everything pending from: a this agent · s this session · any other key cancels"
            .into(),
    );
}

pub(super) fn on_prefix_key(s: &mut State, k: &KeyEvent, fx: &mut Vec<Command>) {
    s.deny_all_prefix = false;
    let Some(sel) = s.selected_escalation().cloned() else {
        return;
    };
    let (scope, chosen): (String, Vec<Escalation>) = match k.code {
        KeyCode::Char('a') => (
            format!("agent {}", inert(&sel.action.agent)),
            s.pending
                .iter()
                .filter(|e| e.action.agent == sel.action.agent)
                .map(|e| (**e).clone())
                .collect(),
        ),
        // A session id is the agent's own word: only that agent's session is meant.
        KeyCode::Char('s') => (
            format!(
                "session {} of agent {}",
                inert(&sel.action.session),
                inert(&sel.action.agent)
            ),
            s.pending
                .iter()
                .filter(|e| {
                    e.action.agent == sel.action.agent && e.action.session == sel.action.session
                })
                .map(|e| (**e).clone())
                .collect(),
        ),
        _ => {
            s.say(Level::Info, "deny-all cancelled".into());
            return;
        }
    };
    open(s, Vote::Deny, Some(scope), chosen, fx);
}

fn open(
    s: &mut State,
    vote: Vote,
    scope: Option<String>,
    chosen: Vec<Escalation>,
    fx: &mut Vec<Command>,
) {
    let mut items = Vec::with_capacity(chosen.len());
    for e in chosen {
        let status = match s.may_not_vote(&e, vote) {
            Some(why) => ItemStatus::NotYours(why.to_string()),
            None => ItemStatus::Ready,
        };
        if status == ItemStatus::Ready && e.args_elided().is_some() {
            fetch(s, e.id.clone(), fx);
        }
        items.push(BatchItem {
            escalation: e,
            status,
        });
    }
    s.dialog = Some(Dialog::Batch(BatchDraft {
        vote,
        scope,
        items,
        reason: TextField::default(),
        scroll: 0,
        sent: false,
        changed: false,
        error: None,
    }));
}

/// A key while the batch dialog is open.
pub(super) fn on_key(s: &mut State, action: Option<Action>, k: &KeyEvent, fx: &mut Vec<Command>) {
    let Some(Dialog::Batch(d)) = s.dialog.as_mut() else {
        return;
    };
    match action {
        Some(Action::Down) => d.scroll = d.scroll.saturating_add(1),
        Some(Action::Up) => d.scroll = d.scroll.saturating_sub(1),
        Some(Action::PageDown) => d.scroll = d.scroll.saturating_add(PAGE),
        Some(Action::PageUp) => d.scroll = d.scroll.saturating_sub(PAGE),
        Some(Action::Cancel) => s.dialog = None,
        Some(Action::Quit) => quit(s, fx),
        Some(Action::Confirm) if d.sent => s.dialog = None,
        Some(Action::Confirm) => confirm(s, fx),
        _ if !d.sent => {
            d.error = None;
            edit_text(&mut d.reason, k);
        }
        _ => {}
    }
}

fn confirm(s: &mut State, fx: &mut Vec<Command>) {
    let Some(Dialog::Batch(mut d)) = s.dialog.take() else {
        return;
    };
    let reason = d.reason.trim().to_string();
    let refuse = |s: &mut State, mut d: BatchDraft, why: String| {
        d.error = Some(why);
        s.dialog = Some(Dialog::Batch(d));
    };
    if d.vote == Vote::Deny && reason.is_empty() {
        return refuse(s, d, "a reason is required to deny".into());
    }
    // Never sign a copy whose arguments were left out: fetch them, show them, then sign.
    let elided: Vec<String> = d
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Ready && i.escalation.args_elided().is_some())
        .map(|i| i.escalation.id.clone())
        .collect();
    if !elided.is_empty() {
        for id in &elided {
            fetch(s, id.clone(), fx);
        }
        let why = format!(
            "not sent: the whole arguments of {} must be shown first (fetching)",
            elided.join(", ")
        );
        return refuse(s, d, why);
    }
    if std::mem::take(&mut d.changed) {
        let why = "arguments just arrived: read them (↑/↓ scroll), then Enter sends".into();
        return refuse(s, d, why);
    }
    let mut sent = 0;
    for item in d.items.iter_mut().filter(|i| i.status == ItemStatus::Ready) {
        let id = item.escalation.id.clone();
        if !s.pending.iter().any(|e| e.id == id) {
            let state = s
                .history
                .iter()
                .find(|e| e.id == id)
                .map(|e| state_word(e.state))
                .unwrap_or("resolved");
            item.status = ItemStatus::Gone(format!("no longer pending ({state}); not sent"));
            continue;
        }
        let request = s.next_request;
        s.next_request += 1;
        s.in_flight.insert(
            request,
            Request::BatchDecide {
                escalation: id,
                vote: d.vote,
            },
        );
        item.status = ItemStatus::Sending(request);
        fx.push(Command::Decide {
            request,
            escalation: Box::new(item.escalation.clone()),
            vote: d.vote,
            reason: reason.clone(),
        });
        sent += 1;
    }
    if sent == 0 {
        return refuse(
            s,
            d,
            "nothing to send: none of these is yours to decide now".into(),
        );
    }
    d.sent = true;
    s.say(
        Level::Info,
        format!("… sending {sent} decisions, each signed separately"),
    );
    s.dialog = Some(Dialog::Batch(d));
}

/// The answer to one decision of a batch: onto its row, and a summary once all are in.
pub(super) fn on_reply(
    s: &mut State,
    request: u64,
    escalation: String,
    vote: Vote,
    result: Result<Reply, RequestError>,
) {
    let status = match result {
        Ok(Reply::Decision(ack)) => {
            let e = *ack.escalation;
            let now = match e.state {
                EscalationState::Pending => format!(
                    "accepted; still pending {}/{}",
                    e.approvals_received(),
                    e.approvals_required
                ),
                st => format!("accepted; now {}", state_word(st)),
            };
            upsert(s, e);
            ItemStatus::Accepted(now)
        }
        Ok(other) => ItemStatus::Refused(format!("unexpected answer: {other:?}")),
        Err(e) => ItemStatus::Refused(format!("{} ({})", inert(&e.message), e.code)),
    };
    let Some(Dialog::Batch(d)) = s.dialog.as_mut() else {
        // The dialog was closed: the message line says it, one decision at a time.
        let verb = if vote == Vote::Approve {
            "approval"
        } else {
            "denial"
        };
        let (level, text) = match &status {
            ItemStatus::Accepted(t) => (Level::Success, format!("✓ {verb} of {escalation}: {t}")),
            ItemStatus::Refused(t) => (
                Level::Error,
                format!("✗ {verb} of {escalation} NOT recorded: {t}"),
            ),
            _ => return,
        };
        return s.say(level, text);
    };
    if let Some(item) = d
        .items
        .iter_mut()
        .find(|i| i.status == ItemStatus::Sending(request))
    {
        item.status = status;
    }
    if d.count(|st| matches!(st, ItemStatus::Sending(_))) == 0 {
        let ok = d.count(|st| matches!(st, ItemStatus::Accepted(_)));
        let refused = d.count(|st| matches!(st, ItemStatus::Refused(_)));
        let skipped = d.items.len() - ok - refused;
        let level = if refused > 0 {
            Level::Error
        } else {
            Level::Success
        };
        s.say(
            level,
            format!("batch: {ok} accepted, {refused} refused, {skipped} not sent"),
        );
    }
}

/// A whole escalation arrived: an open batch dialog shows it in place of the stream's copy
/// (same id, same digest), and the next Enter only says so, so what is signed was shown.
pub(super) fn got_whole(s: &mut State, whole: &Escalation) {
    let Some(Dialog::Batch(d)) = s.dialog.as_mut() else {
        return;
    };
    for item in d.items.iter_mut().filter(|i| i.escalation.id == whole.id) {
        if item.escalation.args_elided().is_some() {
            keep_whole(whole, &mut item.escalation);
            d.changed |= item.escalation.args_elided().is_none();
        }
    }
}
