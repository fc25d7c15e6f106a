//! docs/ADAPTERS.md must be copy-pasteable: its JSON parses, the hook's `--timeout` matches the
//! settings' `timeout`, and its policy rules load into a real server and decide the Claude Code
//! fixtures as the text says.

mod common;
#[path = "peers/support.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{Gavel, DEVELOPER};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// (language, body) of every fenced code block.
fn code_blocks(md: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in md.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((rest.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks
}

fn doc() -> String {
    std::fs::read_to_string(support::root().join("docs/ADAPTERS.md")).expect("docs/ADAPTERS.md")
}

#[test]
fn json_snippets_parse_and_the_hook_timeouts_agree() {
    let blocks = code_blocks(&doc());
    let json: Vec<Value> = blocks
        .iter()
        .filter(|(lang, _)| lang == "json")
        .map(|(_, body)| {
            serde_json::from_str(body).unwrap_or_else(|e| panic!("bad JSON in docs ({e}):\n{body}"))
        })
        .collect();
    assert!(json.len() >= 3);
    let settings = json
        .iter()
        .find(|v| v.get("hooks").is_some())
        .expect("the settings.json snippet");
    let hook = &settings["hooks"]["PreToolUse"][0]["hooks"][0];
    let command = hook["command"].as_str().expect("command");
    let timeout = hook["timeout"].as_u64().expect("timeout");
    assert!(command.starts_with("gavel hook claude-code"), "{command}");
    assert!(
        command.contains(&format!("--timeout {timeout}")),
        "--timeout must equal the hook timeout: {command} vs {timeout}"
    );
    let servers = json
        .iter()
        .find(|v| v.get("mcpServers").is_some())
        .expect("the mcpServers snippet");
    let args = servers["mcpServers"]["everything"]["args"]
        .as_array()
        .expect("args");
    assert_eq!(args[0], "gate");
    assert!(args.iter().any(|a| a == "--"));
}

/// The managed-settings example: the same hook, by an absolute path, with only managed hooks.
#[test]
fn the_managed_settings_example_enforces_the_hook() {
    let blocks = code_blocks(&doc());
    let managed: Value = blocks
        .iter()
        .filter(|(lang, _)| lang == "json")
        .map(|(_, body)| serde_json::from_str::<Value>(body).expect("JSON"))
        .find(|v| v.get("allowManagedHooksOnly").is_some())
        .expect("the managed-settings.json snippet");
    assert_eq!(managed["allowManagedHooksOnly"], true);
    let entry = &managed["hooks"]["PreToolUse"][0];
    assert_eq!(entry["matcher"], "*");
    let hook = &entry["hooks"][0];
    assert_eq!(hook["type"], "command");
    let command = hook["command"].as_str().expect("command");
    let timeout = hook["timeout"].as_u64().expect("timeout");
    assert!(
        command.starts_with('/') && command.contains("/gavel hook claude-code "),
        "an absolute path to gavel: {command}"
    );
    assert!(
        command.ends_with(&format!("--timeout {timeout}")),
        "--timeout must equal the hook timeout: {command} vs {timeout}"
    );
}

async fn hook(
    url: &str,
    token: &str,
    config: &std::path::Path,
    fixture: &str,
    timeout: u64,
) -> Value {
    let input = std::fs::read(
        support::root()
            .join("tests/fixtures/claude-code")
            .join(fixture),
    )
    .expect("fixture");
    let mut child = Command::new(support::gavel_bin())
        .args(["hook", "claude-code", "--timeout", &timeout.to_string()])
        .env("GAVEL_SERVER", url)
        .env("GAVEL_AGENT_TOKEN", token)
        .env("GAVEL_ON_BEHALF_OF", DEVELOPER)
        .env("GAVEL_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&input).await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(timeout + 5), child.wait_with_output())
        .await
        .expect("in time")
        .expect("output");
    let v: Value = serde_json::from_slice(&out.stdout).expect("decision JSON");
    v["hookSpecificOutput"].clone()
}

#[tokio::test]
async fn documented_policy_loads_and_decides_the_fixtures() {
    let rules: String = code_blocks(&doc())
        .into_iter()
        .filter(|(lang, body)| lang == "toml" && body.contains("[[rule]]"))
        .map(|(_, body)| body)
        .collect::<Vec<_>>()
        .join("\n")
        // The test roster's approver group.
        .replace("\"dev-leads\"", "\"ops\"");
    assert!(rules.contains("cc-rm") && rules.contains("files-write"));
    let g = Gavel::start(&rules).await;
    let config = g.empty_config();

    let bash = hook(&g.url(), &g.token(), &config, "bash.json", 20).await;
    assert_eq!(bash["permissionDecision"], "deny");
    assert!(
        bash["permissionDecisionReason"]
            .as_str()
            .unwrap_or_default()
            .contains("Recursive deletes"),
        "{bash}"
    );
    let edit = hook(&g.url(), &g.token(), &config, "edit.json", 20).await;
    assert_eq!(edit["permissionDecision"], "allow", "{edit}");
    // create_pull_request is reviewed; nobody decides within a 3 s hook timeout.
    let pr = hook(&g.url(), &g.token(), &config, "mcp.json", 3).await;
    assert_eq!(pr["permissionDecision"], "deny", "{pr}");
    g.shutdown().await;
}
