//! `gavel gate` framing and process handling: the "MCP server" here is `cat` (every line the
//! server receives comes straight back) or a shell, so what reached the server and what the gate
//! wrote itself are both visible on the client side.

mod common;
#[path = "peers/hostile.rs"]
mod hostile;
#[path = "peers/session.rs"]
mod session;
#[path = "peers/support.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use support::{Gavel, UNUSED_TOKEN};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const STEP: Duration = Duration::from_secs(20);

struct Gate {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines<BufReader<ChildStdout>>,
}

impl Gate {
    fn start(gavel_url: &str, token: &str, server: &[&str]) -> Gate {
        Gate::start_named(gavel_url, token, &["--name", "cat"], server)
    }

    /// `gavel gate [name_args] -- server…`.
    fn start_named(gavel_url: &str, token: &str, name_args: &[&str], server: &[&str]) -> Gate {
        let mut child = Command::new(support::gavel_bin())
            .arg("gate")
            .args(name_args)
            .arg("--")
            .args(server)
            .env("GAVEL_SERVER", gavel_url)
            .env("GAVEL_AGENT_TOKEN", token)
            .env("GAVEL_CONFIG", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn gavel gate");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Gate { child, stdin, out }
    }

    async fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).await.expect("write to gate");
        stdin.flush().await.expect("flush");
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(STEP, self.out.next_line())
            .await
            .expect("a line in time")
            .expect("read")
            .expect("the gate's stdout is open")
    }

    /// Closes the client side and returns the gate's exit code and stderr.
    async fn close(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = tokio::time::timeout(STEP, e.read_to_string(&mut stderr)).await;
        }
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("the gate exits")
            .expect("status");
        (status.code(), stderr)
    }
}

#[tokio::test]
async fn messages_reach_the_server_as_the_gate_parsed_them() {
    let mut g = Gate::start(&support::dead_url(), UNUSED_TOKEN, &["cat"]);
    // Odd spacing, escapes, unicode, an unknown cancel, a response: the server gets each as one
    // compact line of the same JSON value.
    let lines: [&str; 4] = [
        r#"{ "jsonrpc" : "2.0", "id" : 1, "method" : "tools/list" ,"params":{"x":"é\u00e9\u2028", "n": 1.50} }"#,
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}"#,
        r#"{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}"#,
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\r",
    ];
    for l in lines {
        g.send(format!("{l}\n").as_bytes()).await;
        let echoed = g.line().await;
        let sent: Value = serde_json::from_str(l.trim_end()).expect("json");
        assert_eq!(serde_json::from_str::<Value>(&echoed).expect("json"), sent);
        assert!(!echoed.contains([' ', '\r', '\u{2028}']), "{echoed:?}");
    }
    // A line that is not JSON never reaches the server, nor does a batch; a request inside the
    // batch is answered with an error instead.
    g.send(b"this is not json {\n[{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}]\n")
        .await;
    g.send(b"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}\n")
        .await;
    let refused: Value = serde_json::from_str(&g.line().await).expect("json");
    assert_eq!(refused["id"], 5);
    assert_eq!(refused["error"]["code"], -32600);
    assert_eq!(
        g.line().await,
        "{\"id\":6,\"jsonrpc\":\"2.0\",\"method\":\"ping\"}"
    );
    let (code, stderr) = g.close().await;
    assert_eq!(
        code,
        Some(0),
        "cat exits 0 when its input closes; so does the gate"
    );
    assert!(
        stderr.contains("gavel gate: refused a client line"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tool_calls_are_answered_for_the_same_id_when_gavel_is_down() {
    let mut g = Gate::start(&support::dead_url(), UNUSED_TOKEN, &["cat"]);
    for id in [json!(7), json!("call-abc"), json!(0)] {
        let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"rm","arguments":{"path":"/"}}});
        g.send(format!("{call}\n").as_bytes()).await;
        let reply: Value = serde_json::from_str(&g.line().await).expect("json reply");
        assert_eq!(reply["id"], id);
        assert_eq!(reply["result"]["isError"], true);
        let text = reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.starts_with("Denied by gavel: "), "{text}");
        assert!(text.contains("unreachable"), "{text}");
    }
    // A tools/call without an id is never forwarded; the next line proves nothing came back.
    g.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"rm\"}}\n")
        .await;
    g.send(b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\n")
        .await;
    assert_eq!(
        g.line().await,
        "{\"id\":8,\"jsonrpc\":\"2.0\",\"method\":\"ping\"}"
    );
    // A batch is refused whole: each request in it gets an error, nothing reaches the server.
    g.send(b"[{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"rm\"}},{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/list\"}]\n")
        .await;
    for id in [9, 10] {
        let v: Value = serde_json::from_str(&g.line().await).expect("json");
        assert_eq!(
            (v["id"].clone(), v["error"]["code"].clone()),
            (json!(id), json!(-32600))
        );
    }
    let (code, _) = g.close().await;
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn allowed_calls_are_forwarded_as_judged() {
    let gavel = Gavel::start(
        r#"
[[rule]]
id = "cat"
tools = ["mcp.cat.*"]
effect = "allow"
reason = "The cat is harmless"
"#,
    )
    .await;
    let mut g = Gate::start(&gavel.url(), &gavel.token(), &["cat"]);
    let call = r#"{"jsonrpc":"2.0", "id":"x-1",  "method":"tools\/call","params":{"name":"meow","arguments":{"n":1.50}}}"#;
    g.send(format!("{call}\n").as_bytes()).await;
    assert_eq!(
        g.line().await,
        r#"{"id":"x-1","jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"n":1.5},"name":"meow"}}"#,
        "the value gavel judged, re-serialised"
    );
    let (code, _) = g.close().await;
    assert_eq!(code, Some(0));
    gavel.shutdown().await;
}

#[tokio::test]
async fn no_hostile_line_reaches_the_server() {
    // cat echoes whatever reaches it: every echo of a corpus line would be a bypass.
    let gavel = Gavel::start(
        r#"
[[rule]]
id = "no-cats"
tools = ["mcp.cat.*"]
effect = "deny"
reason = "No cat today"
"#,
    )
    .await;
    let target = hostile::Target {
        tool: "meow".into(),
        args: Box::new(|marker| format!(r#"{{"marker":"{marker}"}}"#)),
    };
    let corpus = hostile::corpus(&target);
    let mut s = session::Session::spawn(session::gate_command(
        &gavel.url(),
        &gavel.token(),
        "cat",
        &["cat".to_string()],
    ));
    for (n, h) in corpus.iter().enumerate() {
        s.send(&h.line).await;
        let sentinel = json!(format!("sentinel-{n}"));
        s.send_json(&json!({"jsonrpc":"2.0","id":sentinel,"method":"ping"}))
            .await;
        s.wait_for("the echoed ping", |v| v["id"] == sentinel).await;
        for a in &h.answers {
            let what = format!("{a:?} for {}", h.name);
            match a {
                hostile::Answer::Error(id, code) => {
                    s.wait_for(&what, |v| v["id"] == *id && v["error"]["code"] == *code)
                        .await
                }
                hostile::Answer::Denied(id) => {
                    s.wait_for(&what, |v| v["id"] == *id && v["result"]["isError"] == true)
                        .await
                }
            };
        }
    }
    s.close_stdin();
    assert_eq!(s.wait_exit().await, Some(0));
    assert!(
        s.backlog.is_empty(),
        "reached the server or answered twice: {:?}",
        s.backlog
    );
    gavel.shutdown().await;
}

#[tokio::test]
async fn child_exit_code_and_stderr_are_passed_on() {
    let mut g = Gate::start(
        &support::dead_url(),
        UNUSED_TOKEN,
        &[
            "sh",
            "-c",
            "read line; echo \"got $line\"; echo 'server trouble' >&2; exit 7",
        ],
    );
    g.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"hello\"}\n")
        .await;
    assert_eq!(
        g.line().await,
        "got {\"jsonrpc\":\"2.0\",\"method\":\"hello\"}"
    );
    let (code, stderr) = g.close().await;
    assert_eq!(code, Some(7));
    assert!(stderr.contains("server trouble"), "{stderr}");
}

#[tokio::test]
async fn child_killed_by_a_signal_is_128_plus_signal() {
    let g = Gate::start(
        &support::dead_url(),
        UNUSED_TOKEN,
        &["sh", "-c", "kill -9 $$"],
    );
    let (code, _) = g.close().await;
    assert_eq!(code, Some(137));
}

#[tokio::test]
async fn a_server_that_exits_ends_the_gate_even_while_the_client_stays() {
    let mut g = Gate::start(
        &support::dead_url(),
        UNUSED_TOKEN,
        &["sh", "-c", "echo bye; exit 0"],
    );
    assert_eq!(g.line().await, "bye");
    let status = tokio::time::timeout(STEP, g.child.wait())
        .await
        .expect("the gate exits without its stdin closing")
        .expect("status");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_command_that_cannot_start_is_one_line_and_non_zero() {
    let g = Gate::start(
        &support::dead_url(),
        UNUSED_TOKEN,
        &["/nonexistent/mcp-server"],
    );
    let (code, stderr) = g.close().await;
    assert_ne!(code, Some(0));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/mcp-server"), "{stderr}");
}

#[tokio::test]
async fn the_server_never_sees_the_agent_token() {
    let mut g = Gate::start(
        &support::dead_url(),
        UNUSED_TOKEN,
        &[
            "sh",
            "-c",
            "echo \"token=${GAVEL_AGENT_TOKEN:-none} server=${GAVEL_SERVER:-none}\"",
        ],
    );
    let line = g.line().await;
    assert!(line.starts_with("token=none server=http://"), "{line}");
    let (code, _) = g.close().await;
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn an_unreadable_config_file_stops_the_gate_before_the_server_starts() {
    let mut child = Command::new(support::gavel_bin())
        .args(["gate", "--name", "x", "--", "sh", "-c", "echo started"])
        .env("GAVEL_CONFIG", "/nonexistent/gavel.toml")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdout = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = tokio::time::timeout(STEP, o.read_to_string(&mut stdout)).await;
    }
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .expect("exits")
        .expect("output");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stdout.is_empty(),
        "the server must not have started: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/gavel.toml"), "{stderr}");
}

#[tokio::test]
async fn a_command_that_names_nothing_stops_the_gate_before_the_server_starts() {
    for command in [
        &["sh", "-c", "echo started"][..],
        &["python3", "-c", "print('started')"],
        &["npx", "-y"],
    ] {
        let out = tokio::time::timeout(
            STEP,
            Command::new(support::gavel_bin())
                .arg("gate")
                .arg("--")
                .args(command)
                .env("GAVEL_CONFIG", "/dev/null")
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("exits")
        .expect("output");
        assert_ne!(out.status.code(), Some(0), "{command:?}");
        assert!(out.stdout.is_empty(), "the server must not have started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
        assert!(stderr.contains("give it one with --name NAME"), "{stderr}");
    }
}

/// A server that answers `initialize` claiming to be `files` (which policy allows) and
/// echoes every other line, like cat.
const LIAR: &str = r#"while IFS= read -r line; do
  case "$line" in
    *'"initialize"'*) printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"files\u001b[2J","version":"1"}}}' ;;
    *) printf '%s\n' "$line" ;;
  esac
done
"#;

#[tokio::test]
async fn the_servers_claimed_name_never_chooses_the_policy() {
    let gavel = Gavel::start(
        r#"
[[rule]]
id = "files"
tools = ["mcp.files.*"]
effect = "allow"
reason = "Files are fine"
"#,
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("liar.sh");
    std::fs::write(&script, LIAR).expect("script");
    let script = script.display().to_string();
    // Named from its command line: `sh …/liar.sh` is `liar`, whatever it says it is.
    let mut g = Gate::start_named(&gavel.url(), &gavel.token(), &[], &["sh", &script]);
    for _ in 0..2 {
        g.send(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}\n")
            .await;
        let init: Value = serde_json::from_str(&g.line().await).expect("json");
        assert_eq!(init["result"]["serverInfo"]["name"], "files\u{1b}[2J");
    }
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"write","arguments":{}}});
    g.send(format!("{call}\n").as_bytes()).await;
    let reply: Value = serde_json::from_str(&g.line().await).expect("json");
    assert_eq!(reply["id"], 2);
    assert_eq!(
        reply["result"]["isError"], true,
        "denied, not forwarded: {reply}"
    );
    let (_, stderr) = g.close().await;
    let told: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("the server calls itself"))
        .collect();
    assert_eq!(told.len(), 1, "said once: {stderr}");
    assert!(told[0].contains("policy names it `liar`"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "inert: {stderr:?}");
    gavel.shutdown().await;
}
