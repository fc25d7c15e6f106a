//! A call the gate holds for review and then gives up on (the client cancelled it, the client
//! or the server went away, the gate was told to stop) is withdrawn from gavel before the gate
//! moves on: checked once, at once, right after the event that proves the gate moved on. A
//! withdraw left running in the background would fail these checks. The "MCP server" is `cat`
//! (or a shell), so whatever reaches it comes straight back; gavel is a real server.

mod common;
#[path = "peers/session.rs"]
mod session;
#[path = "peers/support.rs"]
mod support;

use gavel::client::Client;
use gavel::protocol::{Escalation, EscalationState, Vote};
use serde_json::{json, Value};
use session::{gate_command, Session, STEP};
use support::Gavel;

const REVIEW: &str = r#"
[[rule]]
id = "cats"
tools = ["mcp.cat.*"]
effect = "review"
reason = "Cats are reviewed by ops"
approvers = "ops"
timeout = "1m"
"#;

fn call(id: &Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"meow","arguments":{"n":1}}})
}

fn cat() -> Vec<String> {
    vec!["cat".to_string()]
}

/// Starts a gate in front of `server` and has it hold one call.
async fn held(g: &Gavel, server: &[String]) -> (Session, Escalation) {
    let mut s = Session::spawn(gate_command(&g.url(), &g.token(), "cat", server));
    s.send_json(&call(&json!(1))).await;
    let esc = g.escalation_for("mcp.cat.meow", STEP).await;
    (s, esc)
}

/// The escalation is closed as withdrawn right now, and an approval is refused.
async fn assert_withdrawn(g: &Gavel, esc: &Escalation) {
    let now = g
        .env
        .client
        .escalation(g.approver(), &esc.id)
        .await
        .expect("escalation");
    assert_eq!(now.state, EscalationState::Cancelled, "{now:?}");
    assert!(
        now.resolution_reason
            .as_deref()
            .is_some_and(|r| r.contains("withdrawn")),
        "{:?}",
        now.resolution_reason
    );
    let late = Client::sign_decision(g.approver(), esc, Vote::Approve, "too late");
    let refused = g.env.client.decide(&late).await.expect_err("refused");
    assert_eq!(refused.code(), "not_pending");
}

fn assert_never_forwarded(s: &Session) {
    assert!(
        !s.backlog
            .iter()
            .any(|v| v["method"] == "tools/call" || v["method"] == "notifications/cancelled"),
        "reached the server: {:?}",
        s.backlog
    );
}

#[tokio::test]
async fn a_cancelled_call_is_withdrawn_before_the_next_line_is_handled() {
    let g = Gavel::start(REVIEW).await;
    // Without a grace for a retry (tests/gate_retry_once.rs covers the grace).
    let mut cmd = gate_command(&g.url(), &g.token(), "cat", &cat());
    cmd.env("GAVEL_GATE_RETRY_GRACE_SECS", "0");
    let mut s = Session::spawn(cmd);
    s.send_json(&call(&json!(1))).await;
    let esc = g.escalation_for("mcp.cat.meow", STEP).await;
    s.send_json(&json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user gave up"}}))
        .await;
    s.send_json(&json!({"jsonrpc":"2.0","id":"after","method":"ping"}))
        .await;
    // cat echoes the ping: the gate has handled the cancel notice.
    s.wait_for("the ping after the cancel", |v| v["id"] == "after")
        .await;
    assert_withdrawn(&g, &esc).await;
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    assert_never_forwarded(&s);
    assert!(
        !s.backlog.iter().any(|v| v["id"] == 1),
        "a cancelled call gets no answer: {:?}",
        s.backlog
    );
    g.shutdown().await;
}

#[tokio::test]
async fn client_eof_withdraws_held_calls_before_the_gate_exits() {
    let g = Gavel::start(REVIEW).await;
    let (mut s, esc) = held(&g, &cat()).await;
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    assert_withdrawn(&g, &esc).await;
    assert_never_forwarded(&s);
    g.shutdown().await;
}

#[tokio::test]
async fn server_exit_withdraws_held_calls_before_the_gate_exits() {
    let g = Gavel::start(REVIEW).await;
    // The server reads one line, then exits; the held call is not that line.
    let server = vec!["sh".into(), "-c".into(), "read line; exit 3".into()];
    let (mut s, esc) = held(&g, &server).await;
    s.send_json(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
    // The client stays; the gate ends because its server did.
    assert_eq!(s.wait_exit().await, Some(3));
    assert_withdrawn(&g, &esc).await;
    g.shutdown().await;
}

#[tokio::test]
async fn sigterm_withdraws_held_calls_before_the_gate_exits() {
    let g = Gavel::start(REVIEW).await;
    let (mut s, esc) = held(&g, &cat()).await;
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    assert_eq!(s.wait_exit().await, Some(128 + 15));
    assert_withdrawn(&g, &esc).await;
    assert_never_forwarded(&s);
    g.shutdown().await;
}
