//! The server's stream applied to the state: snapshots (received in parts, applied whole),
//! escalations and flagged actions as they are created, updated and resolved, kill switch flips
//! and agents' activity. Part of `update`.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::protocol::{
    inert, ActionSummary, Escalation, EscalationState, FlaggedAction, ServerMessage, Snapshot,
};

use super::command::{notify, Command};
use super::dialog::Dialog;
use super::state::{Connection, Level, State, ACTIVITY_CAP, HISTORY_CAP, RECENT_TOOLS_CAP};
use super::words::{state_word, verdict_word};

pub(super) fn on_server(s: &mut State, m: ServerMessage, fx: &mut Vec<Command>) {
    match m {
        ServerMessage::Challenge { .. } | ServerMessage::Pong => {}
        ServerMessage::Welcome { person, server } => {
            s.me = Some(person);
            s.server = Some(server);
        }
        ServerMessage::Snapshot(part) => on_snapshot_part(s, *part, fx),
        ServerMessage::EscalationCreated { escalation } => {
            let e = *escalation;
            if !s.notified.contains(&e.id) && s.not_mine(&e).is_none() {
                s.notified.insert(e.id.clone());
                notify(
                    s,
                    fx,
                    "Escalation waiting for you".into(),
                    format!(
                        "{} wants {} ({})",
                        inert(&e.action.agent),
                        inert(&e.action.tool),
                        e.rule.id
                    ),
                );
            }
            upsert(s, e);
        }
        ServerMessage::EscalationUpdated { escalation } => upsert(s, *escalation),
        ServerMessage::EscalationResolved { escalation } => {
            // An approved budget escalation adds grace to its limit.
            if escalation.budget.is_some() {
                super::budgets::calls_seen(s);
            }
            upsert(s, *escalation)
        }
        ServerMessage::Flagged { flagged } => upsert_flag(s, *flagged),
        ServerMessage::FlagReviewed { flagged } => {
            close_review_under_you(s, &flagged);
            upsert_flag(s, *flagged)
        }
        ServerMessage::KillSwitchChanged { killswitch } => {
            s.killswitches.insert(killswitch.scope.clone(), killswitch);
        }
        ServerMessage::Action { action } => {
            push_activity(s, action);
            super::budgets::calls_seen(s);
        }
        ServerMessage::GrantChanged { grant } => super::grant_keys::upsert_grant(s, *grant),
    }
}

/// The parts of a snapshot arrive in order; it is applied whole, once the last one is in, so the
/// console never shows a half-received state as if it were the queue.
fn on_snapshot_part(s: &mut State, part: Snapshot, fx: &mut Vec<Command>) {
    let whole = if part.part <= 1 {
        part
    } else {
        match s.incoming.take() {
            Some(mut so_far) if so_far.part + 1 == part.part && so_far.parts == part.parts => {
                so_far.extend(part);
                *so_far
            }
            // Out of order: drop it; the server sends the next snapshot from part 1.
            _ => {
                tracing::warn!(part = part.part, "snapshot part out of order, ignored");
                return;
            }
        }
    };
    if whole.part < whole.parts {
        s.incoming = Some(Box::new(whole));
        return;
    }
    apply_snapshot(s, whole, fx);
}

fn apply_snapshot(s: &mut State, snap: Snapshot, fx: &mut Vec<Command>) {
    let mut pending: Vec<Box<Escalation>> = snap.escalations.into_iter().map(Box::new).collect();
    if pending.iter().any(|e| !e.elided.is_empty()) {
        let old: HashMap<&str, &Escalation> =
            s.pending.iter().map(|e| (e.id.as_str(), &**e)).collect();
        for e in &mut pending {
            if let Some(old) = old.get(e.id.as_str()) {
                keep_whole(old, e);
            }
        }
    }
    pending.sort_by(|a, b| queue_order(a, b));
    s.pending = pending;
    s.pending_changed();
    // After a reconnect, escalations that arrived while we were away are news: one
    // notification for all of them. The first snapshot is what you see on opening.
    let mut missed = 0;
    for e in &s.pending {
        if s.notified.insert(e.id.clone()) && s.resynced && s.not_mine(e).is_none() {
            missed += 1;
        }
    }
    if missed > 0 {
        notify(
            s,
            fx,
            "Escalations waiting for you".into(),
            format!("{missed} arrived while the console was reconnecting or catching up"),
        );
    }
    s.resynced = true;
    let mut history: VecDeque<Escalation> = snap.history.into();
    for e in history.iter_mut() {
        if let Some(old) = s.history.iter().find(|h| h.id == e.id) {
            keep_whole(old, e);
        }
    }
    s.history = history;
    s.history.truncate(HISTORY_CAP);
    s.flagged = snap.flagged;
    s.killswitches = snap
        .killswitches
        .into_iter()
        .map(|k| (k.scope.clone(), k))
        .collect();
    s.agents = snap.agents;
    s.grants = snap.grants.into_iter().map(|g| (g.id.clone(), g)).collect();
    s.activity = snap.activity.into_iter().take(ACTIVITY_CAP).collect();
    s.recent_tools.clear();
    for a in &s.activity {
        if s.recent_tools.len() >= RECENT_TOOLS_CAP {
            break;
        }
        if !s.recent_tools.contains(&a.tool) {
            s.recent_tools.push_back(a.tool.clone());
        }
    }
    // Fetches of escalations this console no longer shows are forgotten.
    let shown: HashSet<&str> = s
        .pending
        .iter()
        .map(|e| e.id.as_str())
        .chain(s.history.iter().map(|e| e.id.as_str()))
        .collect();
    s.fetches.retain(|id, _| shown.contains(id.as_str()));
    s.connection = Connection::Live;
    s.live_until = None;
}

fn queue_order(a: &Escalation, b: &Escalation) -> std::cmp::Ordering {
    a.deadline.cmp(&b.deadline).then_with(|| a.id.cmp(&b.id))
}

/// A stream copy that left values out takes them from the whole copy fetched earlier (the same
/// escalation: same id, same digest), so fetched arguments stay shown as votes come in.
pub(super) fn keep_whole(old: &Escalation, new: &mut Escalation) {
    if !new.elided.is_empty()
        && old.elided.is_empty()
        && old.id == new.id
        && old.digest == new.digest
    {
        new.action = old.action.clone();
        new.history = old.history.clone();
        new.elided.clear();
    }
}

/// Insert or replace an escalation wherever its state says it belongs.
pub(super) fn upsert(s: &mut State, mut e: Escalation) {
    // The queue's index follows this edit rather than being built again over thousands.
    let current = s.queue_cache.current(s);
    let removed = s.queue_cache.position(s, &e.id);
    if let Some(i) = removed {
        keep_whole(&s.pending.remove(i), &mut e);
    }
    let mut resolved = None;
    let inserted = if e.state == EscalationState::Pending {
        let at = s
            .pending
            .binary_search_by(|p| queue_order(p, &e))
            .unwrap_or_else(|i| i);
        s.pending.insert(at, Box::new(e));
        Some(at)
    } else {
        resolved = Some(e);
        None
    };
    if removed.is_some() || inserted.is_some() {
        s.pending_changed();
        if current {
            s.queue_cache.edited(s, removed, inserted);
        }
    }
    if let Some(mut e) = resolved {
        if let Some(i) = s.history.iter().position(|h| h.id == e.id) {
            if let Some(old) = s.history.remove(i) {
                keep_whole(&old, &mut e);
            }
        }
        if s.stashed.as_ref().is_some_and(|d| d.escalation.id == e.id) {
            s.stashed = None;
        }
        s.fetches.remove(&e.id);
        close_decision_under_you(s, &e);
        s.history.push_front(e);
        s.history.truncate(HISTORY_CAP);
    }
}

/// The escalation being decided was resolved by someone else: the dialog is replaced by a notice
/// that only Esc or Enter dismisses, so the rest of what is being typed cannot fall through
/// into the queue as commands (say, `d` on another escalation and Enter).
fn close_decision_under_you(s: &mut State, e: &Escalation) {
    let Some(Dialog::Decision(d)) = &s.dialog else {
        return;
    };
    if d.escalation.id != e.id {
        return;
    }
    let by: Vec<String> = e
        .decisions
        .iter()
        .map(|d| inert(&d.body.approver).into_owned())
        .collect();
    let text = format!(
        "{} was {}{} before you sent your decision. Nothing was sent.",
        inert(&e.id),
        state_word(e.state),
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        }
    );
    s.dialog = Some(Dialog::Notice {
        title: " Already decided ".into(),
        text: text.clone(),
    });
    s.say(Level::Info, text);
}

/// As for decisions: a flagged action reviewed by someone else closes the review dialog on it.
fn close_review_under_you(s: &mut State, f: &FlaggedAction) {
    let Some(Dialog::Review(r)) = &s.dialog else {
        return;
    };
    let Some(review) = &f.review else {
        return;
    };
    if r.flagged.action.id != f.action.id {
        return;
    }
    let text = format!(
        "{} was reviewed by {} ({}) before you sent yours. Nothing was sent.",
        inert(&f.action.id),
        inert(&review.body.reviewer),
        verdict_word(review.body.review)
    );
    s.dialog = Some(Dialog::Notice {
        title: " Already reviewed ".into(),
        text: text.clone(),
    });
    s.say(Level::Info, text);
}

pub(super) fn upsert_flag(s: &mut State, f: FlaggedAction) {
    match s.flagged.iter_mut().find(|x| x.action.id == f.action.id) {
        Some(slot) => *slot = f,
        None => s.flagged.insert(0, f),
    }
}

fn push_activity(s: &mut State, a: ActionSummary) {
    if let Some(i) = s.recent_tools.iter().position(|t| *t == a.tool) {
        s.recent_tools.remove(i);
    }
    s.recent_tools.push_front(a.tool.clone());
    s.recent_tools.truncate(RECENT_TOOLS_CAP);
    s.activity.push_front(a);
    s.activity.truncate(ACTIVITY_CAP);
}
