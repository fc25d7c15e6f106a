//! Cost and rate governance at the enforcement point: the limits' use per agent and session
//! (`ledger`), the circuit breakers (`breakers`) and the anomaly baseline (`anomaly`). Each
//! keeps its state in memory, rebuilt at start from the calls of its windows (`restore`);
//! what it decides is recorded with the call, so the store stays the one source of truth.

mod anomaly;
pub mod breakers;
mod ledger;
mod window;

pub use anomaly::Baseline;
pub use breakers::Breakers;
pub use ledger::{Ledger, Standing};

use crate::protocol::{Timestamp, UsageReport, MAX_USAGE_ROWS};
use crate::server::policy::Policy;
use crate::server::store::{self, Store, StoreError};

pub(crate) struct Governance {
    pub ledger: Ledger,
    pub breakers: Breakers,
    pub anomaly: Baseline,
}

impl Governance {
    pub fn new(policy: &Policy) -> Governance {
        Governance {
            ledger: Ledger::new(&policy.limits),
            breakers: Breakers::new(&policy.breakers),
            anomaly: Baseline::new(&policy.anomaly),
        }
    }

    /// Rebuilds every part's state from the calls recorded in its windows.
    pub async fn restore(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        // Open breakers first: the counts of a breaker start after its last trip or close.
        if self.breakers.enabled() {
            let events = store.read(store::breaker_events).await?;
            self.breakers.restore_events(&events);
        }
        if let Some(since) = self.lookback(now) {
            let calls = store.read(move |r| store::recent_actions(r, since)).await?;
            self.ledger.restore(&calls, now);
            self.breakers.restore(&calls, now);
            self.anomaly.restore(&calls, now);
        }
        if self.anomaly.wants_tools_called() {
            let pairs = store.read(store::tools_called).await?;
            self.anomaly.restore_tools(pairs);
        }
        Ok(())
    }

    /// The earliest time whose calls some part counts at `now`; `None` when none counts any.
    pub fn lookback(&self, now: Timestamp) -> Option<Timestamp> {
        [
            self.ledger.lookback(now),
            self.breakers.lookback(now),
            self.anomaly.lookback(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the breakers or the anomaly baseline count recorded calls: without either, a
    /// call need not be described to them at all.
    pub fn counts_calls(&self) -> bool {
        self.breakers.enabled() || self.anomaly.enabled()
    }

    /// Every limit in use (the fullest `MAX_USAGE_ROWS`) and every breaker not closed, for
    /// one agent or all.
    pub fn report(&self, agent: Option<&str>, now: Timestamp) -> UsageReport {
        let (limits, omitted) = self.ledger.uses(agent, now, MAX_USAGE_ROWS);
        UsageReport {
            limits,
            omitted,
            breakers: self.breakers.report(agent, now),
        }
    }
}
