//! Progress while a call is held: `gavel gate` sends `notifications/progress` for a held
//! `tools/call` that carries a progress token, so clients whose request timeout restarts on
//! progress survive a review longer than that timeout. Driven by the official MCP clients: the
//! TypeScript SDK (`resetTimeoutOnProgress`, tests/peers/progress_client.mjs) and the Python SDK
//! (`progress_callback`, tests/peers/progress_driver.py), against the reference server-everything,
//! with a real gavel server and real signed decisions.

mod common;
#[path = "peers/events.rs"]
mod events;
#[path = "peers/support.rs"]
mod support;

use std::time::Duration;

use events::Events;
use gavel::protocol::{EscalationState, Vote};
use serde_json::{json, Value};
use support::Gavel;
use tokio::process::Command;

/// The progress interval the gate is given here: well under the clients' 2 s timeout.
const EVERY_SECS: &str = "0.5";
const STEP: Duration = events::STEP;
const SUM: &str = "mcp.server-everything.get-sum";

const POLICY: &str = r#"
[[rule]]
id = "sums"
tools = ["mcp.server-everything.get-sum"]
effect = "review"
reason = "Sums are checked by ops"
approvers = "ops"
timeout = "2m"
"#;

/// The TypeScript SDK client making one `get-sum` call with a 2 s request timeout.
/// `retry_grace`: how long the gate keeps a cancelled call's review open for a retry.
fn ts_client(g: &Gavel, reset_on_progress: bool, retry_grace: &str) -> Events {
    let mut cmd = Command::new("node");
    cmd.env("GAVEL_GATE_RETRY_GRACE_SECS", retry_grace);
    cmd.arg(support::root().join("tests/peers/progress_client.mjs"))
        .arg(support::peer("npm/node_modules/@modelcontextprotocol/sdk"))
        .arg("2000")
        .arg(reset_on_progress.to_string())
        .arg("get-sum")
        .arg(json!({"a": 19, "b": 23}).to_string())
        .arg("--");
    Events::spawn(cmd, g, &support::everything(), EVERY_SECS)
}

fn values(progress: &[&Value]) -> Vec<f64> {
    progress
        .iter()
        .map(|p| p["progress"].as_f64().expect("a number"))
        .collect()
}

#[tokio::test]
async fn a_two_second_client_timeout_survives_a_five_second_review() {
    let g = Gavel::start(POLICY).await;
    let mut c = ts_client(&g, true, "10");
    c.until(|e| e["event"] == "ready").await;
    let esc = g.escalation_for(SUM, STEP).await;
    // Held well past the client's own timeout, then approved by a person.
    tokio::time::sleep(Duration::from_secs(5)).await;
    g.decide(&esc, Vote::Approve, "sums are fine").await;
    let result = c
        .until(|e| e["event"] == "result" || e["event"] == "error")
        .await;
    assert_eq!(result["event"], "result", "{result}");
    assert_eq!(result["isError"], false, "{result}");
    assert!(
        result["text"].as_str().unwrap_or_default().contains("42"),
        "the server's real sum: {result}"
    );
    assert!(result["ms"].as_u64().unwrap() >= 5000, "{result}");
    c.until(|e| e["event"] == "done").await;

    let progress = c.all(|e| e["event"] == "progress");
    // Every 0.5 s over more than 5 s.
    assert!(progress.len() >= 8, "{progress:?}");
    let v = values(&progress);
    assert!(v.windows(2).all(|w| w[0] < w[1]), "increasing: {v:?}");
    let message = progress[progress.len() - 1]["message"].as_str().unwrap();
    for part in ["Sums are checked by ops", "rule sums", &esc.id, " UTC"] {
        assert!(message.contains(part), "{part} in {message}");
    }
    let total = progress[0]["total"]
        .as_f64()
        .expect("a total: the deadline");
    assert!((100.0..=121.0).contains(&total), "{total}");
    // All progress came before the answer, none after it.
    assert!(progress
        .iter()
        .all(|p| p["ms"].as_u64() <= result["ms"].as_u64()));
    assert!(
        c.all(|e| e["event"] == "late-progress").is_empty(),
        "{:?}",
        c.seen
    );
    c.finish().await;
    g.shutdown().await;
}

/// The control: the same client, not restarting its timeout on progress, gives up after 2 s,
/// cancels, and the gate withdraws the call (after its grace for a retry); so the test above
/// passes because of progress.
#[tokio::test]
async fn the_same_client_without_reset_on_progress_gives_up_and_the_call_is_withdrawn() {
    let g = Gavel::start(POLICY).await;
    let mut c = ts_client(&g, false, "1");
    c.until(|e| e["event"] == "ready").await;
    let esc = g.escalation_for(SUM, STEP).await;
    let failed = c
        .until(|e| e["event"] == "result" || e["event"] == "error")
        .await;
    assert_eq!(failed["event"], "error", "{failed}");
    // The SDK's RequestTimeout.
    assert_eq!(failed["code"], -32001, "{failed}");
    let ms = failed["ms"].as_u64().unwrap();
    assert!((2000..4000).contains(&ms), "{failed}");
    // Progress did come meanwhile; it just did not restart this client's timeout.
    assert!(!c.all(|e| e["event"] == "progress").is_empty());
    c.until(|e| e["event"] == "done").await;
    // The client sends no retry: the review is withdrawn once the gate's 1 s grace is over.
    let until = tokio::time::Instant::now() + STEP;
    loop {
        let now = g
            .env
            .client
            .escalation(g.approver(), &esc.id)
            .await
            .expect("escalation");
        if now.state == EscalationState::Cancelled {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "still open: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.finish().await;
    g.shutdown().await;
}

fn py_driver(g: &Gavel) -> Events {
    let mut cmd = Command::new(support::peer("venv/bin/python"));
    cmd.arg(support::root().join("tests/peers/progress_driver.py"))
        .arg("--");
    Events::spawn(cmd, g, &support::everything(), EVERY_SECS)
}

fn is_progress_notice(e: &Value) -> bool {
    e["event"] == "notification" && e["method"] == "notifications/progress"
}

#[tokio::test]
async fn python_client_gets_progress_only_when_it_asks_and_none_after_a_denial() {
    let g = Gavel::start(POLICY).await;
    let mut d = py_driver(&g);
    d.until(|e| e["op"] == "ready").await;

    // No token: held as long, approved, and not one progress notification on the wire.
    d.send(json!({"op": "call", "tag": "quiet", "tool": "get-sum", "args": {"a": 1, "b": 2}}))
        .await;
    let esc = g.escalation_for(SUM, STEP).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    g.decide(&esc, Vote::Approve, "fine").await;
    let quiet = d
        .until(|e| e["tag"] == "quiet" && e["event"] != "progress")
        .await;
    assert_eq!(quiet["isError"], false, "{quiet}");
    assert!(quiet["text"].as_str().unwrap_or_default().contains('3'));
    assert!(d.all(is_progress_notice).is_empty(), "{:?}", d.seen);

    // A token: progress through the SDK's callback while held; a person denies; it stops.
    d.send(json!({"op": "call", "tag": "asked", "tool": "get-sum", "args": {"a": 5, "b": 5}, "progress": true}))
        .await;
    let esc = g.escalation_for(SUM, STEP).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    g.decide(&esc, Vote::Deny, "not today").await;
    let denied = d
        .until(|e| e["tag"] == "asked" && e["event"] == "result")
        .await;
    assert_eq!(denied["isError"], true, "{denied}");
    let text = denied["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("Denied by gavel: "), "{text}");
    assert!(text.contains("not today"), "{text}");
    // Four intervals later, still nothing new: progress stopped with the answer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    d.send(json!({"op": "quit"})).await;
    d.until(|e| e["op"] == "quit").await;
    let callback = d.all(|e| e["tag"] == "asked" && e["event"] == "progress");
    assert!(callback.len() >= 3, "{:?}", d.seen);
    let v = values(&callback);
    assert!(v.windows(2).all(|w| w[0] < w[1]), "increasing: {v:?}");
    assert!(callback
        .iter()
        .any(|p| p["message"].as_str().unwrap_or_default().contains(&esc.id)));
    // The SDK hands a notice to the callback only while its request is unanswered, and every
    // notice to the message handler: equal counts mean none came after the answer.
    assert_eq!(
        d.all(is_progress_notice).len(),
        callback.len(),
        "{:?}",
        d.seen
    );
    d.finish().await;
    g.shutdown().await;
}
