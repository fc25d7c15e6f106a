//! MCP tasks (revision 2025-11-25) through `gavel gate`: a client that negotiated tasks gets a
//! gate-owned task for an augmented `tools/call`, polls it while a person reviews the call, and
//! fetches the server's real result once it is approved; cancelling the task withdraws the call.
//! Driven by the official TypeScript SDK's task API (`client.experimental.tasks`,
//! tests/peers/task_client.mjs; the Python SDK 2.3.0 has no client task API) against the
//! reference server-everything, with a real gavel server and real signed decisions.

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

[[rule]]
id = "slow"
tools = ["mcp.server-everything.trigger-long-running-operation"]
effect = "allow"
reason = "Harmless, only slow"
"#;

async fn client(g: &Gavel, tasks: bool) -> Events {
    let mut cmd = Command::new("node");
    cmd.arg(support::root().join("tests/peers/task_client.mjs"))
        .arg(support::peer("npm/node_modules/@modelcontextprotocol/sdk"))
        .arg(if tasks { "tasks" } else { "no-tasks" })
        .arg("--");
    // Polled every 0.5 s (the gate's pollInterval follows its progress interval).
    let mut c = Events::spawn(cmd, g, &support::everything(), "0.5");
    c.until(|e| e["op"] == "ready").await;
    c
}

async fn op(c: &mut Events, cmd: Value) -> Value {
    let name = cmd["op"].clone();
    c.send(cmd).await;
    c.until(move |e| e["op"] == name).await
}

fn tag(t: &'static str, event: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["tag"] == t && e["event"] == event
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_task_waits_for_the_review_and_returns_the_servers_result() {
    let g = Gavel::start(POLICY).await;
    let mut c = client(&g, true).await;

    // Offered: the capability, and every listed tool as an optional task.
    let tools = op(&mut c, json!({"op": "tools"})).await;
    assert_eq!(
        tools["tasks"]["requests"]["tools"]["call"],
        json!({}),
        "{tools}"
    );
    let sum = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "get-sum")
        .expect("get-sum listed");
    assert_eq!(sum["execution"]["taskSupport"], "optional");

    c.send(json!({"op": "stream", "tag": "s", "tool": "get-sum", "args": {"a": 19, "b": 23}, "ttl": 90000}))
        .await;
    // The task exists at once, while the call is still held.
    let created = c.until(tag("s", "taskCreated")).await;
    let task_id = created["task"]["taskId"].as_str().unwrap().to_string();
    assert!(task_id.starts_with("gavel-"), "{created}");
    assert_eq!(created["task"]["status"], "working");
    assert_eq!(created["task"]["ttl"], 90000);
    let esc = g.escalation_for(SUM, STEP).await;
    // Polling shows what it waits for.
    let esc_id = esc.id.clone();
    let waiting = c
        .until(move |e| {
            e["tag"] == "s"
                && e["event"] == "taskStatus"
                && e["task"]["statusMessage"]
                    .as_str()
                    .is_some_and(|m| m.contains(&esc_id))
        })
        .await;
    assert_eq!(waiting["task"]["status"], "working");
    let listed = op(&mut c, json!({"op": "list"})).await;
    assert_eq!(
        listed["ok"]["tasks"][0]["taskId"],
        task_id.as_str(),
        "{listed}"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    g.decide(&esc, Vote::Approve, "sums are fine").await;
    let result = c.until(tag("s", "result")).await;
    assert_eq!(result["result"]["isError"], Value::Null, "{result}");
    assert!(
        text(&result["result"]).contains("42"),
        "the server's sum: {result}"
    );
    assert_eq!(
        result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        task_id.as_str()
    );
    // The status notification came too, and the task stays readable.
    let done = c.all(|e| e["event"] == "status" && e["task"]["status"] == "completed");
    assert_eq!(done.len(), 1, "{:?}", c.seen);
    assert_eq!(done[0]["task"]["taskId"], task_id.as_str());
    let got = op(&mut c, json!({"op": "get", "taskId": task_id})).await;
    assert_eq!(got["ok"]["status"], "completed", "{got}");
    let again = op(&mut c, json!({"op": "result", "taskId": task_id})).await;
    assert!(text(&again["ok"]).contains("42"), "{again}");
    // A finished task cannot be cancelled; an unknown one does not exist.
    let late = op(&mut c, json!({"op": "cancel", "taskId": task_id})).await;
    assert_eq!(late["error"]["code"], -32602, "{late}");
    let unknown = op(&mut c, json!({"op": "get", "taskId": "gavel-0000"})).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        c.all(|e| e["event"] == "client-error").is_empty(),
        "{:?}",
        c.seen
    );

    op(&mut c, json!({"op": "quit"})).await;
    c.finish().await;
    g.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_task_withdraws_the_call_and_a_denied_task_fails_with_the_reason() {
    let g = Gavel::start(POLICY).await;
    let mut c = client(&g, true).await;
    op(&mut c, json!({"op": "tools"})).await;

    c.send(json!({"op": "stream", "tag": "c", "tool": "get-sum", "args": {"a": 1, "b": 1}}))
        .await;
    let created = c.until(tag("c", "taskCreated")).await;
    let task_id = created["task"]["taskId"].as_str().unwrap().to_string();
    let esc = g.escalation_for(SUM, STEP).await;
    let cancelled = op(&mut c, json!({"op": "cancel", "taskId": task_id})).await;
    assert_eq!(cancelled["ok"]["status"], "cancelled", "{cancelled}");
    // Withdrawn from gavel before the answer: the escalation is closed, approval refused.
    let closed = g
        .env
        .client
        .escalation(g.approver(), &esc.id)
        .await
        .expect("escalation");
    assert_eq!(closed.state, EscalationState::Cancelled);
    let late = gavel::client::Client::sign_decision(g.approver(), &esc, Vote::Approve, "late");
    assert!(g.env.client.decide(&late).await.is_err());
    let ended = c.until(tag("c", "error")).await;
    assert!(
        ended["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{ended}"
    );

    // Denied by a person: the task fails, and its result is the denial.
    c.send(json!({"op": "stream", "tag": "d", "tool": "get-sum", "args": {"a": 2, "b": 2}}))
        .await;
    let created = c.until(tag("d", "taskCreated")).await;
    let denied_id = created["task"]["taskId"].as_str().unwrap().to_string();
    let esc = g.escalation_for(SUM, STEP).await;
    g.decide(&esc, Vote::Deny, "not today").await;
    let failed = c.until(tag("d", "error")).await;
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{failed}"
    );
    let result = op(&mut c, json!({"op": "result", "taskId": denied_id})).await;
    assert_eq!(result["ok"]["isError"], true, "{result}");
    let why = text(&result["ok"]);
    assert!(
        why.starts_with("Denied by gavel: ") && why.contains("not today"),
        "{why}"
    );
    let got = op(&mut c, json!({"op": "get", "taskId": denied_id})).await;
    assert_eq!(got["ok"]["status"], "failed");

    // The same client's call without a task is held and answered as always.
    c.send(json!({"op": "call", "tag": "p", "tool": "get-sum", "args": {"a": 3, "b": 4}}))
        .await;
    let esc = g.escalation_for(SUM, STEP).await;
    g.decide(&esc, Vote::Approve, "fine").await;
    let plain = c.until(tag("p", "result")).await;
    assert!(text(&plain["result"]).contains('7'), "{plain}");
    assert!(plain["result"].get("task").is_none(), "{plain}");

    op(&mut c, json!({"op": "quit"})).await;
    c.finish().await;
    g.shutdown().await;
}

#[tokio::test]
async fn a_forwarded_task_is_cancelled_at_the_server_and_stays_cancelled() {
    let g = Gavel::start(POLICY).await;
    let mut c = client(&g, true).await;
    op(&mut c, json!({"op": "tools"})).await;
    c.send(
        json!({"op": "stream", "tag": "slow", "tool": "trigger-long-running-operation",
        "args": {"duration": 3, "steps": 3}}),
    )
    .await;
    let created = c.until(tag("slow", "taskCreated")).await;
    let task_id = created["task"]["taskId"].as_str().unwrap().to_string();
    // Allowed by policy at once, so the server is running it.
    let running = c
        .until(|e| {
            e["tag"] == "slow"
                && e["task"]["statusMessage"]
                    .as_str()
                    .is_some_and(|m| m.contains("the server is running it"))
        })
        .await;
    assert_eq!(running["task"]["status"], "working");
    let cancelled = op(&mut c, json!({"op": "cancel", "taskId": task_id})).await;
    assert_eq!(cancelled["ok"]["status"], "cancelled", "{cancelled}");
    // Past the operation's own end: whatever the server answers, the task stays cancelled.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = op(&mut c, json!({"op": "get", "taskId": task_id})).await;
    assert_eq!(got["ok"]["status"], "cancelled", "{got}");
    let result = op(&mut c, json!({"op": "result", "taskId": task_id})).await;
    assert_eq!(result["ok"]["isError"], true, "{result}");
    assert!(text(&result["ok"]).contains("cancelled"), "{result}");
    // The server's late answer to the gate's request, if any, never reached the client.
    assert!(
        c.all(|e| e["event"] == "client-error").is_empty(),
        "{:?}",
        c.seen
    );
    op(&mut c, json!({"op": "quit"})).await;
    c.finish().await;
    g.shutdown().await;
}

#[tokio::test]
async fn a_client_without_tasks_keeps_the_held_call() {
    let g = Gavel::start(POLICY).await;
    let mut c = client(&g, false).await;
    // The server's own answer, unchanged: server-everything offers tasks of its own, for
    // simulate-research-query only, and get-sum stays a plain call.
    let tools = op(&mut c, json!({"op": "tools"})).await;
    assert_eq!(
        tools["tasks"]["requests"]["tools"]["call"],
        json!({}),
        "{tools}"
    );
    let support = |name: &str| {
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["execution"]["taskSupport"].clone())
    };
    assert_eq!(support("get-sum"), Some(json!("forbidden")), "{tools}");
    assert_eq!(support("simulate-research-query"), Some(json!("required")));

    c.send(json!({"op": "call", "tag": "p", "tool": "get-sum", "args": {"a": 40, "b": 2}}))
        .await;
    let esc = g.escalation_for(SUM, STEP).await;
    g.decide(&esc, Vote::Approve, "fine").await;
    let result = c.until(tag("p", "result")).await;
    assert!(text(&result["result"]).contains("42"), "{result}");
    op(&mut c, json!({"op": "quit"})).await;
    c.finish().await;
    g.shutdown().await;
}

/// A task is one attempt: a plain retry of the same call attaches to the task's review, and
/// the one approval runs the call once, for the newest attempt; the task fails, saying so.
#[tokio::test]
async fn a_task_and_a_retry_of_its_call_share_one_approval_and_one_run() {
    let g = Gavel::start(POLICY).await;
    let mut c = client(&g, true).await;
    op(&mut c, json!({"op": "tools"})).await;
    c.send(json!({"op": "stream", "tag": "t", "tool": "get-sum", "args": {"a": 19, "b": 23}}))
        .await;
    let created = c.until(tag("t", "taskCreated")).await;
    let task_id = created["task"]["taskId"].as_str().unwrap().to_string();
    let esc = g.escalation_for(SUM, STEP).await;
    c.send(json!({"op": "call", "tag": "p", "tool": "get-sum", "args": {"a": 19, "b": 23}}))
        .await;
    let until = tokio::time::Instant::now() + STEP;
    while g
        .env
        .client
        .audit(g.env.key("grace"), "kind=retried")
        .await
        .expect("audit")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < until,
            "the retry never attached"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    g.decide(&esc, Vote::Approve, "sums are fine").await;
    let ran = c.until(tag("p", "result")).await;
    assert!(text(&ran["result"]).contains("42"), "{ran}");
    // The task failed, and its result says why (the SDK's stream reports a failed task as
    // an error; tasks/result has the tool result).
    c.until(tag("t", "error")).await;
    let failed = c.all(|e| e["event"] == "status" && e["task"]["status"] == "failed");
    assert_eq!(failed.len(), 1, "{:?}", c.seen);
    let task = op(&mut c, json!({"op": "result", "taskId": task_id})).await;
    assert_eq!(task["ok"]["isError"], true, "{task}");
    assert!(
        text(&task["ok"]).contains("the approved call ran once, as request"),
        "{task}"
    );
    op(&mut c, json!({"op": "quit"})).await;
    c.finish().await;
    g.shutdown().await;
}
