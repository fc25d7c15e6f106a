//! `tools/call` requests held while gavel adjudicates them, one task each.
//!
//! The POST that carries a call waits on its task. The task, not the POST, talks to gavel, so
//! a client that closes its HTTP request (the POST's future is dropped) still gets its call
//! withdrawn. Attempts are grouped by gavel action (see `attempts`): a retry that gavel
//! attaches to a pending escalation waits on the same action, one approval runs the call once,
//! and a cancelled attempt's action is withdrawn only when no attempt waits on it, after a
//! grace (`GAVEL_GATE_RETRY_GRACE_SECS`, as in the stdio gate) in which a retry may attach instead. The table lock orders
//! a decision against a cancel: whoever takes the entry out first wins, and a call taken by a
//! cancel is never forwarded. A cancel that comes while an allowed call is on its way upstream
//! waits (bounded) until the upstream has answered the call's POST, so the notice does not
//! overtake the call it cancels. At shutdown every held action is withdrawn at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::attempts::{Entry, Key, Release, Ruled, Table};
use super::HttpGate;
use crate::adapters::gate::message::id_key;
use crate::adapters::{adjudicate_watched, Ruling, WITHDRAW_TIMEOUT};
use crate::protocol::{inert, ActionOutcome, ActionRequest};

/// Waiting for withdraws at shutdown: their own bound, plus scheduling slack.
const STOP_WAIT: Duration = WITHDRAW_TIMEOUT.saturating_add(Duration::from_secs(1));
/// How long a cancel notice waits for the allowed call it names to reach the upstream.
const SEND_WAIT: Duration = Duration::from_secs(5);

pub(crate) struct Held {
    table: Mutex<Table>,
    /// How many tasks are still running (adjudications and scheduled withdraws).
    live: Arc<watch::Sender<usize>>,
    /// Turns true at shutdown: held calls are withdrawn, scheduled withdraws run at once.
    closing: watch::Sender<bool>,
    grace: Duration,
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

impl Live {
    fn new(live: &Arc<watch::Sender<usize>>) -> Live {
        live.send_modify(|n| *n += 1);
        Live(live.clone())
    }
}

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

/// The task's answer to the waiting POST.
enum Answer {
    Forward(watch::Sender<bool>),
    Deny(String),
}

/// The attempt leaves when the waiting POST goes away.
struct Waiting<'a> {
    gate: &'a Arc<HttpGate>,
    key: Option<Key>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.gate.held.leave(self.gate, &key, self.gate.held.grace);
        }
    }
}

impl Held {
    pub fn new(grace: Duration) -> Held {
        Held {
            table: Mutex::new(Table::default()),
            live: Arc::new(watch::channel(0).0),
            closing: watch::channel(false).0,
            grace,
        }
    }

    /// Adjudicates `action` and says what to do: `Ok` only if the call is still the caller's
    /// to forward or answer. Dropping the returned future is a cancel. `seen`, if given, gets
    /// each pending outcome (for progress while held).
    pub async fn decide<'a>(
        &'a self,
        gate: &'a Arc<HttpGate>,
        session: &str,
        id: &Value,
        action: ActionRequest,
        seen: Option<watch::Sender<Option<ActionOutcome>>>,
    ) -> Result<Decided<'a>, NotHeld> {
        let key: Key = (session.to_string(), id_key(id));
        let (detach, detached) = oneshot::channel::<()>();
        {
            let mut t = self.table.lock().map_err(|_| NotHeld::ShuttingDown)?;
            if t.closed {
                return Err(NotHeld::ShuttingDown);
            }
            if t.calls.contains_key(&key) || t.sending.contains_key(&key) {
                return Err(NotHeld::Duplicate);
            }
            let seq = t.next_seq();
            let entry = Entry {
                seq,
                id: id.clone(),
                detach: Some(detach),
                action: None,
                cancelled: None,
            };
            t.calls.insert(key.clone(), entry);
        }
        let mut waiting = Waiting {
            gate,
            key: Some(key.clone()),
        };
        let live = Live::new(&self.live);
        let (answer_tx, answer_rx) = oneshot::channel::<Option<Answer>>();
        let task_gate = gate.clone();
        let task_key = key.clone();
        tokio::spawn(async move {
            let _live = live;
            let (gate, key) = (task_gate, task_key);
            let Some(ruling) = adjudicate_attempt(&gate, &key, &action, seen, detached).await
            else {
                return; // detached: the group decides; the POST hears "cancelled"
            };
            let answer = gate.held.ruled(&key, &ruling);
            if let Err(Some(Answer::Forward(_))) = answer_tx.send(answer) {
                // The POST went away just now: nobody forwards it.
                if let Ok(mut t) = gate.held.table.lock() {
                    t.sending.remove(&key);
                }
            }
        });
        let answer = answer_rx.await;
        waiting.key = None;
        match answer {
            Ok(Some(Answer::Forward(sent))) => Ok(Decided::Allow(Sending {
                held: self,
                key,
                sent,
            })),
            Ok(Some(Answer::Deny(reason))) => Ok(Decided::Deny(reason)),
            Ok(None) | Err(_) => {
                self.leave(gate, &key, self.grace);
                Err(NotHeld::Cancelled)
            }
        }
    }

    /// Takes the ruled attempt out and says what its POST does (`None`: it had left).
    fn ruled(&self, key: &Key, ruling: &Ruling) -> Option<Answer> {
        let mut t = self.table.lock().ok()?;
        match t.ruled(key, ruling)? {
            Ruled::Forward => {
                let (sent, on_its_way) = watch::channel(false);
                t.sending.insert(key.clone(), on_its_way);
                Some(Answer::Forward(sent))
            }
            Ruled::RanAs(id) => Some(Answer::Deny(format!(
                "approved once, so it runs once: it ran as request {} (a retry of this call \
                 waited on the same approval)",
                inert(&id.to_string())
            ))),
            Ruled::Deny(reason) => Some(Answer::Deny(reason)),
        }
    }

    /// gavel answered `key` pending as action `action`.
    fn attach(&self, gate: &Arc<HttpGate>, key: &Key, action: &str) {
        let release = match self.table.lock() {
            Ok(mut t) => t.attach(key, action),
            Err(_) => None,
        };
        if let Some(r) = release {
            self.schedule(gate, r);
        }
    }

    /// The attempt `key` leaves; true if it was held.
    fn leave(&self, gate: &Arc<HttpGate>, key: &Key, grace: Duration) -> bool {
        let (held, release) = match self.table.lock() {
            Ok(mut t) => t.leave(key, grace),
            Err(_) => (false, None),
        };
        if let Some(r) = release {
            self.schedule(gate, r);
        }
        held
    }

    /// Withdraws `r.action` after its grace (at once on shutdown) if nobody attached since.
    fn schedule(&self, gate: &Arc<HttpGate>, r: Release) -> tokio::task::JoinHandle<()> {
        let live = Live::new(&self.live);
        let mut closing = self.closing.subscribe();
        let gate = gate.clone();
        tokio::spawn(async move {
            let _live = live;
            tokio::select! {
                () = tokio::time::sleep(r.grace) => {}
                _ = closing.wait_for(|c| *c) => {}
            }
            let due = gate.held.table.lock().is_ok_and(|mut t| t.due(&r));
            let Some(token) = gate.token.as_deref().filter(|_| due) else {
                return;
            };
            let action = inert(&r.action).into_owned();
            match tokio::time::timeout(WITHDRAW_TIMEOUT, gate.gavel.withdraw(token, &r.action))
                .await
            {
                Ok(Ok(_)) => eprintln!(
                    "gavel gate: withdrew action {action}: its call was cancelled and no retry \
                     came"
                ),
                Ok(Err(e)) => eprintln!(
                    "gavel gate: withdrawing action {action} failed ({e}); it stays open until \
                     its deadline"
                ),
                Err(_) => eprintln!("gavel gate: withdrawing action {action} timed out"),
            }
        })
    }

    /// For the client's cancel notice: true if `id` was held in `session`; it then leaves and
    /// is never forwarded. False when the notice is the upstream's: for a call on its way
    /// there, once it arrived.
    pub async fn cancel(&self, gate: &Arc<HttpGate>, session: &str, id: &Value) -> bool {
        let key = (session.to_string(), id_key(id));
        if self.leave(gate, &key, self.grace) {
            return true;
        }
        let sending = self
            .table
            .lock()
            .ok()
            .and_then(|t| t.sending.get(&key).cloned());
        if let Some(mut sent) = sending {
            let _ = tokio::time::timeout(SEND_WAIT, sent.wait_for(|s| *s)).await;
        }
        false
    }

    /// The session ended: its held calls leave and their actions are withdrawn now (no retry
    /// can come in a session that is over).
    pub async fn abandon_session(&self, gate: &Arc<HttpGate>, session: &str) {
        let releases: Vec<Release> = match self.table.lock() {
            Ok(mut t) => {
                let keys: Vec<Key> = t
                    .calls
                    .keys()
                    .filter(|(s, _)| s == session)
                    .cloned()
                    .collect();
                keys.iter()
                    .filter_map(|k| t.leave(k, Duration::ZERO).1)
                    .collect()
            }
            Err(_) => return,
        };
        let handles: Vec<_> = releases
            .into_iter()
            .map(|r| self.schedule(gate, r))
            .collect();
        let all = futures_util::future::join_all(handles);
        if tokio::time::timeout(STOP_WAIT, all).await.is_err() {
            eprintln!("gavel gate: an ended session's withdraw did not finish in time");
        }
    }

    /// Withdraws every held call and every scheduled withdraw at once, and waits, bounded,
    /// until all are done. No call is held after this.
    pub async fn abandon_all(&self) {
        if let Ok(mut t) = self.table.lock() {
            t.closed = true;
        }
        self.closing.send_replace(true);
        let mut live = self.live.subscribe();
        if tokio::time::timeout(STOP_WAIT, live.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            eprintln!("gavel gate: some held calls did not finish withdrawing in time");
        }
    }
}

/// Adjudicates one attempt; `None` if it was detached (it left once gavel named its action).
/// Only shutdown stops the adjudication itself, which then withdraws the call.
async fn adjudicate_attempt(
    gate: &Arc<HttpGate>,
    key: &Key,
    action: &ActionRequest,
    seen: Option<watch::Sender<Option<ActionOutcome>>>,
    detached: oneshot::Receiver<()>,
) -> Option<Ruling> {
    let Some(token) = gate.token.as_deref() else {
        return Some(Ruling::deny(format!(
            "no agent token: set {} for the gate (or agent_token in the [adapter] table of the \
             config file)",
            crate::config::ENV_AGENT_TOKEN
        )));
    };
    let mut closing = gate.held.closing.subscribe();
    let stop = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    let judged = adjudicate_watched(&gate.gavel, token, action, None, stop, |o| {
        if let Some(seen) = &seen {
            seen.send_replace(Some(o.clone()));
        }
        gate.held.attach(gate, key, &o.id);
    });
    tokio::select! {
        biased;
        _ = detached => None,
        ruling = judged => Some(ruling),
    }
}
