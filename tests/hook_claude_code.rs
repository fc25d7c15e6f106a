//! `gavel hook claude-code` end to end: the real binary as a subprocess, fed Claude Code
//! PreToolUse payloads from tests/fixtures/claude-code/, against a real in-process server.

mod common;
#[path = "peers/support.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use gavel::client::Client;
use gavel::protocol::{EscalationState, Vote};
use serde_json::Value;
use support::{Gavel, DEVELOPER, UNUSED_TOKEN};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The hook timeout the tests configure (as `--timeout`, like the settings.json entry).
const HOOK_TIMEOUT_SECS: u64 = 20;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        support::root()
            .join("tests/fixtures/claude-code")
            .join(name),
    )
    .expect("fixture exists")
}

struct HookRun {
    code: Option<i32>,
    decision: String,
    reason: String,
    elapsed: Duration,
    stderr: String,
}

/// Runs the hook once with `input` on stdin and returns its decision.
async fn run_hook(
    server: &str,
    token: &str,
    config: &std::path::Path,
    input: &[u8],
    timeout: u64,
) -> HookRun {
    let started = Instant::now();
    let mut child = Command::new(support::gavel_bin())
        .args(["hook", "claude-code", "--timeout", &timeout.to_string()])
        .env("GAVEL_SERVER", server)
        .env("GAVEL_AGENT_TOKEN", token)
        .env("GAVEL_ON_BEHALF_OF", DEVELOPER)
        .env("GAVEL_CONFIG", config)
        .env_remove("GAVEL_HOOK_TIMEOUT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gavel hook");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).await.expect("write hook input");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(timeout + 5), child.wait_with_output())
        .await
        .expect("the hook answers before its timeout")
        .expect("hook output");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("hook stdout is not one JSON object ({e}): {stdout:?}"));
    let hso = &v["hookSpecificOutput"];
    assert_eq!(hso["hookEventName"], "PreToolUse", "{v}");
    HookRun {
        code: out.status.code(),
        decision: hso["permissionDecision"].as_str().unwrap_or("").to_string(),
        reason: hso["permissionDecisionReason"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        elapsed,
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

const POLICY: &str = r#"
[[rule]]
id = "edits"
tools = ["Edit", "Write"]
effect = "allow"
reason = "Edits in the working tree are fine"

[[rule]]
id = "no-rm-rf"
tools = ["Bash"]
when = "args.command.contains('rm -rf')"
effect = "deny"
reason = "Recursive deletes need a person at the keyboard"

[[rule]]
id = "github-writes"
tools = ["mcp__github__create_*"]
effect = "review"
reason = "Opening pull requests is reviewed by ops"
approvers = "ops"
timeout = "1m"
"#;

const EXPIRING: &str = r#"
[[rule]]
id = "github-writes"
tools = ["mcp__github__*"]
effect = "review"
reason = "Opening pull requests is reviewed by ops"
approvers = "ops"
timeout = "2s"
"#;

fn assert_in_time(run: &HookRun) {
    assert!(
        run.elapsed < Duration::from_secs(HOOK_TIMEOUT_SECS),
        "answered after {:?}",
        run.elapsed
    );
    assert_eq!(run.code, Some(0), "exit code; stderr: {}", run.stderr);
}

#[tokio::test]
async fn edit_is_allowed_by_policy() {
    let g = Gavel::start(POLICY).await;
    let run = run_hook(
        &g.url(),
        &g.token(),
        &g.empty_config(),
        &fixture("edit.json"),
        HOOK_TIMEOUT_SECS,
    )
    .await;
    assert_in_time(&run);
    assert_eq!(run.decision, "allow", "{}", run.reason);
    assert!(
        run.reason.contains("Edits in the working tree are fine"),
        "{}",
        run.reason
    );
    g.shutdown().await;
}

#[tokio::test]
async fn bash_is_denied_with_the_rules_reason() {
    let g = Gavel::start(POLICY).await;
    let run = run_hook(
        &g.url(),
        &g.token(),
        &g.empty_config(),
        &fixture("bash.json"),
        HOOK_TIMEOUT_SECS,
    )
    .await;
    assert_in_time(&run);
    assert_eq!(run.decision, "deny");
    assert!(
        run.reason
            .contains("Recursive deletes need a person at the keyboard"),
        "{}",
        run.reason
    );
    g.shutdown().await;
}

#[tokio::test]
async fn mcp_tool_waits_for_review_and_is_approved() {
    let g = Gavel::start(POLICY).await;
    let config = g.empty_config();
    let url = g.url();
    let token = g.token();
    let hook = tokio::spawn(async move {
        run_hook(
            &url,
            &token,
            &config,
            &fixture("mcp.json"),
            HOOK_TIMEOUT_SECS,
        )
        .await
    });
    let esc = g
        .escalation_for("mcp__github__create_pull_request", Duration::from_secs(10))
        .await;
    // The action is Claude Code's call, mapped field by field.
    let input: Value = serde_json::from_slice(&fixture("mcp.json")).expect("fixture json");
    assert_eq!(esc.action.agent, support::AGENT_ID);
    assert_eq!(esc.action.args, input["tool_input"]);
    assert_eq!(
        esc.action.session,
        input["session_id"].as_str().unwrap_or_default()
    );
    assert_eq!(esc.action.on_behalf_of.as_deref(), Some(DEVELOPER));
    assert_eq!(esc.action.context["cwd"], input["cwd"]);
    assert_eq!(
        esc.action.context["permission_mode"],
        input["permission_mode"]
    );
    assert_eq!(esc.action.context["tool_use_id"], input["tool_use_id"]);
    assert_eq!(esc.action.context["mcp_server"], "github");
    g.decide(&esc, Vote::Approve, "PR title checked").await;
    let run = hook.await.expect("hook task");
    assert_in_time(&run);
    assert_eq!(run.decision, "allow", "{}", run.reason);
    assert!(run.reason.contains(support::APPROVER), "{}", run.reason);
    assert!(run.reason.contains("PR title checked"), "{}", run.reason);
    g.shutdown().await;
}

#[tokio::test]
async fn review_denied_by_a_person_is_denied_with_their_reason() {
    let g = Gavel::start(POLICY).await;
    let config = g.empty_config();
    let url = g.url();
    let token = g.token();
    let hook = tokio::spawn(async move {
        run_hook(
            &url,
            &token,
            &config,
            &fixture("mcp.json"),
            HOOK_TIMEOUT_SECS,
        )
        .await
    });
    let esc = g
        .escalation_for("mcp__github__create_pull_request", Duration::from_secs(10))
        .await;
    g.decide(&esc, Vote::Deny, "wait for the finance sign-off")
        .await;
    let run = hook.await.expect("hook task");
    assert_in_time(&run);
    assert_eq!(run.decision, "deny");
    assert!(
        run.reason.contains("wait for the finance sign-off"),
        "{}",
        run.reason
    );
    g.shutdown().await;
}

#[tokio::test]
async fn review_that_expires_is_denied() {
    let g = Gavel::start(EXPIRING).await;
    let run = run_hook(
        &g.url(),
        &g.token(),
        &g.empty_config(),
        &fixture("mcp.json"),
        HOOK_TIMEOUT_SECS,
    )
    .await;
    assert_in_time(&run);
    assert_eq!(run.decision, "deny");
    assert!(run.reason.contains("deadline"), "{}", run.reason);
    assert!(run.elapsed >= Duration::from_secs(1), "{:?}", run.elapsed);
    g.shutdown().await;
}

#[tokio::test]
async fn hook_withdraws_then_denies_before_its_own_timeout_when_nobody_decides() {
    // The review deadline (1m) is beyond the hook's 6 s timeout: the hook must answer deny
    // itself, before Claude Code would give up on it and let the call through, and withdraw the
    // escalation first, so nobody can approve a call that will never run.
    let g = Gavel::start(POLICY).await;
    let config = g.empty_config();
    let (url, token) = (g.url(), g.token());
    let hook =
        tokio::spawn(async move { run_hook(&url, &token, &config, &fixture("mcp.json"), 6).await });
    let esc = g
        .escalation_for("mcp__github__create_pull_request", Duration::from_secs(10))
        .await;
    let run = hook.await.expect("hook task");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.decision, "deny");
    assert!(run.elapsed < Duration::from_secs(6), "{:?}", run.elapsed);
    // It did wait for a person first (most of its 4.8 s budget, less the withdraw's share).
    assert!(run.elapsed >= Duration::from_secs(3), "{:?}", run.elapsed);
    // The hook has exited: the escalation is closed already (checked once, now).
    let now = g
        .env
        .client
        .escalation(g.approver(), &esc.id)
        .await
        .expect("escalation");
    assert_eq!(now.state, EscalationState::Cancelled, "{now:?}");
    assert!(run.reason.contains("withdrawn"), "{}", run.reason);
    let late = Client::sign_decision(g.approver(), &esc, Vote::Approve, "too late");
    let refused = g.env.client.decide(&late).await.expect_err("refused");
    assert_eq!(refused.code(), "not_pending");
    g.shutdown().await;
}

#[tokio::test]
async fn server_down_is_a_deny_with_exit_0() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("gavel.toml");
    std::fs::write(&config, "").expect("config");
    for f in ["bash.json", "edit.json", "mcp.json"] {
        let run = run_hook(
            &support::dead_url(),
            UNUSED_TOKEN,
            &config,
            &fixture(f),
            HOOK_TIMEOUT_SECS,
        )
        .await;
        assert_in_time(&run);
        assert_eq!(run.decision, "deny", "{f}");
        assert!(run.reason.contains("unreachable"), "{f}: {}", run.reason);
    }
}

#[tokio::test]
async fn garbage_stdin_is_a_deny() {
    let g = Gavel::start(POLICY).await;
    let config = g.empty_config();
    let post = String::from_utf8_lossy(&fixture("edit.json")).replace("PreToolUse", "PostToolUse");
    let inputs: [&[u8]; 5] = [
        b"",
        b"this is not json",
        b"{\"tool_name\": 5}",
        b"\xff\xfe\x00garbage",
        post.as_bytes(),
    ];
    for input in inputs {
        let run = run_hook(&g.url(), &g.token(), &config, input, HOOK_TIMEOUT_SECS).await;
        assert_in_time(&run);
        assert_eq!(run.decision, "deny", "{input:?}");
        assert!(
            run.reason.starts_with("Denied by gavel: "),
            "{}",
            run.reason
        );
    }
    g.shutdown().await;
}

#[tokio::test]
async fn bad_token_is_a_deny() {
    let g = Gavel::start(POLICY).await;
    let mut child = Command::new(support::gavel_bin())
        .args(["hook", "claude-code", "--timeout", "10"])
        .env("GAVEL_SERVER", g.url())
        .env("GAVEL_AGENT_TOKEN", "gvl_not_in_the_roster")
        .env("GAVEL_CONFIG", g.empty_config())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&fixture("edit.json")).await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("in time")
        .expect("output");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap_or_default()
            .contains("token"),
        "{v}"
    );
    g.shutdown().await;
}

#[tokio::test]
async fn missing_token_is_a_deny() {
    let g = Gavel::start(POLICY).await;
    let mut child = Command::new(support::gavel_bin())
        .args(["hook", "claude-code"])
        .env("GAVEL_SERVER", g.url())
        .env_remove("GAVEL_AGENT_TOKEN")
        .env("GAVEL_CONFIG", g.empty_config())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&fixture("edit.json")).await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("in time")
        .expect("output");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap_or_default()
            .contains("GAVEL_AGENT_TOKEN"),
        "{v}"
    );
    g.shutdown().await;
}

#[tokio::test]
async fn stdin_that_never_closes_is_denied_before_the_timeout() {
    // A hung input must not turn into Claude Code's "timed out, let it through".
    let mut child = Command::new(support::gavel_bin())
        .args(["hook", "claude-code", "--timeout", "5"])
        .env("GAVEL_SERVER", support::dead_url())
        .env("GAVEL_AGENT_TOKEN", UNUSED_TOKEN)
        .env("GAVEL_CONFIG", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let _keep_open = child.stdin.take();
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("the watchdog answers")
        .expect("output");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
}

#[tokio::test]
async fn unreadable_config_file_is_a_deny() {
    let run = run_hook(
        &support::dead_url(),
        UNUSED_TOKEN,
        std::path::Path::new("/nonexistent/gavel.toml"),
        &fixture("edit.json"),
        HOOK_TIMEOUT_SECS,
    )
    .await;
    assert_in_time(&run);
    assert_eq!(run.decision, "deny");
    assert!(
        run.reason.contains("/nonexistent/gavel.toml"),
        "{}",
        run.reason
    );
}

#[tokio::test]
async fn timeout_comes_from_the_environment_or_the_config_file() {
    // No flag: GAVEL_HOOK_TIMEOUT, else `hook_timeout` in the config file, sets the budget.
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("gavel.toml");
    std::fs::write(&config, "[adapter]\nhook_timeout = 5\n").expect("config");
    for (env_timeout, config_file) in [
        (Some("5"), "/dev/null"),
        (None, config.to_str().unwrap_or_default()),
    ] {
        let mut cmd = Command::new(support::gavel_bin());
        cmd.args(["hook", "claude-code"])
            .env("GAVEL_SERVER", support::dead_url())
            .env("GAVEL_AGENT_TOKEN", UNUSED_TOKEN)
            .env("GAVEL_CONFIG", config_file)
            .env_remove("GAVEL_HOOK_TIMEOUT");
        if let Some(t) = env_timeout {
            cmd.env("GAVEL_HOOK_TIMEOUT", t);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        // Input that never ends: only the timeout can end this hook.
        let _keep_open = child.stdin.take();
        let started = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
            .await
            .expect("answers within the configured timeout, not the 600 s default")
            .expect("output");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(5),
            "{took:?}"
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    }
}

#[tokio::test]
async fn hook_tells_approvers_when_it_stops_waiting() {
    // A 20 s hook answers within 16 s and keeps 3 s of that for the withdraw: it stops waiting
    // about 13 s after it starts, far sooner than the rule's 1 minute. The escalation says so.
    let g = Gavel::start(POLICY).await;
    let config = g.empty_config();
    let (url, token) = (g.url(), g.token());
    let hook = tokio::spawn(async move {
        run_hook(
            &url,
            &token,
            &config,
            &fixture("mcp.json"),
            HOOK_TIMEOUT_SECS,
        )
        .await
    });
    let esc = g
        .escalation_for("mcp__github__create_pull_request", Duration::from_secs(10))
        .await;
    let gives_up = esc.agent_deadline.expect("the hook reports its budget");
    let budget = (gives_up - esc.created_at).num_milliseconds();
    assert!((10_000..=13_000).contains(&budget), "{budget} ms");
    assert!(gives_up < esc.deadline, "{gives_up} vs {}", esc.deadline);
    g.decide(&esc, Vote::Deny, "not today").await;
    let run = hook.await.expect("hook task");
    assert_in_time(&run);
    assert_eq!(run.decision, "deny");
    g.shutdown().await;
}
