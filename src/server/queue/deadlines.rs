//! Deadlines: one timer for the whole queue, keyed by time, instead of a task per escalation.
//! It sleeps until the earliest deadline (or until an earlier one is armed), then lets the state
//! machine say what each due escalation's deadline does: a hand-over or an expiry.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;

use super::machine::{self, AtDeadline, Step};
use super::Queue;
use crate::protocol::Timestamp;
use crate::server::audit::AuditEvent;
use crate::server::shutdown::stopped;

/// A deadline whose hand-over or expiry could not be written is tried again this much later.
const RETRY: Duration = Duration::from_secs(5);

/// Armed deadlines, earliest first.
#[derive(Default)]
pub(super) struct Deadlines {
    due: Mutex<BTreeSet<(Timestamp, String)>>,
    /// Wakes the timer when an earlier deadline is armed.
    earlier: Notify,
}

impl Deadlines {
    pub fn arm(&self, id: &str, at: Timestamp) {
        let mut due = self.lock();
        let earliest = due.first().map(|(t, _)| *t);
        due.insert((at, id.to_string()));
        if earliest.is_none_or(|e| at < e) {
            // Stores a permit if the timer is not waiting yet, so the wake-up is never lost.
            self.earlier.notify_one();
        }
    }

    /// Forgets a deadline (its escalation was resolved or its deadline moved). The timer need
    /// not wake: an earlier wake-up than needed finds nothing due and sleeps again.
    pub fn disarm(&self, id: &str, at: Timestamp) {
        self.lock().remove(&(at, id.to_string()));
    }

    /// Takes every deadline due at `now`; if none is, says when the next one is.
    fn take_due(&self, now: Timestamp) -> Result<Vec<String>, Option<Timestamp>> {
        let mut due = self.lock();
        let mut ids = Vec::new();
        while let Some((at, _)) = due.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = due.pop_first() {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            Err(due.first().map(|(t, _)| *t))
        } else {
            Ok(ids)
        }
    }

    /// Only single inserts and removals happen under this lock: its poison is ignored.
    fn lock(&self) -> MutexGuard<'_, BTreeSet<(Timestamp, String)>> {
        self.due.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The timer task: runs until the server stops.
pub(super) async fn run(queue: Arc<Queue>) {
    let shutdown = stopped(queue.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        let next = match queue.deadlines.take_due(Utc::now()) {
            Ok(ids) => {
                // Each in its own task, so that their writes share a commit.
                for id in ids {
                    let queue = queue.clone();
                    tokio::spawn(async move { queue.on_deadline(&id).await });
                }
                continue;
            }
            Err(next) => next,
        };
        let sleep = async {
            match next {
                Some(at) => {
                    tokio::time::sleep((at - Utc::now()).to_std().unwrap_or_default()).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = queue.deadlines.earlier.notified() => {}
            _ = &mut shutdown => return,
        }
    }
}

impl Queue {
    /// Escalation `id`'s deadline came: hand it over, or expire it.
    async fn on_deadline(&self, id: &str) {
        let Some(turn) = self.turn(id).await else {
            return; // resolved meanwhile
        };
        let now = Utc::now();
        let (step, audit, what) = match machine::at_deadline(&turn.esc, &turn.plan, now) {
            // Handed over to a later deadline, or the timer woke a hair early by the wall clock.
            AtDeadline::NotYet(at) => return self.deadlines.arm(id, at),
            AtDeadline::HandOver { next, .. } => {
                let entry = AuditEvent::escalation_handed_over(&turn.esc, &next);
                (Step::Update(next), vec![entry], "hand-over")
            }
            AtDeadline::Expire(esc) => (Step::Resolve(esc), vec![], "expiry"),
        };
        let handing_over = matches!(step, Step::Update(_));
        match self.commit(turn, step, audit).await {
            Ok(_) if handing_over => self.metrics.handed_over(),
            Ok(_) => {}
            // Another replica's timer (or a decision) got there first: its change was taken
            // (`refresh`); look again at once at what this deadline does now.
            Err(crate::server::store::StoreError::Conflict(_)) => self.deadlines.arm(id, now),
            Err(e) => {
                tracing::error!("{what} of {id} not recorded ({e}); trying again shortly");
                let retry = chrono::Duration::from_std(RETRY).unwrap_or_default();
                self.deadlines.arm(id, now + retry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_deadlines_come_out_in_time_order_and_disarmed_ones_never() {
        let d = Deadlines::default();
        let t0 = Utc::now();
        let s = chrono::Duration::seconds;
        d.arm("late", t0 + s(30));
        d.arm("soon", t0 + s(10));
        d.arm("gone", t0 + s(5));
        d.disarm("gone", t0 + s(5));
        assert_eq!(d.take_due(t0), Err(Some(t0 + s(10))));
        assert_eq!(d.take_due(t0 + s(10)), Ok(vec!["soon".to_string()]));
        assert_eq!(d.take_due(t0 + s(60)), Ok(vec!["late".to_string()]));
        assert_eq!(d.take_due(t0 + s(60)), Err(None));
    }

    #[tokio::test]
    async fn arming_an_earlier_deadline_wakes_the_timer_even_before_it_waits() {
        let d = Deadlines::default();
        let t0 = Utc::now();
        d.arm("a", t0 + chrono::Duration::seconds(60));
        // Armed before anyone waits: the permit is kept.
        tokio::time::timeout(Duration::from_secs(1), d.earlier.notified())
            .await
            .expect("woken");
        d.arm("b", t0 + chrono::Duration::seconds(120));
        let later = tokio::time::timeout(Duration::from_millis(50), d.earlier.notified()).await;
        assert!(later.is_err(), "a later deadline does not wake the timer");
    }
}
