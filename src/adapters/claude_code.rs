//! `gavel hook claude-code`: Claude Code's `PreToolUse` hook.
//!
//! Claude Code lets a call through when a hook exits non-zero (other than 2) or times out, so
//! this hook answers on every path: a decision JSON on stdout and exit 0, or — only if stdout
//! cannot be written — the reason on stderr and exit 2. A call held for review is waited on
//! only until shortly before the budget ends, then withdrawn, then denied, so an escalation the
//! hook gave up on cannot be approved afterwards. A watchdog thread answers deny at the end of
//! the budget even if everything else hangs, and panics are caught.

use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{adjudicate, Budget, ClaudeCodeArgs, Ruling, Settings, DEFAULT_HOOK_TIMEOUT_SECS};
use crate::protocol::{ActionRequest, MAX_BODY_BYTES, MAX_TEXT_LEN};

/// Largest hook input read from stdin; anything larger is a deny (the server would refuse it).
const MAX_INPUT_BYTES: u64 = MAX_BODY_BYTES as u64;

/// Set by whichever path answers first (the decision or the watchdog); the other stays silent.
static ANSWERED: AtomicBool = AtomicBool::new(false);

pub fn run(args: ClaudeCodeArgs) -> ExitCode {
    // A panic must not print a backtrace to Claude's transcript; it is answered as a deny below.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("gavel hook: internal error: {info}");
    }));
    // The budget counts from here: reading stdin is part of it.
    let start = tokio::time::Instant::now();
    let settings = Settings::resolve(
        &args.server,
        args.on_behalf_of.as_deref(),
        args.timeout,
        args.ca_cert.as_deref(),
    );
    let timeout = Duration::from_secs(
        settings
            .as_ref()
            .ok()
            .and_then(|s| s.hook_timeout)
            .unwrap_or(DEFAULT_HOOK_TIMEOUT_SECS),
    );
    let budget = answer_within(timeout);
    start_watchdog(budget);

    let ruling = guarded(|| match settings {
        Err(e) => Ruling::deny(e.to_string()),
        Ok(settings) => decide_from_stdin(&settings, Budget::new(start, budget)),
    });
    answer(&ruling).unwrap_or(ExitCode::SUCCESS)
}

/// Runs `decide`, turning a panic into a deny: a crashed hook would let the call through.
fn guarded(decide: impl FnOnce() -> Ruling) -> Ruling {
    std::panic::catch_unwind(AssertUnwindSafe(decide))
        .unwrap_or_else(|_| Ruling::deny("the gavel hook failed internally; denied to be safe"))
}

/// How long the hook may take: the configured timeout minus a margin for process start-up and
/// Claude Code's own bookkeeping (5 s at most, a fifth of short timeouts).
pub fn answer_within(timeout: Duration) -> Duration {
    let margin = (timeout / 5).clamp(Duration::from_millis(500), Duration::from_secs(5));
    timeout.saturating_sub(margin)
}

fn start_watchdog(budget: Duration) {
    let spawned = std::thread::Builder::new()
        .name("gavel-hook-watchdog".into())
        .spawn(move || {
            std::thread::sleep(budget);
            let ruling = Ruling::deny(format!(
                "no decision within the hook's {}s budget (raise the hook timeout and \
                 GAVEL_HOOK_TIMEOUT together to wait longer)",
                budget.as_secs()
            ));
            if let Some(code) = answer(&ruling) {
                std::process::exit(exit_code_number(code));
            }
        });
    if spawned.is_err() {
        // Without a watchdog the decision path still answers; its own timeout bounds it.
        eprintln!("gavel hook: could not start the timeout watchdog");
    }
}

fn exit_code_number(code: ExitCode) -> i32 {
    if code == ExitCode::SUCCESS {
        0
    } else {
        2
    }
}

/// Prints the decision unless one was already printed. `None` when someone else answered.
fn answer(ruling: &Ruling) -> Option<ExitCode> {
    if ANSWERED.swap(true, Ordering::SeqCst) {
        return None;
    }
    let line = decision_json(ruling);
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    match written {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(_) => {
            // Exit 2 is the other way Claude Code blocks; stderr becomes the reason.
            eprintln!("Denied by gavel: {}", ruling.reason);
            Some(ExitCode::from(2))
        }
    }
}

/// The `hookSpecificOutput` JSON Claude Code reads.
pub fn decision_json(ruling: &Ruling) -> String {
    let (decision, reason) = if ruling.allow {
        ("allow", format!("Allowed by gavel: {}", ruling.reason))
    } else {
        ("deny", format!("Denied by gavel: {}", ruling.reason))
    };
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    })
    .to_string()
}

fn decide_from_stdin(settings: &Settings, budget: Budget) -> Ruling {
    let mut input = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut input);
    if let Err(e) = read {
        return Ruling::deny(format!("cannot read the hook input: {e}"));
    }
    if input.len() as u64 > MAX_INPUT_BYTES {
        return Ruling::deny(format!(
            "the hook input is larger than {MAX_INPUT_BYTES} bytes"
        ));
    }
    let action = match action_from_hook(&input, settings.on_behalf_of.as_deref()) {
        Ok(a) => a,
        Err(e) => return Ruling::deny(e.to_string()),
    };
    let Some(token) = settings.token.as_deref() else {
        return Ruling::deny(format!(
            "no agent token: set {} (or agent_token in the [adapter] table of the config file)",
            crate::config::ENV_AGENT_TOKEN
        ));
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Ruling::deny(format!("cannot start: {e}")),
    };
    let client = match settings.client() {
        Ok(c) => c,
        Err(e) => return Ruling::deny(e.to_string()),
    };
    runtime.block_on(async {
        // adjudicate keeps to the budget itself (withdrawing what it stops waiting for); this
        // outer limit only guards against a bug there.
        let decide = adjudicate(
            &client,
            token,
            &action,
            Some(budget),
            std::future::pending(),
        );
        match tokio::time::timeout_at(budget.answer_by, decide).await {
            Ok(ruling) => ruling,
            Err(_) => Ruling::deny("no decision within the hook's budget"),
        }
    })
}

/// The fields of Claude Code's `PreToolUse` input that gavel uses; others are ignored.
#[derive(Debug, Deserialize)]
struct HookInput {
    session_id: String,
    hook_event_name: String,
    tool_name: String,
    #[serde(default)]
    tool_input: Value,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    permission_mode: Option<String>,
    #[serde(default)]
    tool_use_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HookInputError {
    #[error("the hook input is not a PreToolUse JSON object: {0}")]
    Malformed(String),
    #[error("gavel handles PreToolUse only, got hook event `{0}`")]
    WrongEvent(String),
    #[error("the hook input has an empty `{0}`")]
    Empty(&'static str),
}

/// Maps Claude Code's hook input to a gavel action: tool = `tool_name` as Claude names it
/// (`Bash`, `Edit`, `mcp__<server>__<tool>`), args = `tool_input`, session = `session_id`.
pub fn action_from_hook(
    input: &[u8],
    on_behalf_of: Option<&str>,
) -> Result<ActionRequest, HookInputError> {
    let hook: HookInput = serde_json::from_slice(input).map_err(|e| {
        HookInputError::Malformed(e.to_string().chars().take(200).collect::<String>())
    })?;
    if hook.hook_event_name != "PreToolUse" {
        return Err(HookInputError::WrongEvent(
            hook.hook_event_name.chars().take(64).collect(),
        ));
    }
    if hook.tool_name.trim().is_empty() {
        return Err(HookInputError::Empty("tool_name"));
    }
    if hook.session_id.trim().is_empty() {
        return Err(HookInputError::Empty("session_id"));
    }
    let mut context = Map::new();
    context.insert("adapter".into(), json!("claude-code"));
    for (key, value) in [
        ("cwd", &hook.cwd),
        ("permission_mode", &hook.permission_mode),
        ("tool_use_id", &hook.tool_use_id),
    ] {
        if let Some(v) = value {
            context.insert(key.into(), json!(v));
        }
    }
    if let Some((server, tool)) = split_mcp_name(&hook.tool_name) {
        context.insert("mcp_server".into(), json!(server));
        context.insert("mcp_tool".into(), json!(tool));
    }
    // Bash and Task carry the model's own one-line description: the closest thing to a rationale.
    let rationale = hook
        .tool_input
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.chars().take(MAX_TEXT_LEN).collect());
    let args = match hook.tool_input {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    Ok(ActionRequest {
        tool: hook.tool_name,
        args,
        session: hook.session_id,
        on_behalf_of: on_behalf_of.map(str::to_string),
        rationale,
        cost: None,
        parent: None,
        context: Value::Object(context),
    })
}

/// `mcp__github__create_issue` → (`github`, `create_issue`). Server names may contain single
/// underscores; the first `__` after the prefix separates server and tool.
pub fn split_mcp_name(tool_name: &str) -> Option<(&str, &str)> {
    let rest = tool_name.strip_prefix("mcp__")?;
    let (server, tool) = rest.split_once("__")?;
    (!server.is_empty() && !tool.is_empty()).then_some((server, tool))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASH: &str = r#"{"session_id":"9f1c2b7e-5d4a-4f0e-b1c3-2a6d8e7f9a01","transcript_path":"/home/dev/.claude/projects/-home-dev-shop/9f1c2b7e.jsonl","cwd":"/home/dev/shop","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf build","description":"Remove the build directory"},"tool_use_id":"toolu_01X"}"#;

    #[test]
    fn maps_hook_input_to_an_action() {
        let a = action_from_hook(BASH.as_bytes(), Some("bob")).unwrap();
        assert_eq!(a.tool, "Bash");
        assert_eq!(a.session, "9f1c2b7e-5d4a-4f0e-b1c3-2a6d8e7f9a01");
        assert_eq!(a.args["command"], "rm -rf build");
        assert_eq!(a.on_behalf_of.as_deref(), Some("bob"));
        assert_eq!(a.rationale.as_deref(), Some("Remove the build directory"));
        assert_eq!(
            a.context,
            json!({"adapter":"claude-code","cwd":"/home/dev/shop","permission_mode":"default","tool_use_id":"toolu_01X"})
        );
        // Only known fields go to the server: it rejects unknown ones.
        let body = serde_json::to_value(&a).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        for k in keys {
            assert!(
                [
                    "tool",
                    "args",
                    "session",
                    "on_behalf_of",
                    "rationale",
                    "cost",
                    "parent",
                    "context"
                ]
                .contains(&k),
                "{k}"
            );
        }
    }

    #[test]
    fn mcp_tools_name_their_server_in_context() {
        let input = BASH
            .replace("\"Bash\"", "\"mcp__my_srv__create_issue\"")
            .replace("\"rm -rf build\"", "\"x\"");
        let a = action_from_hook(input.as_bytes(), None).unwrap();
        assert_eq!(a.tool, "mcp__my_srv__create_issue");
        assert_eq!(a.context["mcp_server"], "my_srv");
        assert_eq!(a.context["mcp_tool"], "create_issue");
        assert_eq!(split_mcp_name("mcp__a__b__c"), Some(("a", "b__c")));
        assert_eq!(split_mcp_name("mcp__nope"), None);
        assert_eq!(split_mcp_name("Bash"), None);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"session_id":"s","hook_event_name":"PreToolUse"}"#,
            r#"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":7}"#,
            "\u{0}\u{ff}",
        ] {
            assert!(action_from_hook(bad.as_bytes(), None).is_err(), "{bad:?}");
        }
        let post = BASH.replace("PreToolUse", "PostToolUse");
        assert_eq!(
            action_from_hook(post.as_bytes(), None),
            Err(HookInputError::WrongEvent("PostToolUse".into()))
        );
        let empty = BASH.replace("\"Bash\"", "\"  \"");
        assert_eq!(
            action_from_hook(empty.as_bytes(), None),
            Err(HookInputError::Empty("tool_name"))
        );
    }

    #[test]
    fn decision_json_has_claude_codes_shape() {
        let v: Value = serde_json::from_str(&decision_json(&Ruling::deny("rule x: no"))).unwrap();
        assert_eq!(
            v,
            json!({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"Denied by gavel: rule x: no"}})
        );
        let allow = Ruling {
            allow: true,
            reason: "rule reads: ok".into(),
        };
        let v: Value = serde_json::from_str(&decision_json(&allow)).unwrap();
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "allow");
    }

    #[test]
    fn a_panic_is_a_deny() {
        let r = guarded(|| panic!("boom"));
        assert!(!r.allow);
        assert!(r.reason.contains("internally"), "{}", r.reason);
        assert!(guarded(|| Ruling::deny("x")).reason == "x");
    }

    #[test]
    fn answers_before_the_configured_timeout() {
        assert_eq!(
            answer_within(Duration::from_secs(600)),
            Duration::from_secs(595)
        );
        assert_eq!(
            answer_within(Duration::from_secs(10)),
            Duration::from_secs(8)
        );
        assert_eq!(
            answer_within(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
        assert_eq!(answer_within(Duration::ZERO), Duration::ZERO);
    }
}
