//! Held `tools/call` requests: one task each, so a call waiting for a person blocks nothing.
//!
//! A held call ends one of three ways: its task forwards it (allow) or answers it (deny); the
//! client cancels it; or the gate shuts down (client or server gone, or a signal). The table
//! lock orders them: whoever takes the entry out of the table first wins, and an allowed call
//! is written to the server before a later cancel notice can be. A call stopped before its
//! decision is withdrawn from gavel by its own task, and whoever stopped it waits for that
//! (bounded by the withdraw's timeout), so the escalation is closed before the gate moves on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::message::{denied_reply, denied_result, id_key, IdKey};
use super::progress::{self, keep_alive};
use super::tasks::{self, held_key, Answer, Status};
use super::Gate;
use crate::adapters::{adjudicate_watched, Ruling, WITHDRAW_TIMEOUT};
use crate::protocol::{inert, ActionRequest};

/// Waiting for stopped calls: their withdraw's own bound, plus scheduling slack.
const STOP_WAIT: Duration = WITHDRAW_TIMEOUT.saturating_add(Duration::from_secs(1));

pub(crate) struct Held {
    table: tokio::sync::Mutex<Table>,
    /// How many held-call tasks are still running.
    live: Arc<watch::Sender<usize>>,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            table: tokio::sync::Mutex::new(Table::default()),
            live: Arc::new(watch::channel(0).0),
        }
    }
}

#[derive(Default)]
struct Table {
    calls: HashMap<IdKey, Entry>,
    /// Set when the gate shuts down: no new call is held after that.
    closed: bool,
}

struct Entry {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Where a held call's ending goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Forwarded under the client's id, or answered to it.
    Reply,
    /// The gate's task with this id: forwarded under the gate's id, or the task fails.
    Task(String),
}

pub(crate) enum NotHeld {
    /// A call with the same request id is already held.
    Duplicate,
    ShuttingDown,
}

/// Counts a running task; dropped when the task ends, however it ends.
struct Live(Arc<watch::Sender<usize>>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Held {
    /// Starts adjudicating a call in its own task.
    pub(crate) async fn hold(&self, gate: Arc<Gate>, call: Call) -> Result<(), NotHeld> {
        let key = match &call.ending {
            Ending::Reply => id_key(&call.id),
            Ending::Task(task) => held_key(task),
        };
        let mut table = self.table.lock().await;
        if table.closed {
            return Err(NotHeld::ShuttingDown);
        }
        if table.calls.contains_key(&key) {
            return Err(NotHeld::Duplicate);
        }
        let (stop, stopped) = oneshot::channel();
        self.live.send_modify(|n| *n += 1);
        let live = Live(self.live.clone());
        let call = HeldCall {
            key: key.clone(),
            call,
        };
        let task = tokio::spawn(async move {
            let _live = live;
            call.decide(gate, stopped).await;
        });
        table.calls.insert(key, Entry { stop, task });
        Ok(())
    }

    /// For the client's cancel notice: a held call is stopped, withdrawn, and never forwarded
    /// nor answered, and the notice is swallowed; this returns once the withdraw is done
    /// (bounded). Otherwise the notice goes to the server, after the request it cancels.
    pub(crate) async fn cancel(&self, gate: &Gate, request_id: &Value, notice: Vec<u8>) {
        let mut table = self.table.lock().await;
        let Some(entry) = table.calls.remove(&id_key(request_id)) else {
            // Under the lock: an allowed call's own line is written before this notice.
            gate.send_to_server(notice).await;
            return;
        };
        drop(table);
        let _ = entry.stop.send(());
        if tokio::time::timeout(STOP_WAIT, entry.task).await.is_err() {
            eprintln!(
                "gavel gate: call {} cancelled by the client; its withdraw did not finish in time",
                inert(&request_id.to_string())
            );
        }
    }

    /// Stops the held call `key` (a task's, see `tasks::held_key`) and waits, bounded, until it
    /// has withdrawn; nothing when no such call is held.
    pub(crate) async fn stop(&self, key: &str) {
        let Some(entry) = self.table.lock().await.calls.remove(key) else {
            return;
        };
        let _ = entry.stop.send(());
        if tokio::time::timeout(STOP_WAIT, entry.task).await.is_err() {
            eprintln!("gavel gate: a cancelled task's withdraw did not finish in time");
        }
    }

    /// Stops every held call (the client or the server went away, or the gate was told to
    /// stop) and waits, bounded, until each has withdrawn. No call is held after this.
    pub(crate) async fn abandon_all(&self) {
        let stop_all = async {
            let entries: Vec<Entry> = {
                let mut table = self.table.lock().await;
                table.closed = true;
                table.calls.drain().map(|(_, e)| e).collect()
            };
            for entry in entries {
                let _ = entry.stop.send(());
            }
            // Counts every task, including one a concurrent cancel is waiting on.
            let mut live = self.live.subscribe();
            let _ = live.wait_for(|n| *n == 0).await;
        };
        if tokio::time::timeout(STOP_WAIT, stop_all).await.is_err() {
            eprintln!("gavel gate: some held calls did not finish withdrawing in time");
        }
    }
}

/// A `tools/call` to hold: the request id it is forwarded or answered under, and the line the
/// server gets if gavel allows it.
pub(crate) struct Call {
    pub id: Value,
    pub wire: Vec<u8>,
    pub action: ActionRequest,
    pub modern: bool,
    /// The client's progress token: progress is sent while the call is held.
    pub progress: Option<Value>,
    pub ending: Ending,
}

struct HeldCall {
    key: IdKey,
    call: Call,
}

impl HeldCall {
    async fn decide(self, gate: Arc<Gate>, stopped: oneshot::Receiver<()>) {
        // A dropped sender counts as a stop too: nobody is left to forward the call. A stop
        // halts progress at once, though the withdraw takes a moment more.
        let (halt, halted) = watch::channel(false);
        let stop = async move {
            let _ = stopped.await;
            halt.send_replace(true);
        };
        let ruling = match gate.token.as_deref() {
            Some(token) => {
                let (seen_tx, seen) = watch::channel(None);
                let task = match &self.call.ending {
                    Ending::Task(task) => Some(task.as_str()),
                    Ending::Reply => None,
                };
                let judged =
                    adjudicate_watched(&gate.client, token, &self.call.action, None, stop, |o| {
                        if let Some(task) = task {
                            gate.tasks.note(task, progress::message(Some(o)));
                        }
                        seen_tx.send_replace(Some(o.clone()));
                    });
                match self.call.progress.clone() {
                    // Progress is dropped when the ruling is in, before the call is forwarded
                    // or answered: both go out after its last line, never before it.
                    Some(t) => tokio::select! {
                        biased;
                        ruling = judged => ruling,
                        never = keep_alive(t, gate.progress_every, seen, halted, |n| gate.notify(n)) => match never {},
                    },
                    None => judged.await,
                }
            }
            None => Ruling::deny(format!(
                "no agent token: set {} for the gate (or agent_token in the [adapter] table of \
                 the config file)",
                crate::config::ENV_AGENT_TOKEN
            )),
        };
        // The tool name and id are the client's text: made inert before they reach a terminal.
        let tool = inert(&self.call.action.tool).into_owned();
        let id = inert(&self.call.id.to_string()).into_owned();
        let mut table = gate.held.table.lock().await;
        if table.calls.remove(&self.key).is_none() {
            drop(table);
            eprintln!(
                "gavel gate: dropped {tool} (request {id}): {}",
                ruling.reason
            );
            return;
        }
        if ruling.allow {
            // A task that ended meanwhile (cancelled, expired) is not run: nobody reads it.
            if let Ending::Task(task) = &self.call.ending {
                if !gate.tasks.forwarding(task, &id_key(&self.call.id)) {
                    drop(table);
                    eprintln!("gavel gate: dropped {tool} (request {id}): its task has ended");
                    return;
                }
            }
            // Still under the lock, so a cancel notice for this id is forwarded after it.
            gate.send_to_server(self.call.wire).await;
            return;
        }
        drop(table);
        eprintln!(
            "gavel gate: denied {tool} (request {id}): {}",
            ruling.reason
        );
        match &self.call.ending {
            Ending::Reply => {
                gate.reply(denied_reply(
                    &self.call.id,
                    &ruling.reason,
                    self.call.modern,
                ))
                .await
            }
            Ending::Task(task) => {
                let denial = Answer::Result(denied_result(&ruling.reason, false));
                let reason = ruling.reason.clone();
                if let Some(t) = gate.tasks.finish(task, Status::Failed, reason, denial) {
                    gate.notify(tasks::status_notification(t)).await;
                }
            }
        }
    }
}
