//! `notifications/progress` for a held call whose client asked for it (`_meta.progressToken`).
//!
//! A person may take minutes; many MCP clients cancel a request that stays silent longer than
//! their own timeout, unless progress resets it. So while a call waits for gavel the gate tells
//! the client, every few seconds, what it waits for. Progress is the seconds held so far (so it
//! only ever increases) out of the seconds until the review's deadline. It stops the moment the
//! wait ends: the caller drops [`keep_alive`] before it forwards or answers the call, and the
//! client's cancel halts it at once.

use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::protocol::ActionOutcome;

/// Lets an operator (or a test) change how often progress is sent, in seconds (decimals allowed).
pub const ENV_PROGRESS_SECS: &str = "GAVEL_GATE_PROGRESS_SECS";
/// Well inside the shortest client timeouts in common use (10 s and more).
const DEFAULT_EVERY: Duration = Duration::from_secs(5);
const MIN_EVERY: Duration = Duration::from_millis(100);
const MAX_EVERY: Duration = Duration::from_secs(300);

/// How often a held call's progress is sent: [`ENV_PROGRESS_SECS`], else 5 s. A value that is
/// not a number between 0.1 and 300 is said on stderr and the default kept.
pub fn interval_from_env() -> Duration {
    let Ok(raw) = std::env::var(ENV_PROGRESS_SECS) else {
        return DEFAULT_EVERY;
    };
    match raw.trim().parse::<f64>() {
        Ok(secs) if (MIN_EVERY.as_secs_f64()..=MAX_EVERY.as_secs_f64()).contains(&secs) => {
            Duration::from_secs_f64(secs)
        }
        _ => {
            eprintln!(
                "gavel gate: {ENV_PROGRESS_SECS} must be seconds between 0.1 and 300; using {}",
                DEFAULT_EVERY.as_secs()
            );
            DEFAULT_EVERY
        }
    }
}

/// Sends progress for `token` through `send` until dropped (it never returns): right away when
/// `seen` first shows the call pending (and when the server moves its deadline), then every
/// `every`. Once `halted` turns true it sends nothing more.
pub async fn keep_alive<F, Fut>(
    token: Value,
    every: Duration,
    mut seen: watch::Receiver<Option<ActionOutcome>>,
    mut halted: watch::Receiver<bool>,
    mut send: F,
) -> std::convert::Infallible
where
    F: FnMut(Value) -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    let mut last = 0.0_f64;
    let mut next = started + every;
    loop {
        let changed = tokio::select! {
            biased;
            () = halt(&mut halted) => return std::future::pending().await,
            r = seen.changed() => r.is_ok(),
            () = tokio::time::sleep_until(next) => true,
        };
        if !changed {
            // The adjudication ended; the caller is about to drop this.
            return std::future::pending().await;
        }
        // Strictly increasing, whatever the clock's resolution.
        let progress = (round_ms(started.elapsed().as_secs_f64())).max(last + 0.001);
        last = progress;
        let outcome = seen.borrow_and_update().clone();
        send(notification(&token, progress, outcome.as_ref())).await;
        next = Instant::now() + every;
    }
}

/// Resolves once `halted` turns true (or its sender is gone).
async fn halt(halted: &mut watch::Receiver<bool>) {
    let _ = halted.wait_for(|h| *h).await;
}

fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// The `notifications/progress` message: what the call waits for, as far as gavel said.
pub fn notification(token: &Value, progress: f64, outcome: Option<&ActionOutcome>) -> Value {
    let mut params = json!({
        "progressToken": token,
        "progress": progress,
        "message": message(outcome),
    });
    let left = outcome
        .and_then(|o| o.deadline)
        .and_then(|d| (d - chrono::Utc::now()).to_std().ok())
        .map(|left| round_ms(progress + left.as_secs_f64()));
    if let Some(total) = left.filter(|t| *t > progress) {
        params["total"] = json!(total);
    }
    json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
}

/// "waiting for finance, 0/1 approvals, deadline 10:25:02 UTC: <the rule's reason>; rule R;
/// escalation E": who the call waits for first, then why.
pub fn message(outcome: Option<&ActionOutcome>) -> String {
    let Some(o) = outcome else {
        return "waiting for gavel to judge this call".to_string();
    };
    let mut text = match &o.review {
        Some(r) => format!(
            "waiting for {}, {}/{} approvals",
            r.group, r.approvals_received, r.approvals_required
        ),
        None => "held for review by gavel".to_string(),
    };
    if let Some(deadline) = o.deadline {
        text.push_str(&format!(", deadline {} UTC", deadline.format("%H:%M:%S")));
    }
    text.push_str(&format!(": {}", o.reason));
    if let Some(rule) = &o.rule {
        text.push_str(&format!("; rule {rule}"));
    }
    if let Some(esc) = &o.escalation {
        text.push_str(&format!("; escalation {esc}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ReviewStatus, Verdict};

    fn pending(deadline_in: i64) -> ActionOutcome {
        ActionOutcome {
            id: "act_1".into(),
            verdict: Verdict::Pending,
            rule: Some("sums".into()),
            reason: "Sums are checked by ops (waiting for a decision)".into(),
            escalation: Some("esc_1".into()),
            deadline: Some(chrono::Utc::now() + chrono::Duration::seconds(deadline_in)),
            resolution: None,
            decisions: vec![],
            flagged: false,
            review: Some(ReviewStatus {
                group: "ops".into(),
                approvals_required: 2,
                approvals_received: 1,
                digest: "d".repeat(64),
            }),
            grant: None,
        }
    }

    #[test]
    fn the_notification_says_what_the_call_waits_for() {
        let n = notification(&json!("t1"), 2.5, Some(&pending(60)));
        assert_eq!(n["method"], "notifications/progress");
        assert_eq!(n["params"]["progressToken"], "t1");
        assert_eq!(n["params"]["progress"], 2.5);
        let total = n["params"]["total"].as_f64().unwrap();
        assert!((61.0..=62.6).contains(&total), "{total}");
        let msg = n["params"]["message"].as_str().unwrap();
        for part in [
            "waiting for ops, 1/2 approvals, deadline ",
            "Sums are checked by ops",
            "rule sums",
            "escalation esc_1",
            " UTC",
        ] {
            assert!(msg.contains(part), "{part} in {msg}");
        }
        // Past the deadline (the grace for a slow answer) there is no total to exceed.
        let late = notification(&json!(7), 100.0, Some(&pending(-5)));
        assert!(late["params"].get("total").is_none(), "{late}");
        let early = notification(&json!(7), 0.2, None);
        assert!(early["params"].get("total").is_none());
        assert!(early["params"]["message"]
            .as_str()
            .unwrap()
            .contains("judge"));
    }

    #[tokio::test]
    async fn progress_increases_and_stops_when_halted() {
        let (seen_tx, seen) = watch::channel(None);
        let (halt_tx, halted) = watch::channel(false);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let every = Duration::from_millis(300);
        let task = tokio::spawn(keep_alive(json!(1), every, seen, halted, move |n| {
            let _ = tx.send(n);
            async {}
        }));
        // Nothing before the first interval while gavel has not answered.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(rx.try_recv().is_err());
        // Pending: said at once, then every interval.
        seen_tx.send_replace(Some(pending(60)));
        let first = tokio::time::timeout(Duration::from_millis(100), rx.recv())
            .await
            .expect("progress at once when pending")
            .unwrap();
        assert!(first["params"]["message"]
            .as_str()
            .unwrap()
            .contains("esc_1"));
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let mut values = vec![first["params"]["progress"].as_f64().unwrap()];
        while let Ok(n) = rx.try_recv() {
            values.push(n["params"]["progress"].as_f64().unwrap());
        }
        assert!((3..=5).contains(&values.len()), "{values:?}");
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
        halt_tx.send_replace(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        while rx.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(rx.try_recv().is_err(), "nothing after the halt");
        task.abort();
    }
}
