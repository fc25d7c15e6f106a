//! An MCP client that resends a held `tools/call` (a new JSON-RPC id, or a 2026-07-28-revision
//! retry carrying `inputResponses` and `requestState`) through `gavel gate` makes one
//! escalation, not one per attempt: the gate judges `params.arguments` only, so every attempt
//! has the same digest and the server attaches it to the pending escalation. One approval
//! answers every attempt, and runs the call once: the newest attempt is forwarded, the others
//! are answered with an error naming it (tests/gate_retry_once.rs counts real runs). Driven raw (the MCP server is `cat`: what reaches it comes straight
//! back) and with the official Python SDK against the reference `server-everything`; gavel is a
//! real server.

mod common;
#[path = "peers/session.rs"]
mod session;
#[path = "peers/support.rs"]
mod support;

use std::process::Stdio;

use gavel::protocol::Vote;
use serde_json::{json, Value};
use session::{gate_command, Session, STEP};
use support::{Gavel, DEVELOPER};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

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
    let recorded = g.retries(2, STEP).await;
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
    // The newest attempt is forwarded (cat echoes it back), once; the two older ones are
    // answered, not run: one approval, one run.
    let forwarded = s
        .wait_for("the newest attempt forwarded", |v| v["id"] == "retry-3")
        .await;
    assert_eq!(forwarded["method"], "tools/call", "{forwarded}");
    assert_eq!(
        forwarded["params"]["arguments"],
        json!({"n": 1, "says": "purr"})
    );
    for id in [json!(1), json!(2)] {
        let want = id.clone();
        let answered = s
            .wait_for(&format!("attempt {id} answered"), move |v| v["id"] == want)
            .await;
        assert!(answered.get("method").is_none(), "not run: {answered}");
        assert_eq!(answered["result"]["isError"], true, "{answered}");
        let text = answered["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains(r#"ran once, as request "retry-3""#), "{text}");
    }
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    // Nothing else reached the server (the forwarded line was taken out above).
    let more = s
        .backlog
        .iter()
        .filter(|v| v["method"] == "tools/call")
        .count();
    assert_eq!(more, 0, "{:?}", s.backlog);
    g.shutdown().await;
}

/// The official Python SDK (tests/peers/mcp_driver.py, `ClientSession` over `stdio_client`)
/// calls server-everything's `get-sum` twice with the same arguments while the first is held:
/// two requests with their own ids, one escalation, one approval, one real result; the other
/// request gets an error result saying the approved call ran once.
#[tokio::test]
async fn the_python_sdk_calling_twice_makes_one_escalation() {
    let g = Gavel::start(
        r#"
[[rule]]
id = "sums"
tools = ["mcp.server-everything.get-sum"]
effect = "review"
reason = "Sums are checked by ops"
approvers = "ops"
timeout = "1m"
"#,
    )
    .await;
    let server =
        support::peer("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let mut child = Command::new(support::peer("venv/bin/python"))
        .arg(support::root().join("tests/peers/mcp_driver.py"))
        .arg("--")
        .arg(support::gavel_bin())
        .args(["gate", "--"])
        .arg("node")
        .arg(server)
        .env("GAVEL_SERVER", g.url())
        .env("GAVEL_AGENT_TOKEN", g.token())
        .env("GAVEL_ON_BEHALF_OF", DEVELOPER)
        .env("GAVEL_CONFIG", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the python driver");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut events = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(STEP, events.next_line())
            .await
            .expect("the driver answered in time")
            .expect("driver stdout")
            .expect("the driver is still running");
        serde_json::from_str(&line).expect("driver events are JSON")
    };
    assert_eq!(next().await["op"], "ready");
    for tag in ["first", "again"] {
        let cmd = json!({"op": "call", "tag": tag, "tool": "get-sum", "args": {"a": 2, "b": 3}});
        stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .expect("write to the driver");
        if tag == "first" {
            g.escalation_for("mcp.server-everything.get-sum", STEP)
                .await;
        }
    }
    let recorded = g.retries(1, STEP).await;
    let pending = g
        .env
        .client
        .escalations(g.approver())
        .await
        .expect("escalations");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(recorded[0].body["escalation"], json!(pending[0].id));
    g.decide(&pending[0], Vote::Approve, "sums are fine").await;
    let mut results = Vec::new();
    while results.len() < 2 {
        let event = next().await;
        if event["event"] == "result" {
            results.push(event);
        }
    }
    let (ran, refused): (Vec<_>, Vec<_>) = results.iter().partition(|r| r["isError"] == false);
    assert_eq!((ran.len(), refused.len()), (1, 1), "{results:?}");
    // The newest attempt ran; the first was answered.
    assert_eq!(ran[0]["tag"], "again", "{results:?}");
    assert!(ran[0]["text"].as_str().unwrap_or_default().contains('5'));
    let text = refused[0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("ran once, as request"), "{text}");
    drop(stdin);
    let _ = tokio::time::timeout(STEP, child.wait()).await;
    g.shutdown().await;
}
