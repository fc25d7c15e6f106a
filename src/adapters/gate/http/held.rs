//! `tools/call` requests held while gavel adjudicates them, one task each.
//!
//! The POST that carries a call waits on its task. The task, not the POST, talks to gavel, so
//! a client that closes its HTTP request (the POST's future is dropped) still gets its call
//! withdrawn: dropping the POST drops the call's stop signal, and the task withdraws. A
//! `notifications/cancelled` for the call stops it the same way and waits (bounded) until the
//! withdraw is done. The table lock orders a decision against a cancel: whoever takes the entry
//! out first wins, and a call taken by a cancel is never forwarded. A cancel that comes while an
//! allowed call is on its way upstream waits (bounded) until the upstream has answered the
//! call's POST, so the notice does not overtake the call it cancels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::HttpGate;
use crate::adapters::gate::message::{id_key, IdKey};
use crate::adapters::{adjudicate_watched, Ruling, WITHDRAW_TIMEOUT};
use crate::protocol::{ActionOutcome, ActionRequest};

/// Waiting for stopped calls: their withdraw's own bound, plus scheduling slack.
const STOP_WAIT: Duration = WITHDRAW_TIMEOUT.saturating_add(Duration::from_secs(1));
/// How long a cancel notice waits for the allowed call it names to reach the upstream.
const SEND_WAIT: Duration = Duration::from_secs(5);

/// A held call is named by its MCP session and its request id: ids are per session.
type Key = (String, IdKey);

pub(crate) struct Held {
    table: Mutex<Table>,
    /// How many adjudication tasks are still running (withdrawing included).
    live: Arc<watch::Sender<usize>>,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            table: Mutex::new(Table::default()),
            live: Arc::new(watch::channel(0).0),
        }
    }
}

#[derive(Default)]
struct Table {
    calls: HashMap<Key, Entry>,
    /// Allowed calls on their way upstream; each turns true once the upstream answered.
    sending: HashMap<Key, watch::Receiver<bool>>,
    /// Set when the gate shuts down: no new call is held after that.
    closed: bool,
}

struct Entry {
    stop: oneshot::Sender<()>,
    /// Turns true once the task is done, its withdraw included.
    done: watch::Receiver<bool>,
}

pub(crate) enum NotHeld {
    /// A call with the same request id is already held in this session.
    Duplicate,
    ShuttingDown,
    /// The client cancelled the call while it was held (or the session ended).
    Cancelled,
}

/// Counts a running task; dropped when the task ends, however it ends.
struct Live(Arc<watch::Sender<usize>>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// What to do with a call gavel has ruled on.
pub(crate) enum Decided<'a> {
    /// Forward it; drop this once the upstream has answered the call's POST.
    Allow(Sending<'a>),
    Deny(String),
}

/// An allowed call on its way upstream: a cancel for it waits until this is dropped.
pub(crate) struct Sending<'a> {
    held: &'a Held,
    key: Key,
    sent: watch::Sender<bool>,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if let Ok(mut t) = self.held.table.lock() {
            t.sending.remove(&self.key);
        }
        let _ = self.sent.send(true);
    }
}

/// Takes the entry out when the waiting POST goes away, which stops the task.
struct Waiting<'a> {
    held: &'a Held,
    key: Option<Key>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if let Ok(mut t) = self.held.table.lock() {
                t.calls.remove(&key); // drops the stop sender: the task withdraws
            }
        }
    }
}

impl Held {
    /// Adjudicates `action` and says what to do: `Ok` only if the call is still the caller's
    /// to forward or answer. Dropping the returned future withdraws the call. `seen`, if
    /// given, gets each pending outcome (for progress while held).
    pub async fn decide(
        &self,
        gate: Arc<HttpGate>,
        session: &str,
        id: &Value,
        action: ActionRequest,
        seen: Option<watch::Sender<Option<ActionOutcome>>>,
    ) -> Result<Decided<'_>, NotHeld> {
        let key: Key = (session.to_string(), id_key(id));
        let (stop, stopped) = oneshot::channel::<()>();
        let (done_tx, done) = watch::channel(false);
        {
            let mut t = self.table.lock().map_err(|_| NotHeld::ShuttingDown)?;
            if t.closed {
                return Err(NotHeld::ShuttingDown);
            }
            if t.calls.contains_key(&key) || t.sending.contains_key(&key) {
                return Err(NotHeld::Duplicate);
            }
            t.calls.insert(key.clone(), Entry { stop, done });
        }
        let mut waiting = Waiting {
            held: self,
            key: Some(key.clone()),
        };
        self.live.send_modify(|n| *n += 1);
        let live = Live(self.live.clone());
        let (ruling_tx, ruling_rx) = oneshot::channel();
        tokio::spawn(async move {
            let _live = live;
            // A dropped sender counts as a stop too: nobody is left to forward the call.
            let stop = async move {
                let _ = stopped.await;
            };
            let ruling = match gate.token.as_deref() {
                Some(token) => {
                    adjudicate_watched(&gate.gavel, token, &action, None, stop, |o| {
                        if let Some(seen) = &seen {
                            seen.send_replace(Some(o.clone()));
                        }
                    })
                    .await
                }
                None => Ruling::deny(format!(
                    "no agent token: set {} for the gate (or agent_token in the [adapter] \
                     table of the config file)",
                    crate::config::ENV_AGENT_TOKEN
                )),
            };
            let _ = ruling_tx.send(ruling);
            let _ = done_tx.send(true);
        });
        let ruling = ruling_rx
            .await
            .unwrap_or_else(|_| Ruling::deny("the gate stopped adjudicating the call"));
        waiting.key = None;
        let mut t = self.table.lock().map_err(|_| NotHeld::ShuttingDown)?;
        if t.calls.remove(&key).is_none() {
            return Err(NotHeld::Cancelled);
        }
        if !ruling.allow {
            return Ok(Decided::Deny(ruling.reason));
        }
        let (sent, on_its_way) = watch::channel(false);
        t.sending.insert(key.clone(), on_its_way);
        Ok(Decided::Allow(Sending {
            held: self,
            key,
            sent,
        }))
    }

    /// For the client's cancel notice: true if `id` was held in `session`; it is then
    /// stopped and withdrawn (this waits, bounded, for the withdraw) and never forwarded.
    /// False when the notice is the upstream's: for a call on its way there, once it arrived.
    pub async fn cancel(&self, session: &str, id: &Value) -> bool {
        let key = (session.to_string(), id_key(id));
        let (entry, sending) = match self.table.lock() {
            Ok(mut t) => (t.calls.remove(&key), t.sending.get(&key).cloned()),
            Err(_) => (None, None),
        };
        if let Some(entry) = entry {
            stop_and_wait(vec![entry]).await;
            return true;
        }
        if let Some(mut sent) = sending {
            let _ = tokio::time::timeout(SEND_WAIT, sent.wait_for(|s| *s)).await;
        }
        false
    }

    /// The session ended: its held calls are withdrawn.
    pub async fn abandon_session(&self, session: &str) {
        let entries: Vec<Entry> = match self.table.lock() {
            Ok(mut t) => {
                let keys: Vec<Key> = t
                    .calls
                    .keys()
                    .filter(|(s, _)| s == session)
                    .cloned()
                    .collect();
                keys.iter().filter_map(|k| t.calls.remove(k)).collect()
            }
            Err(_) => return,
        };
        stop_and_wait(entries).await;
    }

    /// Stops every held call and waits, bounded, until every task has withdrawn (those whose
    /// client went away included). No call is held after this.
    pub async fn abandon_all(&self) {
        let entries: Vec<Entry> = match self.table.lock() {
            Ok(mut t) => {
                t.closed = true;
                t.calls.drain().map(|(_, e)| e).collect()
            }
            Err(_) => Vec::new(),
        };
        for entry in entries {
            let _ = entry.stop.send(());
        }
        let mut live = self.live.subscribe();
        if tokio::time::timeout(STOP_WAIT, live.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            eprintln!("gavel gate: some held calls did not finish withdrawing in time");
        }
    }
}

async fn stop_and_wait(entries: Vec<Entry>) {
    let mut waits = Vec::new();
    for entry in entries {
        let _ = entry.stop.send(());
        let mut done = entry.done;
        waits.push(async move {
            let _ = done.wait_for(|d| *d).await;
        });
    }
    let all = futures_util::future::join_all(waits);
    if tokio::time::timeout(STOP_WAIT, all).await.is_err() {
        eprintln!("gavel gate: a cancelled call's withdraw did not finish in time");
    }
}
