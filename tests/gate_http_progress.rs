//! `gavel gate --http` keeps a held call's client informed: the official Python SDK client asks
//! for progress (`call_tool(..., progress_callback=...)` sends `_meta.progressToken`), and while
//! a person decides it hears `notifications/progress` on the call's SSE stream, then the
//! upstream's real result or the gate's denial. Real gavel server, real signed decisions, a real
//! Streamable HTTP upstream on the same SDK that records every call it runs.

mod common;
#[path = "peers/http.rs"]
mod http;
#[path = "peers/support.rs"]
mod support;

use std::time::Duration;

use gavel::protocol::Vote;
use http::{Driver, Gate, Upstream, STEP};
use serde_json::{json, Value};
use support::Gavel;

const POLICY: &str = r#"
[[rule]]
id = "notes"
tools = ["mcp.remote.append_note"]
effect = "review"
reason = "Notes are checked by ops"
approvers = "ops"
timeout = "1m"
"#;

async fn setup() -> (Gavel, tempfile::TempDir, Upstream, Gate, Driver) {
    setup_upstream(&[]).await
}

/// With `env` for the upstream.
async fn setup_upstream(
    env: &[(&str, &str)],
) -> (Gavel, tempfile::TempDir, Upstream, Gate, Driver) {
    let g = Gavel::start(POLICY).await;
    let dir = tempfile::tempdir().expect("tmp");
    let up = Upstream::start_env(dir.path(), None, env).await;
    let gate = Gate::start_env(
        &g.url(),
        &g.token(),
        &up.url,
        &[],
        &[("GAVEL_GATE_PROGRESS_SECS", "0.5")],
    )
    .await;
    let (d, _ready) = Driver::start(&gate.url, None).await;
    (g, dir, up, gate, d)
}

/// The call's events up to its result, in order: (progress values and messages, the result).
async fn until_result(d: &mut Driver, tag: &str) -> (Vec<(f64, String)>, Value) {
    let mut progress = Vec::new();
    loop {
        let e = d.wait(|e| e["tag"] == tag).await;
        if e["event"] != "progress" {
            return (progress, e);
        }
        let value = e["progress"].as_f64().expect("a progress value");
        let message = e["message"].as_str().unwrap_or_default().to_string();
        progress.push((value, message));
    }
}

/// Nothing more for `tag` after its result: a second and a half (three intervals) later.
async fn silent_after(d: &mut Driver, tag: &str) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.ping().await;
    let late: Vec<&Value> = d.unclaimed().iter().filter(|e| e["tag"] == tag).collect();
    assert!(late.is_empty(), "events after the answer: {late:?}");
}

#[tokio::test]
async fn a_held_call_reports_progress_until_approved_then_gets_the_upstreams_result() {
    let (g, _dir, up, _gate, mut d) = setup().await;
    d.call("n", "append_note", json!({"text": "progress note"}))
        .await;
    let esc = g.escalation_for("mcp.remote.append_note", STEP).await;
    // Held for a while: progress keeps coming, and the upstream has not seen the call.
    for _ in 0..3 {
        d.wait(|e| e["tag"] == "n" && e["event"] == "progress")
            .await;
    }
    assert!(up.ran("append_note").is_empty(), "{:?}", up.calls());
    g.decide(&esc, Vote::Approve, "fine").await;
    let (more, result) = until_result(&mut d, "n").await;
    assert_eq!(result["event"], "result", "{result}");
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["text"], "noted", "the upstream's own result");
    assert_eq!(
        up.ran("append_note"),
        vec![json!({"tool": "append_note", "args": {"text": "progress note"}})]
    );
    silent_after(&mut d, "n").await;
    // The three taken above were in order too; these came after them.
    let values: Vec<f64> = more.iter().map(|(v, _)| *v).collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn an_upstreams_json_answer_ends_the_stream_as_one_message() {
    let (g, _dir, up, _gate, mut d) = setup_upstream(&[("JSON_RESPONSE", "1")]).await;
    d.call("n", "append_note", json!({"text": "json note"}))
        .await;
    let esc = g.escalation_for("mcp.remote.append_note", STEP).await;
    d.wait(|e| e["tag"] == "n" && e["event"] == "progress")
        .await;
    g.decide(&esc, Vote::Approve, "fine").await;
    let (_, result) = until_result(&mut d, "n").await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["text"], "noted", "the upstream's own result");
    assert_eq!(up.ran("append_note").len(), 1);
    silent_after(&mut d, "n").await;
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn progress_increases_and_says_what_the_call_waits_for() {
    let (g, _dir, up, _gate, mut d) = setup().await;
    d.call("n", "append_note", json!({"text": "watched"})).await;
    let esc = g.escalation_for("mcp.remote.append_note", STEP).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let p = d
            .wait(|e| e["tag"] == "n" && e["event"] == "progress")
            .await;
        seen.push(p);
    }
    let values: Vec<f64> = seen.iter().filter_map(|p| p["progress"].as_f64()).collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    let last = &seen[3];
    let message = last["message"].as_str().unwrap_or_default();
    assert!(message.contains("waiting for ops"), "{message}");
    assert!(message.contains(&esc.id), "{message}");
    assert!(
        last["total"].as_f64().is_some_and(|t| t > values[3]),
        "{last}"
    );

    // Denied: the progress stops and the gate's denial is the answer.
    g.decide(&esc, Vote::Deny, "not this note").await;
    let (_, result) = until_result(&mut d, "n").await;
    assert_eq!(result["isError"], true, "{result}");
    let text = result["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("Denied by gavel: "), "{text}");
    silent_after(&mut d, "n").await;
    assert!(up.ran("append_note").is_empty(), "{:?}", up.calls());
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn without_a_progress_token_a_held_call_is_silent_until_answered() {
    let (g, _dir, up, _gate, mut d) = setup().await;
    d.send(json!({"op": "call", "tag": "q", "tool": "append_note",
                  "args": {"text": "quiet"}, "progress": false}))
        .await;
    let esc = g.escalation_for("mcp.remote.append_note", STEP).await;
    // Three intervals held.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    g.decide(&esc, Vote::Approve, "fine").await;
    let (progress, result) = until_result(&mut d, "q").await;
    assert!(progress.is_empty(), "no token, no progress: {progress:?}");
    assert_eq!(result["text"], "noted", "{result}");
    assert_eq!(up.ran("append_note").len(), 1);
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn a_client_that_hangs_up_on_a_streamed_held_call_withdraws_it() {
    let (g, _dir, up, gate, d) = setup().await;
    let raw = http::Raw::open(&gate.url).await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "append_note", "arguments": {"text": "hung up"},
        "_meta": {"progressToken": "p7"}}});
    let mut r = raw
        .request(body.to_string().into_bytes())
        .send()
        .await
        .expect("POST");
    // Answered at once, as a stream, while the call is held.
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let esc = g.escalation_for("mcp.remote.append_note", STEP).await;
    let first = tokio::time::timeout(STEP, r.chunk())
        .await
        .expect("progress in time")
        .expect("a chunk")
        .expect("not the end");
    let first = String::from_utf8_lossy(&first).to_string();
    assert!(first.starts_with("event: message\ndata: "), "{first:?}");
    let data: Value =
        serde_json::from_str(first.lines().nth(1).unwrap_or_default()["data: ".len()..].trim())
            .expect("one JSON-RPC message");
    assert_eq!(data["method"], "notifications/progress", "{data}");
    assert_eq!(data["params"]["progressToken"], "p7", "{data}");
    drop(r); // hangs up
    let until = tokio::time::Instant::now() + STEP;
    loop {
        let now = g
            .env
            .client
            .escalation(g.approver(), &esc.id)
            .await
            .expect("escalation");
        if now.state == gavel::protocol::EscalationState::Cancelled {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "still {:?}", now.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up.ran("append_note").is_empty(), "{:?}", up.calls());
    d.quit().await;
    g.shutdown().await;
}
