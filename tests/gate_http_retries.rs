//! One approval runs a call once through `gavel gate --http`. gavel attaches a retried call
//! (same agent, arguments and session) to the pending escalation, so two attempts wait on one
//! action; the gate forwards only the most recent one. A cancelled attempt's escalation waits a
//! grace for a retry before it is withdrawn. Spoken to with raw HTTP; a real gavel server with
//! real signed decisions, and a real upstream on the Python SDK that records every call it runs.

mod common;
#[path = "peers/http.rs"]
mod http;
#[path = "peers/support.rs"]
mod support;

use std::time::Duration;

use gavel::protocol::{EscalationState, Vote};
use http::{answer, call, Gate, Raw, Upstream, STEP};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Gavel;

const POLICY: &str = r#"
[[rule]]
id = "counts"
tools = ["mcp.remote.count"]
effect = "review"
reason = "Counts are checked by ops"
approvers = "ops"
timeout = "1m"
"#;

async fn parts(grace: &str) -> (Gavel, tempfile::TempDir, Upstream, Gate) {
    let g = Gavel::start(POLICY).await;
    let dir = tempfile::tempdir().expect("tmp");
    let up = Upstream::start(dir.path()).await;
    let env = [("GAVEL_GATE_RETRY_GRACE_SECS", grace)];
    let gate = Gate::start_env(&g.url(), &g.token(), &up.url, &[], &env).await;
    (g, dir, up, gate)
}

/// Sends a held call; its JSON-RPC answer arrives on the handle.
fn send(raw: &Raw, id: &str) -> tokio::task::JoinHandle<Value> {
    let req = raw.request(call(id, "count", json!({"n": 1})));
    tokio::spawn(
        async move { answer(&req.send().await.expect("POST").text().await.expect("body")) },
    )
}

fn text(v: &Value) -> String {
    v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn cancel(raw: &Raw, id: &str) {
    let notice = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": id, "reason": "timed out"}});
    let (status, _) = raw.post(notice.to_string().into_bytes()).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "a held call's cancel is the gate's"
    );
}

/// Every escalation of the session so far (pending or not): one per gavel action.
async fn escalations(g: &Gavel) -> usize {
    g.env
        .client
        .escalations(g.approver())
        .await
        .expect("escalations")
        .len()
}

async fn state(g: &Gavel, id: &str) -> EscalationState {
    g.env
        .client
        .escalation(g.approver(), id)
        .await
        .expect("escalation")
        .state
}

#[tokio::test]
async fn two_attempts_of_one_call_run_once_on_one_approval() {
    let (g, _dir, up, gate) = parts("0.5").await;
    let raw = Raw::open(&gate.url).await;
    let first = send(&raw, "1");
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    let retry = send(&raw, "2");
    // gavel attaches the retry: still one escalation, still pending, after the grace too.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(escalations(&g).await, 1);
    assert_eq!(state(&g, &esc.id).await, EscalationState::Pending);
    assert!(up.ran("count").is_empty(), "{:?}", up.calls());

    g.decide(&esc, Vote::Approve, "fine").await;
    let (first, retry) = (first.await.expect("join"), retry.await.expect("join"));
    // The most recent attempt runs; the other hears where it ran.
    assert_eq!(retry["id"], "2");
    assert_eq!(text(&retry), "counted to 1", "{retry}");
    assert_eq!(first["id"], "1");
    assert_eq!(first["result"]["isError"], true, "{first}");
    let said = text(&first);
    assert!(said.starts_with("Denied by gavel: "), "{said}");
    assert!(said.contains("ran as request \"2\""), "{said}");
    assert_eq!(up.ran("count").len(), 1, "{:?}", up.calls());
    g.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_a_cancel_attaches_within_the_grace_and_runs_once() {
    let (g, _dir, up, gate) = parts("2").await;
    let raw = Raw::open(&gate.url).await;
    let first = send(&raw, "1");
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    cancel(&raw, "1").await;
    let first = first.await.expect("join");
    assert!(text(&first).contains("cancelled"), "{first}");
    // Still pending inside the grace; the retry attaches to it.
    assert_eq!(state(&g, &esc.id).await, EscalationState::Pending);
    let retry = send(&raw, "2");
    // Past the grace: the withdraw was called off.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(state(&g, &esc.id).await, EscalationState::Pending);
    assert_eq!(escalations(&g).await, 1);
    g.decide(&esc, Vote::Approve, "fine").await;
    let retry = retry.await.expect("join");
    assert_eq!(text(&retry), "counted to 1", "{retry}");
    assert_eq!(up.ran("count").len(), 1, "{:?}", up.calls());
    assert!(!gate.log().contains("withdrew action"), "{}", gate.log());
    g.shutdown().await;
}

#[tokio::test]
async fn a_cancel_without_a_retry_is_withdrawn_after_the_grace() {
    let (g, _dir, up, gate) = parts("1.5").await;
    let raw = Raw::open(&gate.url).await;
    let first = send(&raw, "1");
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    let cancelled_at = tokio::time::Instant::now();
    cancel(&raw, "1").await;
    let first = first.await.expect("join");
    assert!(text(&first).contains("cancelled"), "{first}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        state(&g, &esc.id).await,
        EscalationState::Pending,
        "inside the grace"
    );
    let until = tokio::time::Instant::now() + STEP;
    while state(&g, &esc.id).await != EscalationState::Cancelled {
        assert!(tokio::time::Instant::now() < until, "never withdrawn");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cancelled_at.elapsed() >= Duration::from_millis(1500));
    assert!(gate.log().contains("withdrew action"), "{}", gate.log());
    let late = gavel::client::Client::sign_decision(g.approver(), &esc, Vote::Approve, "late");
    let refused = g.env.client.decide(&late).await.expect_err("refused");
    assert_eq!(refused.code(), "not_pending");
    assert!(up.ran("count").is_empty(), "{:?}", up.calls());
    g.shutdown().await;
}

#[tokio::test]
async fn an_attempt_that_hangs_up_leaves_the_other_waiting() {
    let (g, _dir, up, gate) = parts("0.5").await;
    let raw = Raw::open(&gate.url).await;
    let first = send(&raw, "1");
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    let retry = send(&raw, "2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.abort(); // the first client hangs up
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(state(&g, &esc.id).await, EscalationState::Pending);
    g.decide(&esc, Vote::Approve, "fine").await;
    let retry = retry.await.expect("join");
    assert_eq!(text(&retry), "counted to 1", "{retry}");
    assert_eq!(up.ran("count").len(), 1, "{:?}", up.calls());
    g.shutdown().await;
}

#[tokio::test]
async fn sigterm_runs_a_withdraw_still_in_its_grace_at_once() {
    let (g, _dir, up, mut gate) = parts("60").await;
    let raw = Raw::open(&gate.url).await;
    let first = send(&raw, "1");
    let esc = g.escalation_for("mcp.remote.count", STEP).await;
    cancel(&raw, "1").await;
    first.await.expect("join");
    assert_eq!(state(&g, &esc.id).await, EscalationState::Pending);
    // SAFETY: a plain kill(2) of the gate this test started.
    let sent = unsafe { libc::kill(gate.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    assert_eq!(gate.wait_exit().await, Some(128 + libc::SIGTERM));
    // Withdrawn before the exit, not a minute later: checked once, now.
    assert_eq!(state(&g, &esc.id).await, EscalationState::Cancelled);
    assert!(up.ran("count").is_empty(), "{:?}", up.calls());
    g.shutdown().await;
}
