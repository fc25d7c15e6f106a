//! `gavel gate --http` between the official Python MCP SDK's Streamable HTTP client and a
//! Streamable HTTP server built on the same SDK (tests/peers/notes_http_server.py), with a real
//! gavel server in-process. The upstream records every call it runs, so each test proves what
//! reached it and what never did.

mod common;
#[path = "peers/http.rs"]
mod http;
#[path = "peers/support.rs"]
mod support;

use gavel::protocol::{EscalationState, Vote};
use http::{Driver, Gate, Upstream, STEP};
use serde_json::{json, Value};
use support::{Gavel, DEVELOPER, UNUSED_TOKEN};

const POLICY: &str = r#"
[[rule]]
id = "harmless"
tools = ["mcp.remote.shout", "mcp.remote.count", "mcp.remote.confirm", "mcp.remote.whoami"]
effect = "allow"
reason = "Harmless"

[[rule]]
id = "keep-notes"
tools = ["mcp.remote.forget"]
effect = "deny"
reason = "Notes are kept"

[[rule]]
id = "notes"
tools = ["mcp.remote.append_note"]
effect = "review"
reason = "Notes are checked by ops"
approvers = "ops"
timeout = "1m"
"#;

struct Setup {
    g: Gavel,
    _dir: tempfile::TempDir,
    up: Upstream,
    gate: Gate,
    d: Driver,
    /// The driver's ready event: server name, protocol, the session id it was given.
    ready: Value,
}

/// A gavel server, the upstream, the gate, and the SDK client connected through the gate.
async fn setup(authorization: Option<&str>) -> Setup {
    let g = Gavel::start(POLICY).await;
    let dir = tempfile::tempdir().expect("tmp");
    let up = Upstream::start(dir.path()).await;
    let gate = Gate::start(&g.url(), &g.token(), &up.url).await;
    let (d, ready) = Driver::start(&gate.url, authorization).await;
    assert_eq!(ready["server"], "notes-http", "{ready}");
    Setup {
        g,
        _dir: dir,
        up,
        gate,
        d,
        ready,
    }
}

fn text(event: &Value) -> &str {
    event["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn lists_allows_denies_and_keeps_session_and_authorization() {
    let s = setup(Some("Bearer upstream-secret")).await;
    let (g, up, gate, mut d, ready) = (s.g, s.up, s.gate, s.d, s.ready);
    let _dir = s._dir;

    d.send(json!({"op": "list"})).await;
    let list = d.wait(|e| e["op"] == "list").await;
    let tools: Vec<&str> = list["tools"]
        .as_array()
        .expect("tool names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for t in ["shout", "append_note", "forget", "count", "confirm"] {
        assert!(tools.contains(&t), "{t} in {tools:?}");
    }

    let shout = d
        .call_and_wait("s", "shout", json!({"text": "hello gate"}))
        .await;
    assert_eq!(shout["isError"], false, "{shout}");
    assert_eq!(text(&shout), "HELLO GATE", "the upstream's own result");

    let forget = d.call_and_wait("f", "forget", json!({})).await;
    assert_eq!(forget["isError"], true, "{forget}");
    assert!(text(&forget).starts_with("Denied by gavel: "), "{forget}");
    assert!(text(&forget).contains("Notes are kept"), "{forget}");
    assert!(
        up.ran("forget").is_empty(),
        "a denied call reached the upstream"
    );
    assert_eq!(up.ran("shout").len(), 1);
    http::eventually("the gate logs the deny", || {
        gate.log().contains("denied mcp.remote.forget")
    })
    .await;

    // The session id the upstream issued is the one the client holds, and the upstream sees it
    // (and the client's Authorization) on every request through the gate.
    let session = ready["session"].clone();
    assert!(session.as_str().is_some_and(|s| !s.is_empty()), "{ready}");
    let who = d.call_and_wait("w", "whoami", json!({})).await;
    let seen: Value = serde_json::from_str(text(&who)).expect("whoami answers JSON");
    assert_eq!(seen["mcp-session-id"], session, "{seen}");
    assert_eq!(seen["authorization"], "Bearer upstream-secret", "{seen}");
    assert!(seen.get("origin").is_none(), "{seen}");

    // Allowed and denied by policy alone: no person was asked.
    let audit = g
        .env
        .client
        .escalations(g.approver())
        .await
        .expect("escalations");
    assert!(audit.is_empty(), "nothing here needed a person: {audit:?}");
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn a_held_call_is_approved_by_a_signed_decision_then_forwarded() {
    let s = setup(None).await;
    let (g, up, _gate, mut d, _dir) = (s.g, s.up, s.gate, s.d, s._dir);
    let first = d
        .call_and_wait("s", "shout", json!({"text": "before"}))
        .await;
    assert_eq!(first["isError"], false, "{first}");

    d.call("n", "append_note", json!({"text": "approved note"}))
        .await;
    let esc = g.escalation_for("mcp.remote.append_note", STEP).await;
    assert_eq!(esc.action.args, json!({"text": "approved note"}));
    assert_eq!(esc.action.on_behalf_of.as_deref(), Some(DEVELOPER));
    assert_eq!(esc.action.context["mcp_transport"], "streamable-http");
    assert_eq!(esc.action.context["mcp_server"], "remote");
    assert!(
        esc.action.session.starts_with("mcp-"),
        "{}",
        esc.action.session
    );
    // One MCP session is one gavel session: the earlier shout is in the escalation's history.
    assert!(
        esc.history.iter().any(|h| h.tool == "mcp.remote.shout"),
        "history: {:?}",
        esc.history
    );

    // Held: not at the upstream, and other traffic flows meanwhile.
    d.ping().await;
    let during = d
        .call_and_wait("s2", "shout", json!({"text": "meanwhile"}))
        .await;
    assert_eq!(text(&during), "MEANWHILE");
    assert!(
        up.ran("append_note").is_empty(),
        "a held call reached the upstream"
    );

    g.decide(&esc, Vote::Approve, "notes are fine").await;
    let noted = d.result("n").await;
    assert_eq!(noted["isError"], false, "{noted}");
    assert_eq!(text(&noted), "noted", "the upstream's own result");
    assert_eq!(
        up.ran("append_note"),
        vec![json!({"tool": "append_note", "args": {"text": "approved note"}})]
    );
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn progress_and_server_requests_reach_the_client() {
    let s = setup(None).await;
    let (g, up, _gate, mut d, _dir) = (s.g, s.up, s.gate, s.d, s._dir);
    let counted = d.call_and_wait("c", "count", json!({"n": 3})).await;
    assert_eq!(counted["isError"], false, "{counted}");
    assert_eq!(text(&counted), "counted to 3");
    // Every progress notification of the call's SSE stream came through, in order.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let p = d
            .wait(|e| e["tag"] == "c" && e["event"] == "progress")
            .await;
        seen.push((p["progress"].as_f64(), p["message"].clone()));
    }
    assert_eq!(
        seen,
        vec![
            (Some(1.0), json!("step 1")),
            (Some(2.0), json!("step 2")),
            (Some(3.0), json!("step 3"))
        ]
    );

    // The upstream asks the client mid-call (elicitation, a server→client request on the SSE
    // stream); the client's answer is a POST of a JSON-RPC response, passed through.
    let confirmed = d
        .call_and_wait("q", "confirm", json!({"question": "proceed?"}))
        .await;
    let asked = d.wait(|e| e["op"] == "elicited").await;
    assert_eq!(asked["message"], "proceed?");
    assert_eq!(confirmed["isError"], false, "{confirmed}");
    assert_eq!(text(&confirmed), "client said: yes from the client");
    assert_eq!(up.ran("confirm").len(), 1);
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn gavel_unreachable_denies_calls_and_nothing_reaches_the_upstream() {
    let dir = tempfile::tempdir().expect("tmp");
    let up = Upstream::start(dir.path()).await;
    let gate = Gate::start(&support::dead_url(), UNUSED_TOKEN, &up.url).await;
    let (mut d, ready) = Driver::start(&gate.url, None).await;
    assert_eq!(ready["server"], "notes-http");
    d.send(json!({"op": "list"})).await;
    let list = d.wait(|e| e["op"] == "list").await;
    assert!(!list["tools"].as_array().expect("tools").is_empty());
    let r = d.call_and_wait("s", "shout", json!({"text": "x"})).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("unreachable"), "{r}");
    assert!(up.calls().is_empty(), "{:?}", up.calls());
    d.quit().await;
}

#[tokio::test]
async fn a_cancelled_held_call_is_withdrawn_and_never_forwarded() {
    let s = setup(None).await;
    let (g, up, _gate, mut d, _dir) = (s.g, s.up, s.gate, s.d, s._dir);
    d.call("n", "append_note", json!({"text": "must never be noted"}))
        .await;
    let esc = g.escalation_for("mcp.remote.append_note", STEP).await;
    // The SDK sends notifications/cancelled for the request (a POST of its own).
    d.send(json!({"op": "cancel", "tag": "n"})).await;
    let ev = d.result("n").await;
    assert_eq!(ev["event"], "cancelled", "{ev}");

    // The SDK posts the notice on its own; once the gate has it, the escalation is withdrawn.
    let until = tokio::time::Instant::now() + STEP;
    loop {
        let now = g
            .env
            .client
            .escalation(g.approver(), &esc.id)
            .await
            .expect("escalation");
        if now.state == EscalationState::Cancelled {
            assert!(
                now.resolution_reason
                    .as_deref()
                    .is_some_and(|r| r.contains("withdrawn")),
                "{:?}",
                now.resolution_reason
            );
            break;
        }
        assert!(tokio::time::Instant::now() < until, "still {:?}", now.state);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let late = gavel::client::Client::sign_decision(g.approver(), &esc, Vote::Approve, "too late");
    let refused = g.env.client.decide(&late).await.expect_err("refused");
    assert_eq!(refused.code(), "not_pending");
    d.ping().await;
    assert!(up.ran("append_note").is_empty(), "{:?}", up.calls());
    d.quit().await;
    g.shutdown().await;
}
