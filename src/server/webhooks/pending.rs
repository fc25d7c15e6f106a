//! The pending escalations, re-read from the store now and then, for the near-deadline
//! warnings. One reader serves every webhook; it runs only if some webhook wants the warning.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::protocol::{Escalation, Timestamp};
use crate::server::shutdown::stopped;
use crate::server::store::{self, Store};

/// The latest list; `None` until the first read.
pub type Pending = watch::Receiver<Option<Arc<Vec<Escalation>>>>;

/// How often the list is re-read: a tenth of the shortest warning time, between half a second
/// and fifteen seconds (a warning five minutes ahead may come up to fifteen seconds late).
pub fn interval(shortest_warning: Duration) -> Duration {
    (shortest_warning / 10).clamp(Duration::from_millis(500), Duration::from_secs(15))
}

pub fn spawn(
    store: Store,
    every: Duration,
    shutdown: watch::Receiver<bool>,
) -> (Pending, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped(shutdown.clone()) => return,
            }
            let list = store.read(store::pending_escalations).await;
            if let Ok(list) = list {
                let list = list.into_iter().map(|(esc, _)| esc).collect();
                tx.send_replace(Some(Arc::new(list)));
            }
        }
    });
    (rx, task)
}

/// Whether `esc` is within `warning` of its deadline now. An escalation that was created
/// already that close (a timeout shorter than the warning) gets no warning: its creation paged.
pub fn is_near(esc: &Escalation, warning: Duration, now: Timestamp) -> bool {
    let Ok(warning) = chrono::TimeDelta::from_std(warning) else {
        return false;
    };
    esc.deadline > now && esc.deadline - now <= warning && esc.deadline - esc.created_at > warning
}
