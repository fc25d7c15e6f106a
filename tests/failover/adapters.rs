//! The Claude Code hook and the MCP gate with several servers: a dead or unready first server
//! is passed over and the live one's ruling stands, allow or deny; with none answering, deny.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::common::Env;
use crate::empty_config;
use crate::fakes::{dead_url, Answer, Fake};

const POLICY: &str = r#"
[[rule]]
id = "edits"
tools = ["Edit", "mcp.cat.meow"]
effect = "allow"
reason = "Edits in the working tree are fine"

[[rule]]
id = "no-bash"
tools = ["Bash", "mcp.cat.rm"]
effect = "deny"
reason = "No shell today"
"#;

const AGENT: &str = "mailer";
const STEP: Duration = Duration::from_secs(20);

fn hook_input(tool: &str, input: Value) -> Vec<u8> {
    json!({
        "session_id": "6b1f4a2e-failover",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": "/tmp",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": "toolu_failover"
    })
    .to_string()
    .into_bytes()
}

/// Runs the hook with `flags` and `GAVEL_SERVER` = `env_server`; its decision and reason.
async fn hook(env: &Env, flags: &[&str], env_server: &str, input: &[u8]) -> (String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["hook", "claude-code", "--timeout", "20"])
        .args(flags)
        .env("GAVEL_SERVER", env_server)
        .env("GAVEL_AGENT_TOKEN", env.token(AGENT))
        .env("GAVEL_ON_BEHALF_OF", "bob")
        .env("GAVEL_CONFIG", empty_config(env))
        .env_remove("GAVEL_HOOK_TIMEOUT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the hook");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .expect("the hook answers in time")
        .expect("output");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON answer");
    let hso = &v["hookSpecificOutput"];
    (
        hso["permissionDecision"].as_str().unwrap_or("").to_string(),
        hso["permissionDecisionReason"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

#[tokio::test]
async fn the_hook_rules_as_the_live_server_says_past_a_dead_or_unready_one() {
    let env = Env::start(POLICY).await;
    let edit = hook_input(
        "Edit",
        json!({"file_path": "/tmp/a", "old_string": "a", "new_string": "b"}),
    );
    let bash = hook_input("Bash", json!({"command": "ls"}));
    let (dead, live) = (dead_url(), env.url());
    let list = format!("{dead},{live}");

    let (decision, reason) = hook(&env, &[], &list, &edit).await;
    assert_eq!(decision, "allow", "{reason}");
    let (decision, reason) = hook(&env, &[], &list, &bash).await;
    assert_eq!(decision, "deny", "{reason}");
    assert!(
        reason.contains("no-bash"),
        "the live server's rule: {reason}"
    );

    // Flags win over GAVEL_SERVER (here: all dead), and repeat.
    let (decision, reason) = hook(
        &env,
        &["--server", &dead, "--server", &live],
        &dead_url(),
        &edit,
    )
    .await;
    assert_eq!(decision, "allow", "{reason}");

    let unready = Fake::start(Answer::Status(503, "storage_unavailable")).await;
    let (decision, reason) = hook(&env, &[], &format!("{},{live}", unready.url), &edit).await;
    assert_eq!(decision, "allow", "{reason}");
    assert_eq!(unready.requests(), 1);

    // A server that refuses the call (another roster: the token is unknown there) is the
    // answer: a deny, though the live server behind it would allow.
    let stranger = stranger().await;
    let (decision, reason) = hook(&env, &[], &format!("{},{live}", stranger.url()), &edit).await;
    assert_eq!(decision, "deny", "{reason}");
    assert!(reason.contains("refused the agent token"), "{reason}");

    let (decision, reason) = hook(&env, &[], &format!("{dead},{}", dead_url()), &edit).await;
    assert_eq!(decision, "deny", "{reason}");
    assert!(
        reason.contains("unreachable") && reason.contains("any of its 2 servers"),
        "{reason}"
    );
}

/// A gavel whose roster gives the agent another token than `Env`'s.
async fn stranger() -> Env {
    let mut e = Env::new(POLICY);
    for token in e.tokens.values_mut() {
        token.push_str("-elsewhere");
    }
    std::fs::write(&e.roster, crate::common::roster_toml(&e.keys, &e.tokens)).expect("roster");
    e.boot().await;
    e
}

/// The stdio gate in front of `cat` (every forwarded line comes straight back).
struct Gate {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    out: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Gate {
    fn start(env: &Env, servers: &str) -> Gate {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(["gate", "--name", "cat", "--", "cat"])
            .env("GAVEL_SERVER", servers)
            .env("GAVEL_AGENT_TOKEN", env.token(AGENT))
            .env("GAVEL_ON_BEHALF_OF", "bob")
            .env("GAVEL_CONFIG", empty_config(env))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the gate");
        let stdin = child.stdin.take().expect("stdin");
        let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Gate { child, stdin, out }
    }

    async fn call(&mut self, id: u32, tool: &str) -> Value {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": tool, "arguments": {}}});
        self.stdin
            .write_all(format!("{call}\n").as_bytes())
            .await
            .expect("write");
        let line = tokio::time::timeout(STEP, self.out.next_line())
            .await
            .expect("a line in time")
            .expect("read")
            .expect("open");
        serde_json::from_str(&line).expect("json")
    }
}

#[tokio::test]
async fn the_gate_forwards_or_denies_as_the_live_server_says_past_a_dead_one() {
    let env = Env::start(POLICY).await;
    let mut g = Gate::start(&env, &format!("{},{}", dead_url(), env.url()));
    // Allowed: forwarded to cat, which echoes the call itself.
    let echoed = g.call(1, "meow").await;
    assert_eq!(echoed["method"], "tools/call", "{echoed}");
    assert_eq!(echoed["params"]["name"], "meow");
    // Denied by the live server's rule, never forwarded.
    let denied = g.call(2, "rm").await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    let text = denied["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(text.contains("No shell today"), "{text}");
    drop(g.stdin);
    let _ = g.child.wait().await;

    let mut g = Gate::start(&env, &format!("{},{}", dead_url(), dead_url()));
    let denied = g.call(3, "meow").await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    let text = denied["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(
        text.starts_with("Denied by gavel: ") && text.contains("unreachable"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_call_rides_out_its_server_shutting_down_and_coming_back() {
    use gavel::adapters::adjudicate;
    use gavel::client::Client;
    use gavel::protocol::Vote;

    let mut env = Env::start(
        r#"
[[rule]]
id = "reviewed"
tools = ["deploy.release"]
effect = "review"
reason = "Deploys need ops"
approvers = "ops"
timeout = "10m"
"#,
    )
    .await;
    let client = Client::new(&env.url());
    let token = env.token("deployer").to_string();
    let action = crate::common::request("deploy.release", json!({"v": 1}), "s-ride-out");
    let waiting = tokio::spawn(async move {
        adjudicate(&client, &token, &action, None, std::future::pending()).await
    });
    let esc = loop {
        let pending = env
            .client
            .escalations(env.key("dave"))
            .await
            .expect("pending");
        if let Some(e) = pending
            .into_iter()
            .find(|e| e.action.session == "s-ride-out")
        {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A graceful stop answers the long poll 503 shutting_down; nothing was decided, so the
    // adapter asks again until the server is back (same port, same data).
    env.restart().await;
    let decision = Client::sign_decision(env.key("dave"), &esc, Vote::Approve, "go");
    env.client.decide(&decision).await.expect("approved");
    let ruling = tokio::time::timeout(STEP, waiting)
        .await
        .expect("ruled in time")
        .expect("join");
    assert!(ruling.allow, "{}", ruling.reason);
}
