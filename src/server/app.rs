//! The server's state: the parts, each owning its own state, shared by every request.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use super::arrivals::Arrivals;
use super::flags::Flags;
use super::governance::Governance;
use super::grants::Grants;
use super::killswitch::KillSwitches;
use super::metrics::{registry, BudgetUse, Live, Metrics};
use super::policy::Policy;
use super::queue::Queue;
use super::refusals::Refusals;
use super::roster::Roster;
use super::store::Store;
use crate::protocol::{Grant, KillSwitch, ServerInfo, ServerMessage};

pub(crate) struct App {
    pub policy: Policy,
    pub roster: Roster,
    pub store: Store,
    /// Pending escalations and every change to them (votes, deadlines, withdrawals, flips).
    pub queue: Arc<Queue>,
    pub kill: Arc<KillSwitches>,
    pub flags: Flags,
    /// Standing grants: consulted for grantable reviews, created and revoked by people.
    pub grants: Grants,
    /// Limits, breakers and the anomaly baseline: checked for every call before the rules.
    pub governance: Governance,
    pub bus: broadcast::Sender<ServerMessage>,
    pub info: ServerInfo,
    pub metrics: Arc<Metrics>,
    /// Every family `/metrics` exposes, registered once at start.
    pub registry: prometheus_client::registry::Registry,
    /// Unauthenticated refusals, counted per window instead of recorded one by one.
    pub refusals: Refusals,
    pub shutdown: watch::Receiver<bool>,
    /// Locks that keep identical submissions from racing (see `arrivals`).
    pub arrivals: Arrivals,
}

impl App {
    /// The parts around a store, with the kill switches it holds. The queue starts empty (see
    /// `Queue::restore`) and its deadline timer runs until `shutdown`.
    pub fn new(
        policy: Policy,
        roster: Roster,
        store: Store,
        switches: Vec<KillSwitch>,
        grants: Vec<Grant>,
        info: ServerInfo,
        shutdown: watch::Receiver<bool>,
    ) -> App {
        let (bus, _) = broadcast::channel(4096);
        let kill = Arc::new(KillSwitches::new(switches));
        let metrics = Arc::new(Metrics::default());
        let queue = Queue::new(
            store.clone(),
            bus.clone(),
            kill.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        let governance = Governance::new(&policy);
        let ledger = governance.ledger.clone();
        queue.on_closed(Box::new(move |esc| {
            ledger.resolved(esc, chrono::Utc::now())
        }));
        let registry = registry(
            &metrics,
            Live {
                queue: queue.clone(),
                breakers: Arc::new(governance.breakers.clone()),
                kill: kill.clone(),
                store: store.stats.clone(),
            },
            BudgetUse(Arc::new(governance.ledger.clone())),
        );
        App {
            governance,
            policy,
            roster,
            flags: Flags::new(store.clone(), bus.clone()),
            grants: Grants::new(grants, store.clone(), bus.clone()),
            store,
            queue,
            kill,
            bus,
            info,
            metrics,
            registry,
            refusals: Refusals::default(),
            shutdown,
            arrivals: Arrivals::default(),
        }
    }
}
