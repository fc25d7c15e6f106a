//! Submitting a call to gavel and waiting for its outcome, for both adapters.
//!
//! An adapter that stops waiting (its budget is spent, its client cancelled or went away, the
//! review ran out) withdraws the call before it answers, so nobody approves a call that will
//! never run. The withdraw has its own bound, kept out of the waiting time: the hook stops
//! waiting early enough to withdraw and still answer within its budget.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{rule_text, ruling_of, Ruling};
use crate::client::{new_idempotency_key, Client, ClientError};
use crate::protocol::{budget_secs, ActionOutcome, ActionRequest, Resolution, Verdict};

/// How long a withdraw may take at most (the server answers one in milliseconds).
pub const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(3);
/// The least part of a budget kept for the withdraw.
const MIN_WITHDRAW_RESERVE: Duration = Duration::from_millis(250);
/// How long a held call is waited on past the server's deadline: the server resolves it as
/// expired at the deadline; this only covers clock skew and a slow answer.
const DEADLINE_GRACE: Duration = Duration::from_secs(30);
/// How long a call without a server deadline is held at most.
const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A time limit for an answer: waiting for a person stops at `stop_waiting`; the rest, up to
/// `answer_by`, is for withdrawing the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub stop_waiting: Instant,
    pub answer_by: Instant,
}

impl Budget {
    /// `total` from `start`, a quarter of it (between 250 ms and [`WITHDRAW_TIMEOUT`]) kept
    /// for the withdraw.
    pub fn new(start: Instant, total: Duration) -> Budget {
        let reserve = (total / 4)
            .clamp(MIN_WITHDRAW_RESERVE, WITHDRAW_TIMEOUT)
            .min(total);
        Budget {
            stop_waiting: start + total.saturating_sub(reserve),
            answer_by: start + total,
        }
    }
}

/// Why a pending call stopped being waited on.
enum GaveUp {
    /// The caller's `stop` fired: the client cancelled the call or went away.
    Stopped,
    /// The budget's waiting time is spent.
    OutOfTime,
    /// The deadline passed and the server did not move it.
    NoDecision,
    LostContact(ClientError),
}

/// Submits `action` and, when it is held for review, waits for the final outcome until the
/// server's deadline (plus a grace), the budget's `stop_waiting`, or `stop`, whichever comes
/// first; a call still pending then is withdrawn before this returns. Never returns allow
/// unless the server said allow.
pub async fn adjudicate(
    client: &Client,
    token: &str,
    action: &ActionRequest,
    budget: Option<Budget>,
    stop: impl Future<Output = ()>,
) -> Ruling {
    adjudicate_watched(client, token, action, budget, stop, |_| {}).await
}

/// [`adjudicate`], telling `pending` each pending outcome the server gives (the first, and one
/// with a moved deadline), so a caller can say what its call waits for while it waits.
pub async fn adjudicate_watched(
    client: &Client,
    token: &str,
    action: &ActionRequest,
    budget: Option<Budget>,
    stop: impl Future<Output = ()>,
    mut pending: impl FnMut(&ActionOutcome),
) -> Ruling {
    let mut stop = std::pin::pin!(stop);
    // One key per logical call: a resend of this call can never become a second action.
    let key = new_idempotency_key();
    // Approvers see when this adapter stops waiting (its budget), when it has one.
    let wait_budget =
        budget.and_then(|b| budget_secs(b.stop_waiting.saturating_duration_since(Instant::now())));
    let mut submit = std::pin::pin!(client.submit_waiting(token, action, Some(&key), wait_budget));
    let early = tokio::select! {
        biased;
        r = &mut submit => Ok(r),
        () = &mut stop => Err(GaveUp::Stopped),
        () = sleep_until(budget.map(|b| b.stop_waiting)) => Err(GaveUp::OutOfTime),
    };
    let first = match early {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Ruling::deny(submit_error(&e)),
        Err(why) => {
            // The call may be recorded already: its answer names what to withdraw.
            let by = withdraw_by(budget);
            return match tokio::time::timeout_at(by, &mut submit).await {
                Ok(Ok(o)) if o.verdict == Verdict::Pending => {
                    withdraw(client, token, &o, why, by).await
                }
                Ok(Ok(o)) => match why {
                    GaveUp::Stopped => Ruling::deny("the call was cancelled"),
                    _ => ruling_of(&o),
                },
                Ok(Err(e)) => Ruling::deny(submit_error(&e)),
                Err(_) => Ruling::deny(
                    "gavel did not answer in time, so nothing is allowed (if it recorded the \
                     call, its deadline closes it)",
                ),
            };
        }
    };
    if first.verdict != Verdict::Pending {
        return ruling_of(&first);
    }
    pending(&first);
    let mut latest = first.clone();
    loop {
        let hold = hold_until(&latest);
        let waited = tokio::select! {
            biased;
            () = &mut stop => Err(GaveUp::Stopped),
            () = sleep_until(budget.map(|b| b.stop_waiting)) => Err(GaveUp::OutOfTime),
            r = wait_outcome(client, token, &first.id, hold) => r.map_err(GaveUp::LostContact),
        };
        let out = match waited {
            Ok(o) => o,
            Err(why) => return withdraw(client, token, &first, why, withdraw_by(budget)).await,
        };
        if out.verdict != Verdict::Pending {
            return ruling_of(&out);
        }
        // Still pending past the deadline we knew: wait on only if the server moved it (a
        // hand-over to a second group).
        if !(out.deadline.is_some() && out.deadline > latest.deadline) {
            return withdraw(
                client,
                token,
                &first,
                GaveUp::NoDecision,
                withdraw_by(budget),
            )
            .await;
        }
        pending(&out);
        latest = out;
    }
}

/// When a withdraw starting now must be done: within its own timeout, and within the budget.
fn withdraw_by(budget: Option<Budget>) -> Instant {
    let own = Instant::now() + WITHDRAW_TIMEOUT;
    budget.map_or(own, |b| own.min(b.answer_by))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Withdraws the pending call `held`, then says why it is not allowed. A decision that landed
/// just before the withdraw stands (the server returns it unchanged), except for a caller that
/// stopped: nobody is left to run the call.
async fn withdraw(
    client: &Client,
    token: &str,
    held: &ActionOutcome,
    why: GaveUp,
    by: Instant,
) -> Ruling {
    let escalation = held.escalation.as_deref().unwrap_or(&held.id);
    let because = match &why {
        GaveUp::Stopped => "the call was cancelled".to_string(),
        GaveUp::OutOfTime => format!(
            "no decision on escalation {escalation} ({}) within the time this adapter may wait \
             (for the hook: raise the hook timeout and GAVEL_HOOK_TIMEOUT together)",
            rule_text(held)
        ),
        GaveUp::NoDecision => format!(
            "no decision yet on escalation {escalation} ({}); denied rather than waiting longer",
            rule_text(held)
        ),
        GaveUp::LostContact(e) => format!("lost contact with gavel while waiting: {e}"),
    };
    match tokio::time::timeout_at(by, client.withdraw(token, &held.id)).await {
        Ok(Ok(o)) if o.resolution == Some(Resolution::Cancelled) => {
            Ruling::deny(format!("{because}; withdrawn"))
        }
        Ok(Ok(o)) if o.verdict != Verdict::Pending && !matches!(why, GaveUp::Stopped) => {
            ruling_of(&o)
        }
        Ok(Ok(_)) => Ruling::deny(because),
        Ok(Err(e)) => Ruling::deny(format!(
            "{because}; withdrawing it failed ({e}), so it stays open until its deadline"
        )),
        Err(_) => Ruling::deny(format!(
            "{because}; withdrawing it timed out, so it may stay open until its deadline"
        )),
    }
}

/// When to stop waiting on a pending outcome: the server's deadline plus a grace.
fn hold_until(o: &ActionOutcome) -> Instant {
    match o.deadline {
        Some(d) => {
            let left = (d - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
            Instant::now() + left + DEADLINE_GRACE
        }
        None => Instant::now() + MAX_HOLD,
    }
}

/// Long-polls until final or `stop`; rides out a server restart (or every replica's) by
/// retrying while no server answers, or one answers 503 (shutting down, its store down:
/// nothing was decided, ask again).
async fn wait_outcome(
    client: &Client,
    token: &str,
    id: &str,
    stop: Instant,
) -> Result<ActionOutcome, ClientError> {
    loop {
        match client.wait_final(token, id, stop).await {
            Err(e)
                if (e.no_answer() || matches!(e, ClientError::Api { status: 503, .. }))
                    && Instant::now() + RETRY_PAUSE < stop =>
            {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            other => return other,
        }
    }
}

fn submit_error(e: &ClientError) -> String {
    match e {
        e if e.no_answer() => format!("gavel is unreachable, so nothing is allowed: {e}"),
        ClientError::Api { status: 401, .. } | ClientError::Api { status: 403, .. } => {
            format!("gavel refused the agent token ({e}); check GAVEL_AGENT_TOKEN")
        }
        _ => format!("gavel refused the call: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_time_for_the_withdraw() {
        let t = Instant::now();
        let b = Budget::new(t, Duration::from_secs(595));
        assert_eq!(b.answer_by, t + Duration::from_secs(595));
        assert_eq!(b.stop_waiting, t + Duration::from_secs(592));
        let b = Budget::new(t, Duration::from_secs(4));
        assert_eq!(b.stop_waiting, t + Duration::from_secs(3));
        let b = Budget::new(t, Duration::from_millis(500));
        assert_eq!(b.stop_waiting, t + Duration::from_millis(250));
        let b = Budget::new(t, Duration::from_millis(100));
        assert_eq!(
            (b.stop_waiting, b.answer_by),
            (t, t + Duration::from_millis(100))
        );
    }

    #[tokio::test]
    async fn unreachable_server_denies() {
        // Port 9 on loopback: nothing listens there.
        let client = Client::new("http://127.0.0.1:9");
        let action = ActionRequest {
            tool: "Bash".into(),
            args: serde_json::json!({"command": "ls"}),
            session: "s".into(),
            on_behalf_of: None,
            rationale: None,
            cost: None,
            parent: None,
            context: serde_json::json!({}),
        };
        let r = adjudicate(&client, "t", &action, None, std::future::pending()).await;
        assert!(!r.allow);
        assert!(r.reason.contains("unreachable"), "{}", r.reason);
    }
}
