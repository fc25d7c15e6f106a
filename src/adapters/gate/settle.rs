//! What a held attempt's ruling does: an approval runs the call once.
//!
//! Several attempts may wait on one gavel action (a client's retries attach to it; see
//! `retry`). A denial answers each attempt as its own adjudication ends. An allow, taken by
//! whichever attempt's adjudication sees it first, forwards exactly one attempt: the newest
//! one still waiting, the one the client most likely still waits for. Every other attempt still
//! waiting is answered with an error that names the one that ran, and a cancelled attempt is
//! never forwarded: cancels take the same table lock, and the forward is written under it.

use std::time::Duration;

use super::calls::{Call, Ending, Entry, HeldCall};
use super::message::{denied_reply, denied_result, id_key};
use super::tasks::{self, Answer, Status};
use super::Gate;
use crate::adapters::Ruling;
use crate::protocol::inert;

/// An aborted attempt's task ends at its next await; this only bounds a stuck runtime.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// Ends attempt `me` (and, for an allow, every attempt waiting on `action` with it).
pub(super) async fn ruled(gate: &Gate, me: &HeldCall, action: Option<String>, ruling: Ruling) {
    let tool = inert(&me.call.action.tool).into_owned();
    let mut table = gate.held.table.lock().await;
    if let Some(a) = &action {
        if table.lingering.get(a) == Some(&me.seq) {
            table.lingering.remove(a);
        }
    }
    if !ruling.allow {
        let mine = table.calls.get(&me.key).is_some_and(|e| e.seq == me.seq);
        if mine {
            table.calls.remove(&me.key);
        }
        drop(table);
        let verb = if mine { "denied" } else { "dropped" };
        eprintln!(
            "gavel gate: {verb} {tool} ({}): {}",
            me.call.label(),
            ruling.reason
        );
        if mine {
            answer(gate, &me.call, &ruling.reason).await;
        }
        return;
    }
    // Every attempt still waiting on this action (this one, if not cancelled), newest first.
    let keys: Vec<_> = table
        .calls
        .iter()
        .filter(|(_, e)| e.seq == me.seq || (action.is_some() && e.action() == action))
        .map(|(k, _)| k.clone())
        .collect();
    let mut waiting: Vec<Entry> = keys.iter().filter_map(|k| table.calls.remove(k)).collect();
    waiting.sort_by_key(|e| std::cmp::Reverse(e.seq));
    // Their own adjudications stop here (the action is decided: nothing to withdraw), and with
    // them their progress, before any of them is forwarded or answered.
    for entry in &mut waiting {
        if entry.seq != me.seq {
            entry.task.abort();
            let _ = tokio::time::timeout(ABORT_WAIT, &mut entry.task).await;
        }
    }
    // A task that ended meanwhile (cancelled, expired) is not run: nobody reads it.
    let chosen = waiting.iter().position(|e| match &e.call.ending {
        Ending::Task(task) => gate.tasks.forwarding(task, &id_key(&e.call.id)),
        Ending::Reply => true,
    });
    let Some(chosen) = chosen.map(|i| waiting.remove(i)) else {
        drop(table);
        eprintln!(
            "gavel gate: dropped {tool} ({}): approved, but no attempt waits for it any more",
            me.call.label()
        );
        return;
    };
    // Still under the lock, so a cancel notice for this id is forwarded after it.
    gate.send_to_server(chosen.call.wire.clone()).await;
    drop(table);
    if waiting.is_empty() {
        return;
    }
    let ran = chosen.call.label();
    let why = format!(
        "the approved call ran once, as {ran} (an approval runs a call once); this attempt was \
         not run"
    );
    for other in &waiting {
        eprintln!(
            "gavel gate: answered {tool} ({}): approved once, forwarded as {ran}",
            other.call.label()
        );
        answer(gate, &other.call, &why).await;
    }
}

/// Answers an attempt that is not run: an `isError` result, or its task fails.
async fn answer(gate: &Gate, call: &Call, reason: &str) {
    match &call.ending {
        Ending::Reply => {
            gate.reply(denied_reply(&call.id, reason, call.modern))
                .await
        }
        Ending::Task(task) => {
            let denial = Answer::Result(denied_result(reason, false));
            if let Some(t) = gate
                .tasks
                .finish(task, Status::Failed, reason.to_string(), denial)
            {
                gate.notify(tasks::status_notification(t)).await;
            }
        }
    }
}
