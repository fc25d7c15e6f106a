//! `gavel gate` against hostile client lines, with real MCP servers behind it: the official
//! Python SDK (tests/peers/notes_server.py) and @modelcontextprotocol/server-filesystem. Every
//! line of the corpus (tests/peers/hostile.rs) smuggles a call of a tool the policy denies, whose
//! side effect the test can see. Through the gate, no such call ever runs, each recoverable
//! request id gets an error, and normal traffic still works afterwards. Straight to the bare
//! servers, the lines the corpus marks do run the call: the corpus is live.

mod common;
#[path = "peers/hostile.rs"]
mod hostile;
#[path = "peers/session.rs"]
mod session;
#[path = "peers/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hostile::{Answer, Hostile, Peer, Target};
use serde_json::{json, Value};
use session::{gate_command, Session, STEP};
use support::Gavel;
use tokio::process::Command;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"hostile-client","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

async fn handshake(s: &mut Session) {
    s.send(format!("{INITIALIZE}\n").as_bytes()).await;
    let init = s.answer(&json!("init")).await;
    assert!(init.get("result").is_some(), "{init}");
    s.send(format!("{INITIALIZED}\n").as_bytes()).await;
}

/// Sends every entry, each followed by a ping, and checks the gate's answers to it.
async fn run_corpus(s: &mut Session, corpus: &[Hostile]) {
    for (n, h) in corpus.iter().enumerate() {
        s.send(&h.line).await;
        let sentinel = json!(format!("sentinel-{n}"));
        s.send_json(&json!({"jsonrpc":"2.0","id":sentinel,"method":"ping"}))
            .await;
        s.wait_for(&format!("the ping after {}", h.name), |v| {
            v["id"] == sentinel
        })
        .await;
        for a in &h.answers {
            let what = format!("{a:?} for {}", h.name);
            let got = match a {
                Answer::Error(id, code) => {
                    s.wait_for(&what, |v| v["id"] == *id && v["error"]["code"] == *code)
                        .await
                }
                Answer::Denied(id) => {
                    s.wait_for(&what, |v| v["id"] == *id && v["result"]["isError"] == true)
                        .await
                }
            };
            assert_eq!(got["jsonrpc"], "2.0", "{}: {got}", h.name);
            if let Answer::Denied(_) = a {
                let text = got["result"]["content"][0]["text"].as_str().unwrap_or("");
                assert!(text.starts_with("Denied by gavel: "), "{}: {text}", h.name);
            }
        }
    }
}

/// After the corpus: an allowed call works, the client leaves, and nothing answered a corpus
/// line but the gate (the server answered no smuggled call; it may speak for itself).
async fn finish(mut s: Session, allowed: Value, check: impl Fn(&Value)) {
    s.send_json(&allowed).await;
    let r = s.answer(&allowed["id"]).await;
    assert!(
        r.get("result").is_some() && r["result"]["isError"] != true,
        "{r}"
    );
    check(&r);
    s.close_stdin();
    s.wait_exit().await;
    let stray: Vec<&Value> = s
        .backlog
        .iter()
        .filter(|v| v.get("method").is_none())
        .collect();
    assert!(stray.is_empty(), "answers nobody expected: {stray:?}");
    assert_logs_are_inert(&s.stderr());
}

/// The gate's log shows hostile bytes escaped: no control, C1 or line-separator characters.
fn assert_logs_are_inert(stderr: &str) {
    let gate_lines: Vec<&str> = stderr
        .split('\n')
        .filter(|l| l.starts_with("gavel gate: refused"))
        .collect();
    assert!(gate_lines.len() > 40, "{stderr}");
    for l in gate_lines {
        assert!(
            !l.chars()
                .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')),
            "{l:?}"
        );
        assert!(l.chars().count() < 600, "bounded: {l}");
    }
}

fn python_notes() -> Vec<String> {
    vec![
        support::peer("venv/bin/python").display().to_string(),
        support::root()
            .join("tests/peers/notes_server.py")
            .display()
            .to_string(),
    ]
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

fn notes_target() -> Target {
    Target {
        tool: "append_note".into(),
        args: Box::new(|marker| format!(r#"{{"text":"{marker}"}}"#)),
    }
}

fn fs_target(root: &Path) -> Target {
    let root = root.display().to_string();
    assert!(!root.contains(['"', '\\']), "a plain temp path: {root}");
    Target {
        tool: "write_file".into(),
        args: Box::new(move |marker| format!(r#"{{"path":"{root}/{marker}","content":"x"}}"#)),
    }
}

const NOTES_POLICY: &str = r#"
[[rule]]
id = "notes-shout"
tools = ["mcp.notes.shout"]
effect = "allow"
reason = "Harmless"

[[rule]]
id = "notes-kept"
tools = ["mcp.notes.append_note", "mcp.notes.forget"]
effect = "deny"
reason = "Notes are read-only here"
"#;

const FS_POLICY: &str = r#"
[[rule]]
id = "fs-reads"
tools = ["mcp.fs.list_directory"]
effect = "allow"
reason = "Reading is fine"

[[rule]]
id = "fs-writes"
tools = ["mcp.fs.write_file"]
effect = "deny"
reason = "Nothing is written here"
"#;

fn notes_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "").expect("notes file");
    (dir, notes)
}

fn fs_root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().canonicalize().expect("canonical root");
    (dir, root)
}

fn files_in(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .expect("read root")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn python_sdk_server_never_runs_a_smuggled_call() {
    let g = Gavel::start(NOTES_POLICY).await;
    let (_dir, notes) = notes_file();
    let mut cmd = gate_command(&g.url(), &g.token(), "notes", &python_notes());
    cmd.env("NOTES_FILE", &notes);
    let mut s = Session::spawn(cmd);
    handshake(&mut s).await;
    let corpus = hostile::corpus(&notes_target());
    run_corpus(&mut s, &corpus).await;
    let allowed = json!({"jsonrpc":"2.0","id":"allowed","method":"tools/call","params":{"name":"shout","arguments":{"text":"still here"}}});
    finish(s, allowed, |r| {
        assert_eq!(r["result"]["content"][0]["text"], "STILL HERE", "{r}");
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&notes).expect("the notes file is still there"),
        "",
        "no smuggled append_note ran"
    );
    g.shutdown().await;
}

#[tokio::test]
async fn typescript_sdk_server_never_runs_a_smuggled_call() {
    let g = Gavel::start(FS_POLICY).await;
    let (_dir, root) = fs_root();
    let mut s = Session::spawn(gate_command(&g.url(), &g.token(), "fs", &filesystem(&root)));
    handshake(&mut s).await;
    let corpus = hostile::corpus(&fs_target(&root));
    run_corpus(&mut s, &corpus).await;
    let allowed = json!({"jsonrpc":"2.0","id":"allowed","method":"tools/call","params":{"name":"list_directory","arguments":{"path":root.display().to_string()}}});
    finish(s, allowed, |_| {}).await;
    assert_eq!(
        files_in(&root),
        Vec::<String>::new(),
        "no smuggled write_file ran"
    );
    g.shutdown().await;
}

/// Sends the entries marked for `peer` straight to the bare server and waits (bounded) until
/// each one's side effect shows.
async fn bare_server_runs(
    peer: Peer,
    mut cmd: Command,
    corpus: &[Hostile],
    ran: impl Fn() -> Vec<String>,
) {
    let marked: Vec<&Hostile> = corpus
        .iter()
        .filter(|h| h.runs_on.contains(&peer))
        .collect();
    assert!(marked.len() > 20, "{peer:?}: {}", marked.len());
    cmd.kill_on_drop(true);
    let mut s = Session::spawn(cmd);
    handshake(&mut s).await;
    for h in &marked {
        s.send(&h.line).await;
    }
    let until = tokio::time::Instant::now() + STEP;
    loop {
        let seen = ran();
        let missing: Vec<&str> = marked
            .iter()
            .map(|h| h.name.as_str())
            .filter(|n| !seen.iter().any(|s| s == n))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{peer:?} did not run {missing:?}; ran {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_corpus_runs_on_the_bare_servers() {
    // Python SDK: each run appends its marker as a line of the notes file.
    let (_dir, notes) = notes_file();
    let py = python_notes();
    let mut cmd = Command::new(&py[0]);
    cmd.args(&py[1..]).env("NOTES_FILE", &notes);
    let corpus = hostile::corpus(&notes_target());
    bare_server_runs(Peer::Python, cmd, &corpus, || {
        std::fs::read_to_string(&notes)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    })
    .await;

    // TypeScript SDK: each run writes a file named by its marker.
    let (_dir, root) = fs_root();
    let fs = filesystem(&root);
    let mut cmd = Command::new(&fs[0]);
    cmd.args(&fs[1..]);
    let corpus = hostile::corpus(&fs_target(&root));
    bare_server_runs(Peer::TypeScript, cmd, &corpus, || files_in(&root)).await;
}
