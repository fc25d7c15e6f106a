//! Held `tools/call` requests: one task each, so a call waiting for a person blocks nothing.
//!
//! Each held attempt ends one of three ways: gavel rules (see `settle`: an allowed action is
//! forwarded once, through one of the attempts waiting on it); the client cancels it; or the
//! gate shuts down (client or server gone, or a signal). The table lock orders them: whoever
//! takes an attempt out of the table first wins, and an allowed call is written to the server
//! before a later cancel notice can be. An attempt stopped before its decision withdraws its
//! action from gavel, unless another attempt waits on the same action (a client's retry, which
//! gavel attaches to the pending review); a cancelled one waits a grace first so that the retry
//! that usually follows a client's cancel attaches rather than asking approvers again (see
//! `retry`). At shutdown every withdraw is done at once, and waited for (bounded).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::message::{id_key, IdKey};
use super::progress::{self, keep_alive};
use super::retry::{self, Linger};
use super::tasks::held_key;
use super::Gate;
use crate::adapters::{adjudicate_watched, Ruling, WITHDRAW_TIMEOUT};
use crate::protocol::{inert, ActionOutcome, ActionRequest};

/// Waiting for stopped calls: their withdraw's own bound, plus scheduling slack.
const STOP_WAIT: Duration = WITHDRAW_TIMEOUT.saturating_add(Duration::from_secs(1));

pub(crate) struct Held {
    pub(super) table: tokio::sync::Mutex<Table>,
    /// How many held-call tasks are still running (lingering ones included).
    live: Arc<watch::Sender<usize>>,
    /// Turns true when the gate shuts down: a lingering withdraw is done at once.
    pub(super) closing: watch::Sender<bool>,
    /// How long a cancelled attempt's action stays open for a retry to attach (see `retry`).
    pub(super) grace: Duration,
}

#[derive(Default)]
pub(super) struct Table {
    /// Attempts still waiting for their ruling, by the key they were held under.
    pub(super) calls: HashMap<IdKey, Entry>,
    /// Set when the gate shuts down: no new call is held after that.
    closed: bool,
    /// Orders attempts by arrival: the newest waiting one is the one forwarded.
    next_seq: u64,
    /// Per gavel action, the newest cancelled attempt still in its grace.
    pub(super) lingering: HashMap<String, u64>,
}

pub(super) struct Entry {
    pub(super) seq: u64,
    stop: oneshot::Sender<Stop>,
    pub(super) task: JoinHandle<()>,
    pub(super) call: Arc<Call>,
    /// What gavel said of this attempt: its action once pending.
    pub(super) seen: watch::Receiver<Option<ActionOutcome>>,
}

impl Entry {
    pub(super) fn action(&self) -> Option<String> {
        self.seen.borrow().as_ref().map(|o| o.id.clone())
    }
}

/// Why an attempt stops waiting; a dropped sender means the gate is shutting down (withdraw
/// at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The client cancelled: withdrawn after the grace unless another attempt waits on it.
    Cancel,
    /// Withdrawn now unless another attempt waits on it (a task cancelled or expired, or no
    /// grace configured).
    Release,
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
    pub(crate) fn new(grace: Duration) -> Held {
        Held {
            table: tokio::sync::Mutex::new(Table::default()),
            live: Arc::new(watch::channel(0).0),
            closing: watch::channel(false).0,
            grace,
        }
    }

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
        table.next_seq += 1;
        let seq = table.next_seq;
        let (stop, stopped) = oneshot::channel();
        let (seen_tx, seen) = watch::channel(None);
        self.live.send_modify(|n| *n += 1);
        let live = Live(self.live.clone());
        let call = Arc::new(call);
        let attempt = HeldCall {
            key: key.clone(),
            seq,
            call: call.clone(),
        };
        let task = tokio::spawn(async move {
            let _live = live;
            attempt.decide(gate, stopped, seen_tx).await;
        });
        table.calls.insert(
            key,
            Entry {
                seq,
                stop,
                task,
                call,
                seen,
            },
        );
        Ok(())
    }

    /// For the client's cancel notice: a held attempt is stopped and never forwarded nor
    /// answered, and the notice is swallowed; its action is withdrawn after the grace unless a
    /// retry waits on it (with no grace, now, and this returns once that is done, bounded).
    /// Otherwise the notice goes to the server, after the request it cancels.
    pub(crate) async fn cancel(&self, gate: &Gate, request_id: &Value, notice: Vec<u8>) {
        let mut table = self.table.lock().await;
        let Some(entry) = table.calls.remove(&id_key(request_id)) else {
            // Under the lock: an allowed call's own line is written before this notice.
            gate.send_to_server(notice).await;
            return;
        };
        drop(table);
        if !self.grace.is_zero() {
            let _ = entry.stop.send(Stop::Cancel);
            return;
        }
        let _ = entry.stop.send(Stop::Release);
        if tokio::time::timeout(STOP_WAIT, entry.task).await.is_err() {
            eprintln!(
                "gavel gate: call {} cancelled by the client; its withdraw did not finish in time",
                inert(&request_id.to_string())
            );
        }
    }

    /// Stops the held call `key` (a task's, see `tasks::held_key`) and waits, bounded, until it
    /// has withdrawn (or left its action to another attempt); nothing when no such call is held.
    pub(crate) async fn stop(&self, key: &str) {
        let Some(entry) = self.table.lock().await.calls.remove(key) else {
            return;
        };
        let _ = entry.stop.send(Stop::Release);
        if tokio::time::timeout(STOP_WAIT, entry.task).await.is_err() {
            eprintln!("gavel gate: a cancelled task's withdraw did not finish in time");
        }
    }

    /// Stops every held call (the client or the server went away, or the gate was told to
    /// stop), cuts every grace short, and waits, bounded, until each has withdrawn. No call is
    /// held after this.
    pub(crate) async fn abandon_all(&self) {
        let stop_all = async {
            let entries: Vec<Entry> = {
                let mut table = self.table.lock().await;
                table.closed = true;
                table.calls.drain().map(|(_, e)| e).collect()
            };
            self.closing.send_replace(true);
            drop(entries); // each dropped stop: withdraw now
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

impl Call {
    /// How the client knows this attempt, for messages to it and the log.
    pub(super) fn label(&self) -> String {
        match &self.ending {
            Ending::Reply => format!("request {}", inert(&self.id.to_string())),
            Ending::Task(task) => format!("task {}", inert(task)),
        }
    }
}

pub(super) struct HeldCall {
    pub(super) key: IdKey,
    pub(super) seq: u64,
    pub(super) call: Arc<Call>,
}

impl HeldCall {
    async fn decide(
        self,
        gate: Arc<Gate>,
        stopped: oneshot::Receiver<Stop>,
        seen_tx: watch::Sender<Option<ActionOutcome>>,
    ) {
        let seen = seen_tx.subscribe();
        let ruling = match gate.token.as_deref() {
            Some(token) => {
                // A stop halts progress at once, though the withdraw takes a moment more.
                let (halt, halted) = watch::channel(false);
                let (withdraw_now, withdraw) = oneshot::channel::<()>();
                let task = match &self.call.ending {
                    Ending::Task(task) => Some(task.as_str()),
                    Ending::Reply => None,
                };
                let judged = adjudicate_watched(
                    &gate.client,
                    token,
                    &self.call.action,
                    None,
                    async {
                        let _ = withdraw.await;
                    },
                    |o| {
                        if let Some(task) = task {
                            gate.tasks.note(task, progress::message(Some(o)));
                        }
                        seen_tx.send_replace(Some(o.clone()));
                    },
                );
                // Progress is dropped when the ruling is in, before the call is forwarded or
                // answered: both go out after its last line, never before it.
                let progress = async {
                    match self.call.progress.clone() {
                        Some(t) => {
                            keep_alive(t, gate.progress_every, seen.clone(), halted, |n| {
                                gate.notify(n)
                            })
                            .await
                        }
                        None => std::future::pending().await,
                    }
                };
                let stopping = async {
                    let why = stopped.await.ok();
                    halt.send_replace(true);
                    let linger = match why {
                        Some(Stop::Cancel) => {
                            retry::linger(&gate.held, self.seq, seen.clone()).await
                        }
                        Some(Stop::Release) => retry::release(&gate.held, &seen).await,
                        None => Linger::Withdraw,
                    };
                    if linger == Linger::Withdraw {
                        let _ = withdraw_now.send(());
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    biased;
                    ruling = judged => ruling,
                    never = progress => match never {},
                    () = stopping => {
                        // Its action stays open for the attempt that waits on it now.
                        eprintln!(
                            "gavel gate: {} ({}) was cancelled; a retry waits on its review",
                            self.call.label(),
                            inert(&self.call.action.tool)
                        );
                        return;
                    }
                }
            }
            None => Ruling::deny(format!(
                "no agent token: set {} for the gate (or agent_token in the [adapter] table of \
                 the config file)",
                crate::config::ENV_AGENT_TOKEN
            )),
        };
        let action = seen.borrow().as_ref().map(|o| o.id.clone());
        super::settle::ruled(&gate, &self, action, ruling).await;
    }
}
