//! `gavel gate` against real peers nobody on the team wrote: the official Python MCP client
//! (`mcp` on PyPI, `ClientSession` over `stdio_client`) launches `gavel gate -- <server>`, where
//! the server is the MCP reference `server-everything` / `server-filesystem` (npm), or a server
//! built on the official Python SDK for the 2026-07-28 revision. The gavel server runs in-process.
//! Peers come from `.ci/install-peers`; without them these tests fail and say so.

mod common;
#[path = "peers/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use gavel::protocol::Vote;
use serde_json::{json, Value};
use support::{Gavel, DEVELOPER, UNUSED_TOKEN};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const STEP: Duration = Duration::from_secs(30);

/// The Python driver (tests/peers/mcp_driver.py): JSON commands in, JSON events out.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    events: Lines<BufReader<ChildStdout>>,
    /// Events read while waiting for another one.
    backlog: Vec<Value>,
}

impl Driver {
    /// Starts the driver, which starts `gavel gate [gate_args] -- server…`, and waits until the
    /// MCP session is up.
    async fn start(
        gavel_url: &str,
        token: &str,
        gate_args: &[&str],
        server: &[String],
        modern: bool,
        extra_env: &[(&str, &Path)],
    ) -> (Driver, Value) {
        let python = support::peer("venv/bin/python");
        let mut cmd = Command::new(python);
        cmd.arg(support::root().join("tests/peers/mcp_driver.py"));
        if modern {
            cmd.arg("--modern");
        }
        cmd.arg("--").arg(support::gavel_bin()).arg("gate");
        cmd.args(gate_args).arg("--").args(server);
        cmd.env("GAVEL_SERVER", gavel_url)
            .env("GAVEL_AGENT_TOKEN", token)
            .env("GAVEL_ON_BEHALF_OF", DEVELOPER)
            .env("GAVEL_CONFIG", "/dev/null");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the python driver");
        let stdin = child.stdin.take().expect("stdin");
        let events = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut d = Driver {
            child,
            stdin,
            events,
            backlog: Vec::new(),
        };
        let ready = d.wait(|e| e["op"] == "ready").await;
        (d, ready)
    }

    async fn send(&mut self, cmd: Value) {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the driver");
    }

    /// The next event matching `want` (bounded by STEP), keeping the others for later.
    async fn wait(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&want) {
            return self.backlog.remove(i);
        }
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let line = tokio::time::timeout_at(deadline, self.events.next_line())
                .await
                .expect("the driver answered in time")
                .expect("driver stdout")
                .expect("the driver is still running");
            let event: Value = serde_json::from_str(&line).expect("driver events are JSON");
            if want(&event) {
                return event;
            }
            self.backlog.push(event);
        }
    }

    async fn call(&mut self, tag: &str, tool: &str, args: Value) {
        self.send(json!({"op": "call", "tag": tag, "tool": tool, "args": args}))
            .await;
    }

    async fn result(&mut self, tag: &str) -> Value {
        let tag = tag.to_string();
        self.wait(move |e| e["tag"] == tag.as_str()).await
    }

    async fn call_and_wait(&mut self, tag: &str, tool: &str, args: Value) -> Value {
        self.call(tag, tool, args).await;
        self.result(tag).await
    }

    async fn quit(mut self) {
        self.send(json!({"op": "quit"})).await;
        let _ = self.wait(|e| e["op"] == "quit").await;
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("the driver exits")
            .expect("driver status");
        assert!(status.success(), "driver exit status {status}");
    }
}

/// server-everything calls itself `mcp-servers/everything` in `serverInfo`, but that claim is
/// never used: the gate names it from its command line, `node …/server-everything/dist/index.js`
/// (a generic `index.js` under `dist/` is named by its package directory).
const EVERYTHING_POLICY: &str = r#"
[[rule]]
id = "echo"
tools = ["mcp.server-everything.echo", "mcp.server-everything.trigger-sampling-request"]
effect = "allow"
reason = "Harmless"

[[rule]]
id = "no-env"
tools = ["mcp.server-everything.get-env"]
effect = "deny"
reason = "Environment dumps leak secrets"

[[rule]]
id = "sums"
tools = ["mcp.server-everything.get-sum"]
effect = "review"
reason = "Sums are checked by ops"
approvers = "ops"
timeout = "1m"

[[rule]]
id = "annotations"
tools = ["mcp.server-everything.get-annotated-message"]
effect = "review"
reason = "Annotated messages are checked by ops, quickly"
approvers = "ops"
timeout = "2s"
"#;

#[tokio::test]
async fn everything_lists_allows_denies_and_passes_sampling() {
    let g = Gavel::start(EVERYTHING_POLICY).await;
    let (mut d, ready) = Driver::start(
        &g.url(),
        &g.token(),
        &[],
        &support::everything(),
        false,
        &[],
    )
    .await;
    assert_eq!(ready["server"], "mcp-servers/everything");

    d.send(json!({"op": "list"})).await;
    let list = d.wait(|e| e["op"] == "list").await;
    let tools: Vec<&str> = list["tools"]
        .as_array()
        .expect("tool names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for t in ["echo", "get-sum", "get-env"] {
        assert!(tools.contains(&t), "{t} in {tools:?}");
    }

    let echo = d
        .call_and_wait("echo", "echo", json!({"message": "hello gate"}))
        .await;
    assert_eq!(echo["isError"], false, "{echo}");
    assert_eq!(echo["text"], "Echo: hello gate", "the server's real result");

    let env = d.call_and_wait("env", "get-env", json!({})).await;
    assert_eq!(env["isError"], true, "{env}");
    let text = env["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("Denied by gavel: "), "{text}");
    assert!(text.contains("Environment dumps leak secrets"), "{text}");

    // The server asks the client for a sampling reply mid-call: a server→client request with
    // its own id space, answered by the client, through the gate both ways.
    let sampled = d
        .call_and_wait(
            "sample",
            "trigger-sampling-request",
            json!({"prompt": "say hi", "maxTokens": 20}),
        )
        .await;
    assert_eq!(sampled["isError"], false, "{sampled}");
    assert!(
        sampled["text"]
            .as_str()
            .unwrap_or_default()
            .contains("sampled by the test client"),
        "{sampled}"
    );
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn everything_review_is_held_while_other_calls_flow_then_approved() {
    let g = Gavel::start(EVERYTHING_POLICY).await;
    let (mut d, _) = Driver::start(
        &g.url(),
        &g.token(),
        &[],
        &support::everything(),
        false,
        &[],
    )
    .await;
    let first = d
        .call_and_wait("e1", "echo", json!({"message": "one"}))
        .await;
    assert_eq!(first["isError"], false);

    d.call("sum", "get-sum", json!({"a": 2, "b": 3})).await;
    let esc = g
        .escalation_for("mcp.server-everything.get-sum", STEP)
        .await;
    // One MCP session is one gavel session: the earlier echo is in the escalation's history.
    assert!(
        esc.action.session.starts_with("mcp-"),
        "{}",
        esc.action.session
    );
    assert!(
        esc.history
            .iter()
            .any(|h| h.tool == "mcp.server-everything.echo"),
        "history: {:?}",
        esc.history
    );
    assert_eq!(esc.action.args, json!({"a": 2, "b": 3}));
    assert_eq!(esc.action.on_behalf_of.as_deref(), Some(DEVELOPER));
    assert_eq!(esc.action.context["mcp_server"], "server-everything");

    // While the sum is held, other traffic flows: a ping and an allowed call complete.
    d.send(json!({"op": "ping"})).await;
    d.wait(|e| e["op"] == "ping").await;
    let during = d
        .call_and_wait("e2", "echo", json!({"message": "meanwhile"}))
        .await;
    assert_eq!(during["text"], "Echo: meanwhile");

    g.decide(&esc, Vote::Approve, "sums are fine").await;
    let sum = d.result("sum").await;
    assert_eq!(sum["isError"], false, "{sum}");
    assert!(
        sum["text"].as_str().unwrap_or_default().contains('5'),
        "the server's real sum: {sum}"
    );
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn everything_review_that_expires_is_an_error_result() {
    let g = Gavel::start(EVERYTHING_POLICY).await;
    let (mut d, _) = Driver::start(
        &g.url(),
        &g.token(),
        &[],
        &support::everything(),
        false,
        &[],
    )
    .await;
    let r = d
        .call_and_wait(
            "ann",
            "get-annotated-message",
            json!({"messageType": "success", "includeImage": false}),
        )
        .await;
    assert_eq!(r["isError"], true, "{r}");
    let text = r["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("Denied by gavel: "), "{text}");
    assert!(text.contains("deadline"), "{text}");
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn gavel_unreachable_denies_calls_but_everything_else_passes() {
    let (mut d, ready) = Driver::start(
        &support::dead_url(),
        UNUSED_TOKEN,
        &[],
        &support::everything(),
        false,
        &[],
    )
    .await;
    assert_eq!(ready["server"], "mcp-servers/everything");
    d.send(json!({"op": "list"})).await;
    let list = d.wait(|e| e["op"] == "list").await;
    assert!(!list["tools"].as_array().expect("tools").is_empty());
    d.send(json!({"op": "ping"})).await;
    d.wait(|e| e["op"] == "ping").await;
    let r = d
        .call_and_wait("echo", "echo", json!({"message": "x"}))
        .await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["text"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "{r}"
    );
    d.quit().await;
}

fn filesystem(root: &Path) -> Vec<String> {
    vec![
        "node".to_string(),
        support::peer("npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
            .display()
            .to_string(),
        root.display().to_string(),
    ]
}

const FS_POLICY: &str = r#"
[[rule]]
id = "fs-reads"
tools = ["mcp.fs.list_directory", "mcp.fs.read_text_file"]
effect = "allow"
reason = "Reading is fine"

[[rule]]
id = "fs-writes"
tools = ["mcp.fs.write_file"]
effect = "review"
reason = "Writes are checked by ops"
approvers = "ops"
timeout = "1m"
"#;

/// Waits until `path` exists (bounded) — or, with `expect == false`, checks it does not appear
/// within the bound.
async fn file_appears(path: &Path, within: Duration) -> bool {
    let until = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < until {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    path.exists()
}

#[tokio::test]
async fn filesystem_cancelled_held_call_never_reaches_the_server() {
    let g = Gavel::start(FS_POLICY).await;
    let work = tempfile::tempdir().expect("tmp");
    let root: PathBuf = work.path().canonicalize().expect("canonical root");
    let (mut d, _) = Driver::start(
        &g.url(),
        &g.token(),
        &["--name", "fs"],
        &filesystem(&root),
        false,
        &[],
    )
    .await;
    let cancelled_file = root.join("cancelled.txt");
    let approved_file = root.join("approved.txt");

    // Held, then cancelled by the client while held.
    d.call(
        "w1",
        "write_file",
        json!({"path": cancelled_file.display().to_string(), "content": "must never be written"}),
    )
    .await;
    let esc = g.escalation_for("mcp.fs.write_file", STEP).await;
    d.send(json!({"op": "cancel", "tag": "w1"})).await;
    let ev = d.result("w1").await;
    assert_eq!(ev["event"], "cancelled", "{ev}");

    // The gate keeps the review open for a retry a little while (tests/gate_retry_once.rs);
    // an approval that lands then runs nothing: nobody waits for the cancelled call.
    d.send(json!({"op": "ping"})).await;
    d.wait(|e| e["op"] == "ping").await;
    g.decide(&esc, Vote::Approve, "nobody waits for it").await;

    // A second write, approved, does reach the server: the control showing approval forwards.
    d.call(
        "w2",
        "write_file",
        json!({"path": approved_file.display().to_string(), "content": "written"}),
    )
    .await;
    let esc2 = g.escalation_for("mcp.fs.write_file", STEP).await;
    assert_ne!(esc2.id, esc.id);
    g.decide(&esc2, Vote::Approve, "fine").await;
    let w2 = d.result("w2").await;
    assert_eq!(w2["isError"], false, "{w2}");
    assert!(file_appears(&approved_file, STEP).await);

    // Observed at the server: its own listing of the directory has only the approved file,
    // and the cancelled file does not appear on disk either.
    let listing = d
        .call_and_wait(
            "ls",
            "list_directory",
            json!({"path": root.display().to_string()}),
        )
        .await;
    let text = listing["text"].as_str().unwrap_or_default();
    assert!(text.contains("approved.txt"), "{text}");
    assert!(!text.contains("cancelled.txt"), "{text}");
    assert!(!file_appears(&cancelled_file, Duration::from_secs(2)).await);
    assert!(!d
        .backlog
        .iter()
        .any(|e| e["tag"] == "w1" && e["event"] == "result"));
    d.quit().await;
    g.shutdown().await;
}

fn notes_server() -> Vec<String> {
    vec![
        support::peer("venv/bin/python").display().to_string(),
        support::root()
            .join("tests/peers/notes_server.py")
            .display()
            .to_string(),
    ]
}

const NOTES_POLICY: &str = r#"
[[rule]]
id = "notes-read"
tools = ["mcp.notes.shout"]
effect = "allow"
reason = "Harmless"

[[rule]]
id = "notes-forget"
tools = ["mcp.notes.forget"]
effect = "deny"
reason = "Notes are kept"

[[rule]]
id = "notes-write"
tools = ["mcp.notes.append_note"]
effect = "review"
reason = "Notes are checked by ops"
approvers = "ops"
timeout = "1m"
"#;

#[tokio::test]
async fn revision_2026_07_28_without_initialize() {
    let g = Gavel::start(NOTES_POLICY).await;
    let work = tempfile::tempdir().expect("tmp");
    let notes = work.path().join("notes.txt");
    std::fs::write(&notes, "").expect("notes file");
    let (mut d, ready) = Driver::start(
        &g.url(),
        &g.token(),
        &["--name", "notes"],
        &notes_server(),
        true,
        &[("NOTES_FILE", notes.as_path())],
    )
    .await;
    assert_eq!(ready["protocol"], "2026-07-28", "{ready}");
    // `--name notes`: policy says mcp.notes.* (the command alone would name it notes_server).
    let r = d.call_and_wait("s", "shout", json!({"text": "hi"})).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["text"], "HI");

    let r = d.call_and_wait("f", "forget", json!({})).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Notes are kept"),
        "{r}"
    );
    assert!(notes.exists(), "the denied call never ran");

    // Held, cancelled, never written.
    d.call("n1", "append_note", json!({"text": "cancelled note"}))
        .await;
    let esc = g.escalation_for("mcp.notes.append_note", STEP).await;
    assert_eq!(esc.action.context["protocol_version"], "2026-07-28");
    d.send(json!({"op": "cancel", "tag": "n1"})).await;
    assert_eq!(d.result("n1").await["event"], "cancelled");
    // An approval while the gate keeps the review open for a retry runs nothing: nobody
    // waits for the cancelled call (the notes file below holds only the approved note).
    let after = d
        .call_and_wait("s2", "shout", json!({"text": "after"}))
        .await;
    assert_eq!(after["text"], "AFTER", "{after}");
    g.decide(&esc, Vote::Approve, "nobody waits for it").await;

    // Held, approved, written.
    d.call("n2", "append_note", json!({"text": "approved note"}))
        .await;
    let esc2 = g.escalation_for("mcp.notes.append_note", STEP).await;
    g.decide(&esc2, Vote::Approve, "ok").await;
    let r = d.result("n2").await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["text"], "noted");
    let written = std::fs::read_to_string(&notes).expect("notes");
    assert_eq!(written, "approved note\n");
    d.quit().await;
    g.shutdown().await;
}

#[tokio::test]
async fn held_calls_are_independent_and_a_persons_denial_is_the_reason() {
    let g = Gavel::start(EVERYTHING_POLICY).await;
    let (mut d, _) = Driver::start(
        &g.url(),
        &g.token(),
        &[],
        &support::everything(),
        false,
        &[],
    )
    .await;
    d.call("first", "get-sum", json!({"a": 1, "b": 1})).await;
    let esc1 = g
        .escalation_for("mcp.server-everything.get-sum", STEP)
        .await;
    d.call("second", "get-sum", json!({"a": 20, "b": 22})).await;
    let esc2 = {
        let until = tokio::time::Instant::now() + STEP;
        loop {
            let pending = g
                .env
                .client
                .escalations(g.approver())
                .await
                .expect("escalations");
            if let Some(e) = pending.into_iter().find(|e| e.id != esc1.id) {
                break e;
            }
            assert!(tokio::time::Instant::now() < until, "second escalation");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(esc2.action.args, json!({"a": 20, "b": 22}));

    // The later call is decided first and answers first; the earlier one is still held.
    g.decide(&esc2, Vote::Approve, "fine").await;
    let second = d.result("second").await;
    assert!(
        second["text"].as_str().unwrap_or_default().contains("42"),
        "{second}"
    );
    assert!(!d.backlog.iter().any(|e| e["tag"] == "first"));

    g.decide(&esc1, Vote::Deny, "one plus one is not ops' business")
        .await;
    let first = d.result("first").await;
    assert_eq!(first["isError"], true, "{first}");
    let text = first["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("Denied by gavel: "), "{text}");
    assert!(text.contains("one plus one is not ops' business"), "{text}");
    d.quit().await;
    g.shutdown().await;
}
