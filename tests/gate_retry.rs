//! An MCP client that resends a held `tools/call` (a new JSON-RPC id, or a 2026-07-28-revision
//! retry carrying `inputResponses` and `requestState`) through `gavel gate` makes one
//! escalation, not one per attempt: the gate judges `params.arguments` only, so every attempt
//! has the same digest and the server attaches it to the pending escalation. One approval
//! answers every attempt. The MCP server is `cat` (what reaches it comes straight back); gavel
//! is a real server.

mod common;
#[path = "peers/session.rs"]
mod session;
#[path = "peers/support.rs"]
mod support;

use std::time::Duration;

use gavel::protocol::Vote;
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

fn call(id: Value, extra: Value) -> Value {
    let mut params = json!({"name": "meow", "arguments": {"n": 1, "says": "purr"}});
    if let (Some(p), Value::Object(more)) = (params.as_object_mut(), extra) {
        p.extend(more);
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// Waits (bounded) until the log holds `n` `retried` records.
async fn retries(g: &Gavel, n: usize) -> Vec<gavel::protocol::AuditRecord> {
    let until = tokio::time::Instant::now() + STEP;
    loop {
        let found = g
            .env
            .client
            .audit(g.env.key("grace"), "kind=retried")
            .await
            .expect("audit");
        if found.len() >= n {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "only {} retries recorded",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_resent_tools_call_is_one_escalation_and_one_approval_answers_every_attempt() {
    let g = Gavel::start(REVIEW).await;
    let mut s = Session::spawn(gate_command(
        &g.url(),
        &g.token(),
        "cat",
        &["cat".to_string()],
    ));
    s.send_json(&call(json!(1), json!({}))).await;
    let esc = g.escalation_for("mcp.cat.meow", STEP).await;

    // The client gave up waiting and resent it with a new id; then a newer client's retry
    // carries what the server asked for, besides the same arguments.
    s.send_json(&call(json!(2), json!({}))).await;
    s.send_json(&call(
        json!("retry-3"),
        json!({
            "inputResponses": {"confirm": {"action": "accept", "content": {"ok": true}}},
            "requestState": "opaque-state-from-the-server",
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
        }),
    ))
    .await;
    let recorded = retries(&g, 2).await;
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    for r in &recorded {
        assert_eq!(r.body["action"], json!(esc.action.id));
        assert_eq!(r.body["escalation"], json!(esc.id));
        assert_eq!(r.body["match"], "pending_escalation");
    }
    let pending = g
        .env
        .client
        .escalations(g.approver())
        .await
        .expect("escalations");
    assert_eq!(
        pending.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&esc.id],
        "one escalation for three attempts"
    );

    g.decide(&esc, Vote::Approve, "a cat may purr").await;
    // The first attempt is forwarded (cat echoes it back) as approved, and no attempt is left
    // waiting: each is released by the one decision.
    for id in [json!(1), json!(2), json!("retry-3")] {
        let want = id.clone();
        let released = s
            .wait_for(&format!("attempt {id} released"), move |v| v["id"] == want)
            .await;
        if released["method"] == "tools/call" {
            assert_eq!(
                released["params"]["arguments"],
                json!({"n": 1, "says": "purr"})
            );
        } else {
            assert!(released.get("error").is_none(), "{released}");
        }
    }
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    g.shutdown().await;
}
