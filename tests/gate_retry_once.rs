//! An approval runs a call once, however often the client tried it. gavel attaches a retried
//! call to the pending review of its first attempt, so several attempts held by `gavel gate`
//! can wait on one action: the gate forwards one of them when it is approved and answers the
//! others. A client's cancel keeps the review open for a grace (GAVEL_GATE_RETRY_GRACE_SECS) so
//! that the retry which usually follows attaches instead of asking approvers again; with no
//! retry the review is withdrawn after the grace, or at once when the gate exits.
//!
//! Runs are counted for real: the official Python SDK client (tests/peers/mcp_driver.py) calls
//! the SDK's `notes` server (tests/peers/notes_server.py), whose `append_note` appends a line
//! to a file. The raw cases use `cat` as the server (whatever reaches it comes straight back);
//! gavel is a real server.

mod common;
#[path = "peers/session.rs"]
mod session;
#[path = "peers/support.rs"]
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{Escalation, EscalationState, Vote};
use serde_json::{json, Value};
use session::{gate_command, Session, STEP};
use support::{Gavel, DEVELOPER};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const GRACE_ENV: &str = "GAVEL_GATE_RETRY_GRACE_SECS";

const NOTES: &str = r#"
[[rule]]
id = "notes"
tools = ["mcp.notes.append_note"]
effect = "review"
reason = "Notes are reviewed by ops"
approvers = "ops"
timeout = "1m"
"#;

const CATS: &str = r#"
[[rule]]
id = "cats"
tools = ["mcp.cat.*"]
effect = "review"
reason = "Cats are reviewed by ops"
approvers = "ops"
timeout = "1m"
"#;

/// The Python SDK client in front of `gavel gate --name notes -- notes_server.py`.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    events: Lines<BufReader<ChildStdout>>,
}

impl Driver {
    fn spawn(g: &Gavel, notes: &Path, grace: &str) -> Driver {
        let mut child = Command::new(support::peer("venv/bin/python"))
            .arg(support::root().join("tests/peers/mcp_driver.py"))
            .arg("--")
            .arg(support::gavel_bin())
            .args(["gate", "--name", "notes", "--"])
            .arg(support::peer("venv/bin/python"))
            .arg(support::root().join("tests/peers/notes_server.py"))
            .env("GAVEL_SERVER", g.url())
            .env("GAVEL_AGENT_TOKEN", g.token())
            .env("GAVEL_ON_BEHALF_OF", DEVELOPER)
            .env("GAVEL_CONFIG", "/dev/null")
            .env(GRACE_ENV, grace)
            .env("NOTES_FILE", notes)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the python driver");
        Driver {
            stdin: child.stdin.take().expect("stdin"),
            events: BufReader::new(child.stdout.take().expect("stdout")).lines(),
            child,
        }
    }

    async fn send(&mut self, cmd: Value) {
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .expect("write to the driver");
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(STEP, self.events.next_line())
            .await
            .expect("the driver answered in time")
            .expect("driver stdout")
            .expect("the driver is still running");
        serde_json::from_str(&line).expect("driver events are JSON")
    }

    async fn call_note(&mut self, tag: &str) {
        self.send(
            json!({"op": "call", "tag": tag, "tool": "append_note", "args": {"text": "once"}}),
        )
        .await;
    }

    async fn quit(mut self) {
        self.send(json!({"op": "quit"})).await;
        while self.next().await["op"] != "quit" {}
        let _ = tokio::time::timeout(STEP, self.child.wait()).await;
    }
}

/// Lines the notes server appended: one per real run of `append_note`.
fn runs(notes: &Path) -> Vec<String> {
    std::fs::read_to_string(notes)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn pending(g: &Gavel) -> Vec<Escalation> {
    g.env
        .client
        .escalations(g.approver())
        .await
        .expect("escalations")
}

async fn state(g: &Gavel, esc: &Escalation) -> Escalation {
    g.env
        .client
        .escalation(g.approver(), &esc.id)
        .await
        .expect("escalation")
}

/// Closed as withdrawn, and an approval is refused.
async fn assert_withdrawn(g: &Gavel, esc: &Escalation) {
    let now = state(g, esc).await;
    assert_eq!(now.state, EscalationState::Cancelled, "{now:?}");
    assert!(
        now.resolution_reason
            .as_deref()
            .is_some_and(|r| r.contains("withdrawn")),
        "{now:?}"
    );
    let late = Client::sign_decision(g.approver(), esc, Vote::Approve, "too late");
    let refused = g.env.client.decide(&late).await.expect_err("refused");
    assert_eq!(refused.code(), "not_pending");
}

#[tokio::test]
async fn two_attempts_on_one_approval_run_the_tool_once() {
    let g = Gavel::start(NOTES).await;
    let notes = g.env.dir.path().join("notes.txt");
    let mut d = Driver::spawn(&g, &notes, "10");
    assert_eq!(d.next().await["op"], "ready");
    d.call_note("first").await;
    let esc = g.escalation_for("mcp.notes.append_note", STEP).await;
    // The client tries again without cancelling the first request.
    d.call_note("again").await;
    let attached = g.retries(1, STEP).await;
    assert_eq!(attached[0].body["escalation"], json!(esc.id));
    assert_eq!(pending(&g).await.len(), 1, "one escalation");

    g.decide(&esc, Vote::Approve, "one note is fine").await;
    let mut results = Vec::new();
    while results.len() < 2 {
        let event = d.next().await;
        if event["event"] == "result" || event["event"] == "error" {
            results.push(event);
        }
    }
    // The newest attempt ran; the first was told so, not run.
    let ran = results.iter().find(|r| r["tag"] == "again").expect("again");
    assert_eq!(ran["isError"], false, "{results:?}");
    assert_eq!(ran["text"], "noted");
    let other = results.iter().find(|r| r["tag"] == "first").expect("first");
    assert_eq!(other["isError"], true, "{results:?}");
    let text = other["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("the approved call ran once, as request"),
        "{text}"
    );
    // A round trip after both answers: nothing else is on its way to the server.
    d.send(json!({"op": "ping"})).await;
    while d.next().await["op"] != "ping" {}
    assert_eq!(runs(&notes), ["once"], "the tool ran once");
    d.quit().await;
    assert_eq!(runs(&notes), ["once"]);
    g.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_a_cancel_attaches_and_runs_once() {
    let g = Gavel::start(NOTES).await;
    let notes = g.env.dir.path().join("notes.txt");
    // A short grace, so the test can see the retry keep the review open past it.
    let mut d = Driver::spawn(&g, &notes, "2");
    assert_eq!(d.next().await["op"], "ready");
    d.call_note("first").await;
    let esc = g.escalation_for("mcp.notes.append_note", STEP).await;
    // The common client retry: its timeout fires, it cancels, and sends the call again.
    d.send(json!({"op": "cancel", "tag": "first"})).await;
    let cancelled = d.next().await;
    assert_eq!(cancelled["event"], "cancelled", "{cancelled}");
    d.call_note("again").await;
    let attached = g.retries(1, STEP).await;
    assert_eq!(attached[0].body["escalation"], json!(esc.id));
    // Past the grace the review is still open: the retry took it over. Still one escalation.
    tokio::time::sleep(Duration::from_millis(2800)).await;
    assert_eq!(state(&g, &esc).await.state, EscalationState::Pending);
    let open = pending(&g).await;
    assert_eq!(open.iter().map(|e| &e.id).collect::<Vec<_>>(), [&esc.id]);

    g.decide(&esc, Vote::Approve, "one note is fine").await;
    let result = d.next().await;
    assert_eq!(result["tag"], "again", "{result}");
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["text"], "noted");
    d.send(json!({"op": "ping"})).await;
    let after = d.next().await;
    assert_eq!(
        after["op"], "ping",
        "nothing for the cancelled request: {after}"
    );
    assert_eq!(runs(&notes), ["once"], "the retry ran once");
    d.quit().await;
    g.shutdown().await;
}

fn cat_gate(g: &Gavel, grace: &str) -> Session {
    let mut cmd = gate_command(&g.url(), &g.token(), "cat", &["cat".to_string()]);
    cmd.env(GRACE_ENV, grace);
    Session::spawn(cmd)
}

fn meow(id: i64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"meow","arguments":{"n":1}}})
}

fn cancel(id: i64) -> Value {
    json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":id,"reason":"timeout"}})
}

/// A ping through the gate and back from `cat`: every line before it has been handled.
async fn round_trip(s: &mut Session, tag: &str) {
    s.send_json(&json!({"jsonrpc":"2.0","id":tag,"method":"ping"}))
        .await;
    s.wait_for(tag, |v| v["id"] == tag).await;
}

fn forwarded(s: &Session) -> usize {
    s.backlog
        .iter()
        .filter(|v| v["method"] == "tools/call")
        .count()
}

#[tokio::test]
async fn a_cancel_with_no_retry_is_withdrawn_after_the_grace() {
    let g = Gavel::start(CATS).await;
    let mut s = cat_gate(&g, "1");
    s.send_json(&meow(1)).await;
    let esc = g.escalation_for("mcp.cat.meow", STEP).await;
    let cancelled_at = tokio::time::Instant::now();
    s.send_json(&cancel(1)).await;
    round_trip(&mut s, "after").await;
    // Handled, and still open: a retry could attach now.
    assert_eq!(state(&g, &esc).await.state, EscalationState::Pending);
    let until = cancelled_at + STEP;
    while state(&g, &esc).await.state == EscalationState::Pending {
        assert!(tokio::time::Instant::now() < until, "never withdrawn");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        cancelled_at.elapsed() >= Duration::from_millis(900),
        "withdrawn before the grace: {:?}",
        cancelled_at.elapsed()
    );
    assert_withdrawn(&g, &esc).await;
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    assert_eq!(forwarded(&s), 0, "{:?}", s.backlog);
    assert!(!s.backlog.iter().any(|v| v["id"] == 1), "{:?}", s.backlog);
    g.shutdown().await;
}

#[tokio::test]
async fn a_cancel_then_the_gate_exiting_withdraws_at_once() {
    let g = Gavel::start(CATS).await;
    let mut s = cat_gate(&g, "30");
    s.send_json(&meow(1)).await;
    let esc = g.escalation_for("mcp.cat.meow", STEP).await;
    s.send_json(&cancel(1)).await;
    round_trip(&mut s, "after").await;
    let closing = tokio::time::Instant::now();
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    assert!(
        closing.elapsed() < Duration::from_secs(10),
        "{:?}",
        closing.elapsed()
    );
    assert_withdrawn(&g, &esc).await;
    assert_eq!(forwarded(&s), 0, "{:?}", s.backlog);
    g.shutdown().await;
}

#[tokio::test]
async fn an_approval_during_the_grace_with_no_attempt_waiting_runs_nothing() {
    let g = Gavel::start(CATS).await;
    let mut s = cat_gate(&g, "30");
    s.send_json(&meow(1)).await;
    let esc = g.escalation_for("mcp.cat.meow", STEP).await;
    s.send_json(&cancel(1)).await;
    round_trip(&mut s, "after").await;
    g.decide(&esc, Vote::Approve, "fine, but nobody waits")
        .await;
    // The gate saw the approval and ran nothing.
    let until = tokio::time::Instant::now() + STEP;
    while !s.stderr().contains("no attempt waits for it") {
        assert!(tokio::time::Instant::now() < until, "{}", s.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    round_trip(&mut s, "later").await;
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    assert_eq!(forwarded(&s), 0, "{:?}", s.backlog);
    assert!(!s.backlog.iter().any(|v| v["id"] == 1), "{:?}", s.backlog);
    g.shutdown().await;
}

#[tokio::test]
async fn progress_stops_for_the_attempt_answered_instead_of_run() {
    let g = Gavel::start(CATS).await;
    let mut cmd = gate_command(&g.url(), &g.token(), "cat", &["cat".to_string()]);
    cmd.env("GAVEL_GATE_PROGRESS_SECS", "0.2");
    let mut s = Session::spawn(cmd);
    let mut first = meow(1);
    first["params"]["_meta"] = json!({"progressToken": "p1"});
    s.send_json(&first).await;
    let esc = g.escalation_for("mcp.cat.meow", STEP).await;
    let mut again = meow(2);
    again["params"]["_meta"] = json!({"progressToken": "p2"});
    s.send_json(&again).await;
    g.retries(1, STEP).await;
    // Both attempts get progress while they wait.
    for token in ["p1", "p2"] {
        s.wait_for(token, |v| {
            v["method"] == "notifications/progress" && v["params"]["progressToken"] == token
        })
        .await;
    }
    g.decide(&esc, Vote::Approve, "one meow").await;
    let run = s.wait_for("the newest attempt", |v| v["id"] == 2).await;
    assert_eq!(run["method"], "tools/call", "{run}");
    let answered = s.answer(&json!(1)).await;
    assert_eq!(answered["result"]["isError"], true, "{answered}");
    // Five intervals later, no progress for either attempt.
    s.backlog.clear();
    tokio::time::sleep(Duration::from_secs(1)).await;
    round_trip(&mut s, "later").await;
    assert!(
        !s.backlog
            .iter()
            .any(|v| v["method"] == "notifications/progress"),
        "{:?}",
        s.backlog
    );
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    assert_eq!(forwarded(&s), 0, "one run only: {:?}", s.backlog);
    g.shutdown().await;
}
