//! Serialises submissions that could be the same call: those with one `Idempotency-Key`, and
//! reviews with one digest. Each lock is held from "is there an earlier one?" to "this one is
//! recorded (and queued)", so two identical submissions at once make one action or one
//! escalation, never two.
//!
//! Locks are striped: a fixed array, a key hashed (with a per-process random seed, so an agent
//! cannot aim its keys at another's stripe) onto one of them. Memory stays fixed whatever the
//! traffic; two unrelated keys sharing a stripe only wait for each other's write.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 256;

pub(crate) struct Stripes {
    locks: Box<[Mutex<()>]>,
    seed: RandomState,
}

impl Default for Stripes {
    fn default() -> Self {
        Stripes {
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            seed: RandomState::new(),
        }
    }
}

impl Stripes {
    /// Waits for the lock of `key` (the parts of a key are hashed in order).
    pub async fn hold(&self, key: &[&str]) -> MutexGuard<'_, ()> {
        let i = self.seed.hash_one(key) as usize % self.locks.len();
        self.locks[i].lock().await
    }
}

/// The two kinds of arrivals that must not race. A submission takes `keys` before `digests`,
/// always in that order.
#[derive(Default)]
pub(crate) struct Arrivals {
    /// By (agent, `Idempotency-Key`).
    pub keys: Stripes,
    /// By action digest (which names the agent), for calls held for review.
    pub digests: Stripes,
}
