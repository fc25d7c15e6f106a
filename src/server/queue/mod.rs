//! The escalation queue: the pending escalations and every change to them — votes, deadlines
//! and hand-overs, withdrawals, kill-switch cancellations. What changes is decided by the pure
//! state machine (`machine`); this module makes it durable, then applies and announces it.
//!
//! Concurrency: the map of pending escalations is behind a plain mutex held only for moments,
//! never across a store write, so changes to different escalations share the store's group
//! commit. Changes to one escalation serialise on its *turn* (a per-escalation lock held from
//! reading its state to applying the written change), so none is lost or applied twice, and a
//! failed write leaves it as it was. A kill-switch flip, which cancels many escalations at once
//! and must not miss one being queued, takes the queue's gate exclusively; every other change
//! holds it shared.
//!
//! Between replicas on one store, turns and the gate do not reach: every escalation write is
//! fenced on the stored row instead (`store::Change`). A change that finds the escalation
//! changed elsewhere takes that change (`remote::refresh`) and is decided again, a few times at
//! most; other replicas' changes arrive through the change feed (`server::replicas`).

mod deadlines;
mod decide;
mod flip;
mod handle;
mod handling;
pub mod machine;
mod remote;
mod removals;
mod restore;
mod wait;

#[cfg(test)]
mod machine_tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use tokio::sync::{broadcast, watch, OwnedMutexGuard, RwLock, RwLockReadGuard};

use super::audit::AuditEvent;
use super::error::ApiError;
use super::killswitch::{kill_reason, KillSwitches};
use super::metrics::{Metrics, PendingSummary};
use super::store::{self, Change, ExpiryPlan, Op, Store, StoreError};
use crate::protocol::{ActionOutcome, Escalation, ServerMessage, Timestamp};
use deadlines::Deadlines;
use machine::Step;

pub(crate) use wait::outcome_of;

/// The pending escalations, and the handles every change to them goes through.
pub(crate) struct Queue {
    pending: Mutex<HashMap<String, Slot>>,
    /// Pending escalations by digest, for a retried call to find the one it repeats.
    by_digest: Mutex<HashMap<String, String>>,
    /// What was taken out of `pending` lately (see [`removals`]).
    removals: removals::Removals,
    gate: RwLock<()>,
    deadlines: Deadlines,
    store: Store,
    bus: broadcast::Sender<ServerMessage>,
    kill: Arc<KillSwitches>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    /// Told of every escalation that ends, once durable (the limits' ledger releases or
    /// grants on it).
    on_closed: std::sync::OnceLock<ClosedHook>,
}

/// How often a change is decided again when another replica changed the escalation first.
const CONFLICT_TRIES: u32 = 3;

/// The API's answer to a change that could not be written.
fn write_failed(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(id) => ApiError::conflict(
            "changed_elsewhere",
            format!("escalation {id} kept changing on other replicas; nothing was done: try again"),
        ),
        e => ApiError::storage(e),
    }
}

/// What hears of each escalation that ended.
pub(crate) type ClosedHook = Box<dyn Fn(&Escalation) + Send + Sync>;

struct Slot {
    esc: Escalation,
    plan: ExpiryPlan,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// The right to change one pending escalation, with its state when the turn began.
struct Turn<'q> {
    _gate: RwLockReadGuard<'q, ()>,
    _held: OwnedMutexGuard<()>,
    esc: Escalation,
    plan: ExpiryPlan,
}

impl Queue {
    /// An empty queue; its deadline timer runs until `shutdown`.
    pub fn new(
        store: Store,
        bus: broadcast::Sender<ServerMessage>,
        kill: Arc<KillSwitches>,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Queue> {
        let queue = Arc::new(Queue {
            pending: Mutex::new(HashMap::new()),
            by_digest: Mutex::new(HashMap::new()),
            removals: Default::default(),
            gate: RwLock::new(()),
            deadlines: Deadlines::default(),
            store,
            bus,
            kill,
            metrics,
            shutdown,
            on_closed: std::sync::OnceLock::new(),
        });
        tokio::spawn(deadlines::run(queue.clone()));
        queue
    }

    /// Sets what hears of each escalation that ends; set once, at start.
    pub fn on_closed(&self, hook: ClosedHook) {
        let _ = self.on_closed.set(hook);
    }

    /// An escalation ended and that is durable: counted, and told to whoever listens.
    fn closed(&self, esc: &Escalation) {
        self.metrics.resolved(esc);
        if let Some(hook) = self.on_closed.get() {
            hook(esc);
        }
    }

    /// Pending escalations, soonest deadline first.
    pub fn pending(&self) -> Vec<Escalation> {
        let mut v: Vec<Escalation> = self.slots().values().map(|s| s.esc.clone()).collect();
        v.sort_by(|a, b| a.deadline.cmp(&b.deadline).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// The pending escalation of `agent` with `digest`: the same call, under the same policy,
    /// still waiting for a decision.
    pub fn pending_with_digest(&self, agent: &str, digest: &str) -> Option<Escalation> {
        let id = self.digests().get(digest).cloned()?;
        self.slots()
            .get(&id)
            .map(|s| &s.esc)
            .filter(|e| e.action.agent == agent && e.digest == digest)
            .cloned()
    }

    /// An escalation, pending or not.
    pub async fn get(&self, id: &str) -> Result<Option<Escalation>, ApiError> {
        if let Some(slot) = self.slots().get(id) {
            return Ok(Some(slot.esc.clone()));
        }
        self.stored(id).await
    }

    async fn stored(&self, id: &str) -> Result<Option<Escalation>, ApiError> {
        let id = id.to_string();
        let found = self
            .store
            .read(move |c| store::load_escalation(c, &id))
            .await
            .map_err(ApiError::storage)?;
        Ok(found.map(|(e, _)| e))
    }

    /// Puts a freshly recorded escalation in the queue. Returns the final outcome if a kill
    /// switch turned on while it was being recorded (it is then cancelled at once).
    pub async fn enqueue(&self, esc: Escalation, plan: ExpiryPlan) -> Option<ActionOutcome> {
        self.admit(esc, plan, None).await
    }

    /// [`Queue::enqueue`]; an escalation re-read from the store after removal mark `read_at`
    /// is queued only if it is not queued here already and was not taken out here since.
    async fn admit(
        &self,
        esc: Escalation,
        plan: ExpiryPlan,
        read_at: Option<u64>,
    ) -> Option<ActionOutcome> {
        // Shared gate: a flip either sees this escalation queued or this sees its switch on.
        let _gate = self.gate.read().await;
        let switch = self.kill.covering(&esc.action.agent, &esc.action.tool);
        if let Some(k) = switch {
            let why = kill_reason(&k.scope, &k.reason);
            if let Ok(cancelled) = machine::kill(&esc, why, Utc::now()) {
                let audit = vec![AuditEvent::escalation_resolved(&cancelled)];
                let op = Op::Escalation(Change::new(&esc, cancelled.clone()));
                if self.store.write(op, audit).await.is_ok() {
                    self.closed(&cancelled);
                    let outcome = outcome_of(&cancelled);
                    let _ = self.bus.send(ServerMessage::EscalationResolved {
                        escalation: Box::new(cancelled),
                    });
                    return Some(outcome);
                }
                // Not recorded: it is still pending in the store, so queue it like any other
                // and let its deadline close it.
            }
        }
        if !self.insert(esc.clone(), plan, read_at) {
            return None;
        }
        let _ = self.bus.send(ServerMessage::EscalationCreated {
            escalation: Box::new(esc),
        });
        None
    }

    /// Queues `esc`, unless it was re-read after removal mark `read_at` and is queued here
    /// already or was taken out here since (the read then saw it before this replica's own
    /// change, which nothing from the feed will bring back). Whether it was queued.
    fn insert(&self, esc: Escalation, plan: ExpiryPlan, read_at: Option<u64>) -> bool {
        let (id, digest, deadline) = (esc.id.clone(), esc.digest.clone(), esc.deadline);
        {
            let mut slots = self.slots();
            let stale = |mark| slots.contains_key(&id) || self.removals.since(mark, &id);
            if read_at.is_some_and(stale) {
                return false;
            }
            let slot = Slot {
                esc,
                plan,
                turn: Arc::default(),
            };
            slots.insert(id.clone(), slot);
        }
        self.deadlines.arm(&id, deadline);
        self.digests().insert(digest, id);
        true
    }

    /// Waits for the turn of pending escalation `id`; `None` if it is not (or no longer) pending.
    async fn turn(&self, id: &str) -> Option<Turn<'_>> {
        let gate = self.gate.read().await;
        let lock = self.slots().get(id)?.turn.clone();
        let held = lock.lock_owned().await;
        // It may have been resolved while this waited.
        let slots = self.slots();
        let slot = slots.get(id)?;
        Some(Turn {
            esc: slot.esc.clone(),
            plan: slot.plan.clone(),
            _gate: gate,
            _held: held,
        })
    }

    /// Writes a step of the escalation whose turn it is, with `audit`; once durable, applies it
    /// here and announces it. A failed write changes nothing.
    async fn commit(
        &self,
        turn: Turn<'_>,
        step: Step,
        audit: Vec<AuditEvent>,
    ) -> Result<Escalation, StoreError> {
        self.commit_signed(turn, step, audit, None).await
    }

    /// [`Queue::commit`] of a change a person signed: `signature` is recorded as used in the
    /// same write.
    async fn commit_signed(
        &self,
        turn: Turn<'_>,
        step: Step,
        mut audit: Vec<AuditEvent>,
        signature: Option<&str>,
    ) -> Result<Escalation, StoreError> {
        if let Step::Resolve(esc) = &step {
            audit.push(AuditEvent::escalation_resolved(esc));
            if esc.state == crate::protocol::EscalationState::Approved {
                audit.extend(AuditEvent::grace_granted(esc));
            }
        }
        let change = Change::new(&turn.esc, step.escalation().clone());
        let op = match signature {
            None => Op::Escalation(change),
            Some(signature) => Op::SignedChange {
                change,
                signature: signature.to_string(),
            },
        };
        if let Err(e) = self.store.write(op, audit).await {
            if let StoreError::Conflict(id) = &e {
                // Another replica changed it first: take its change, so a retry decides on it.
                drop(turn);
                self.refresh(id).await;
            }
            return Err(e);
        }
        // Applied before it is announced: whoever sees it still pending here hears the news.
        let (esc, message) = match step {
            Step::Update(esc) => {
                if esc.deadline != turn.esc.deadline {
                    self.deadlines.disarm(&esc.id, turn.esc.deadline);
                    self.deadlines.arm(&esc.id, esc.deadline);
                }
                if let Some(slot) = self.slots().get_mut(&esc.id) {
                    slot.esc = esc.clone();
                }
                let message = ServerMessage::EscalationUpdated {
                    escalation: Box::new(esc.clone()),
                };
                (esc, message)
            }
            Step::Resolve(esc) => {
                self.deadlines.disarm(&esc.id, turn.esc.deadline);
                self.remove(&esc);
                self.closed(&esc);
                let message = ServerMessage::EscalationResolved {
                    escalation: Box::new(esc.clone()),
                };
                (esc, message)
            }
        };
        let _ = self.bus.send(message);
        drop(turn);
        Ok(esc)
    }

    /// Takes a resolved escalation out of the pending maps.
    fn remove(&self, esc: &Escalation) {
        // Noted under the same lock as the removal, which a re-read's queueing checks.
        let mut slots = self.slots();
        if slots.remove(&esc.id).is_some() {
            self.removals.removed(&esc.id);
        }
        drop(slots);
        let mut digests = self.digests();
        if digests.get(&esc.digest) == Some(&esc.id) {
            digests.remove(&esc.digest);
        }
    }

    fn digests(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.by_digest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The map is only ever changed by single inserts, updates and removals, so a panic
    /// elsewhere cannot leave it half-changed: its poison is ignored.
    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PendingSummary for Queue {
    /// How many escalations are pending and when the oldest was created, for a scrape: one
    /// pass over the map in memory.
    fn pending_summary(&self) -> (usize, Option<Timestamp>) {
        let slots = self.slots();
        let oldest = slots.values().map(|s| s.esc.created_at).min();
        (slots.len(), oldest)
    }
}
