//! One webhook's worker: reads the audit log after its cursor, delivers the events it maps to
//! in log order, and moves the cursor on only once each is delivered or given up; when caught
//! up, sends the near-deadline warnings due. Enforcement never waits for it: it only reads the
//! store, and is woken by the console bus, whose sends never block.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{broadcast, watch};

use super::config::Webhook;
use super::cursor::{Cursor, CursorStore};
use super::delivery::{deliver, Delivered};
use super::events::{self, Event};
use super::pending::{is_near, Pending};
use crate::protocol::ServerMessage;
use crate::server::shutdown::stopped;
use crate::server::store::{self, AuditQuery, Store};

/// Records read per query.
const BATCH: u32 = 500;
/// Without a wake-up, the log is looked at this often (breaker trips, records of other
/// replicas' or of a restart).
const POLL: Duration = Duration::from_secs(2);
/// A cursor moved only past records that are no events is saved at most this often (reading
/// them again after a crash costs nothing).
const LAZY_SAVE: Duration = Duration::from_secs(5);

pub struct Worker {
    pub hook: Arc<Webhook>,
    /// Where the cursor is saved.
    pub place: CursorStore,
    pub cursor: Cursor,
    pub store: Store,
    /// Only for webhooks that want near-deadline warnings.
    pub pending: Option<Pending>,
    pub wake: broadcast::Receiver<ServerMessage>,
    pub shutdown: watch::Receiver<bool>,
}

enum Step {
    More,
    CaughtUp,
    Failed,
    Stopped,
}

impl Worker {
    pub async fn run(mut self) {
        let mut dirty = false;
        let mut saved = Instant::now();
        loop {
            match self.catch_up(&mut dirty).await {
                Step::More => continue,
                Step::Stopped => break,
                Step::CaughtUp => {
                    if !self.warn(&mut dirty).await {
                        break;
                    }
                }
                Step::Failed => {}
            }
            if dirty && saved.elapsed() >= LAZY_SAVE {
                dirty = !self.save().await;
                saved = Instant::now();
            }
            if !self.wait().await {
                break;
            }
        }
        if dirty {
            self.save().await;
        }
    }

    /// Delivers the events in the next batch of records.
    async fn catch_up(&mut self, dirty: &mut bool) -> Step {
        let q = AuditQuery {
            after_seq: Some(self.cursor.seq),
            limit: Some(BATCH),
            ..AuditQuery::default()
        };
        let Ok(records) = self.store.read(move |r| store::audit_records(r, &q)).await else {
            return Step::Failed;
        };
        for rec in &records {
            match events::from_record(rec).filter(|e| self.hook.wants(e.kind)) {
                None => *dirty = true,
                Some(mut ev) => {
                    self.enrich(&mut ev).await;
                    if !self.holds_lease().await {
                        return Step::Failed;
                    }
                    if deliver(&self.hook, &ev, &self.shutdown).await == Delivered::Stopped {
                        return Step::Stopped;
                    }
                    // Delivered or given up: saved now, so a restart does not send it again.
                    self.cursor.seq = rec.seq;
                    self.save().await;
                }
            }
            self.cursor.seq = rec.seq;
        }
        if records.len() as u32 == BATCH {
            Step::More
        } else {
            Step::CaughtUp
        }
    }

    async fn enrich(&self, ev: &mut Event) {
        if let Some(id) = ev.data.escalation.clone() {
            if let Ok(Some((esc, _))) = self
                .store
                .read(move |r| store::load_escalation(r, &id))
                .await
            {
                events::enrich(&mut ev.data, &esc);
            }
        }
    }

    /// Sends the warnings due, once each; forgets those of escalations no longer pending.
    /// False when the server is stopping.
    async fn warn(&mut self, dirty: &mut bool) -> bool {
        let Some(list) = self.pending.as_ref().and_then(|p| p.borrow().clone()) else {
            return true;
        };
        let now = Utc::now();
        for esc in list.iter() {
            let id = events::near_deadline_id(esc);
            if self.cursor.near_sent.contains(&id) || !is_near(esc, self.hook.near_deadline, now) {
                continue;
            }
            let ev = events::near_deadline(esc, now);
            if !self.holds_lease().await {
                return true;
            }
            if deliver(&self.hook, &ev, &self.shutdown).await == Delivered::Stopped {
                return false;
            }
            self.cursor.near_sent.insert(id);
            self.save().await;
        }
        let before = self.cursor.near_sent.len();
        let live: std::collections::HashSet<String> =
            list.iter().map(events::near_deadline_id).collect();
        self.cursor.near_sent.retain(|id| live.contains(id));
        *dirty |= before != self.cursor.near_sent.len();
        true
    }

    /// With a shared store, whether this replica still holds the webhook lease, asked right
    /// before each delivery: the lease thread looks only every second, and in that second
    /// another replica may have taken the lease and be paging the same event.
    async fn holds_lease(&self) -> bool {
        let CursorStore::Postgres(pg) = &self.place else {
            return true;
        };
        let pg = pg.clone();
        match tokio::task::spawn_blocking(move || pg.confirm()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(webhook = %self.hook.id, "{e:#}; not delivering");
                false
            }
            Err(_) => false,
        }
    }

    /// Writes the cursor; a failure is logged (the events since are sent again after a restart,
    /// or by the next replica to deliver).
    async fn save(&self) -> bool {
        let place = self.place.clone();
        let cursor = self.cursor.clone();
        match tokio::task::spawn_blocking(move || place.save(&cursor)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(webhook = %self.hook.id, "{e:#}");
                false
            }
            Err(_) => false,
        }
    }

    /// Until something may have happened: a console event that maps to a webhook event, a new
    /// list of pending escalations, or `POLL`. False when the server is stopping.
    async fn wait(&mut self) -> bool {
        let until = tokio::time::Instant::now() + POLL;
        let (pending, wake, shutdown) = (&mut self.pending, &mut self.wake, &self.shutdown);
        loop {
            let changed = async {
                if let Some(p) = pending.as_mut() {
                    if p.changed().await.is_ok() {
                        return;
                    }
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                msg = wake.recv() => match msg {
                    Ok(m) if !worth_a_look(&m) => continue,
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep_until(until).await;
                        return true;
                    }
                    _ => return true,
                },
                _ = changed => return true,
                _ = tokio::time::sleep_until(until) => return true,
                _ = stopped(shutdown.clone()) => return false,
            }
        }
    }
}

/// Console events that follow records a webhook may want.
fn worth_a_look(m: &ServerMessage) -> bool {
    matches!(
        m,
        ServerMessage::EscalationCreated { .. }
            | ServerMessage::EscalationUpdated { .. }
            | ServerMessage::EscalationResolved { .. }
            | ServerMessage::KillSwitchChanged { .. }
    )
}
