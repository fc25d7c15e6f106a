//! A client's retry of a held call attaches to the review its first attempt opened.
//!
//! gavel answers a retried call (same agent, tool, arguments, session) with the pending
//! action of the first attempt, so several attempts may wait on one action. The common client
//! retry is a timeout, `notifications/cancelled` for the first request, then the same call under
//! a new id: withdrawing the action at the cancel would have approvers asked again. So a
//! cancelled attempt's action stays open for a grace ([`ENV_RETRY_GRACE_SECS`], 10 s), and is
//! withdrawn only if no attempt waits on it then; one that does takes the action over. An
//! approval is used once either way (see `settle`).

use std::time::Duration;

use tokio::sync::watch;

use super::calls::{Held, Table};
use crate::protocol::ActionOutcome;

/// Lets an operator (or a test) change the grace, in seconds (decimals allowed; 0: withdraw at
/// the cancel, as before retries attached).
pub const ENV_RETRY_GRACE_SECS: &str = "GAVEL_GATE_RETRY_GRACE_SECS";
/// Long enough for a client's retry right after its cancel, short enough that an abandoned
/// review does not linger in approvers' queues.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);
const MAX_GRACE: Duration = Duration::from_secs(300);

/// [`ENV_RETRY_GRACE_SECS`], else 10 s. A value that is not a number between 0 and 300 is said
/// on stderr and the default kept.
pub fn grace_from_env() -> Duration {
    match std::env::var(ENV_RETRY_GRACE_SECS) {
        Ok(raw) => parse_grace(&raw).unwrap_or_else(|| {
            eprintln!(
                "gavel gate: {ENV_RETRY_GRACE_SECS} must be seconds between 0 and 300; using {}",
                DEFAULT_GRACE.as_secs()
            );
            DEFAULT_GRACE
        }),
        Err(_) => DEFAULT_GRACE,
    }
}

fn parse_grace(raw: &str) -> Option<Duration> {
    let secs = raw.trim().parse::<f64>().ok()?;
    (0.0..=MAX_GRACE.as_secs_f64())
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

/// What a stopped attempt does with its pending action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Linger {
    /// Withdraw it: no attempt waits on it.
    Withdraw,
    /// Leave it: another attempt waits on it (or a later cancel's grace runs on).
    Handed,
}

/// Whether an attempt still waiting for its ruling waits on `action`.
fn waited_on(table: &Table, action: &str) -> bool {
    table
        .calls
        .values()
        .any(|e| e.action().as_deref() == Some(action))
}

/// For an attempt stopped without a grace: withdraw unless another attempt waits on its action
/// (an action not known yet is withdrawn: the adjudication finds it once submitted).
pub(super) async fn release(held: &Held, seen: &watch::Receiver<Option<ActionOutcome>>) -> Linger {
    let action = seen.borrow().as_ref().map(|o| o.id.clone());
    match action {
        Some(a) if waited_on(&*held.table.lock().await, &a) => Linger::Handed,
        _ => Linger::Withdraw,
    }
}

/// For an attempt the client cancelled (attempt `seq`): waits the grace, then says whether to
/// withdraw its action. A retry that waits on the action by then, or a later cancelled
/// attempt whose own grace runs on, keeps it open; the gate shutting down ends the wait at once.
pub(super) async fn linger(
    held: &Held,
    seq: u64,
    mut seen: watch::Receiver<Option<ActionOutcome>>,
) -> Linger {
    let mut closing = held.closing.subscribe();
    // Cancelled while gavel has not answered the submit yet: its answer names the action (an
    // answer that is not pending ends the adjudication, and this, first).
    let action = tokio::select! {
        biased;
        _ = closing.wait_for(|c| *c) => return Linger::Withdraw,
        known = seen.wait_for(Option::is_some) => {
            known.ok().and_then(|o| o.as_ref().map(|o| o.id.clone()))
        }
    };
    let Some(action) = action else {
        return Linger::Withdraw;
    };
    {
        let mut table = held.table.lock().await;
        if waited_on(&table, &action) {
            return Linger::Handed;
        }
        table.lingering.insert(action.clone(), seq);
    }
    tokio::select! {
        biased;
        _ = closing.wait_for(|c| *c) => return Linger::Withdraw,
        () = tokio::time::sleep(held.grace) => {}
    }
    let mut table = held.table.lock().await;
    let newest = table.lingering.get(&action).copied();
    if newest == Some(seq) {
        table.lingering.remove(&action);
    }
    if waited_on(&table, &action) || newest.is_some_and(|n| n != seq) {
        Linger::Handed
    } else {
        Linger::Withdraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_is_seconds_between_zero_and_five_minutes() {
        assert_eq!(parse_grace("0"), Some(Duration::ZERO));
        assert_eq!(parse_grace(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(parse_grace("300"), Some(MAX_GRACE));
        for bad in ["-1", "301", "NaN", "inf", "ten", ""] {
            assert_eq!(parse_grace(bad), None, "{bad}");
        }
    }
}
