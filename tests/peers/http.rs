//! The parts of the HTTP gate's tests: a Streamable HTTP MCP server on the official Python SDK
//! (tests/peers/notes_http_server.py, ephemeral port), `gavel gate --http` in front of it
//! (ephemeral port), and the SDK's Streamable HTTP client scripted by the Rust test
//! (tests/peers/mcp_http_driver.py), or a session spoken by hand (`Raw`). Included with `#[path]`
//! next to `support.rs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::oneshot;

use crate::support;

pub const STEP: Duration = Duration::from_secs(30);

/// The upstream MCP server; every tool call it runs is a line in `calls`.
pub struct Upstream {
    _child: Child,
    pub url: String,
    pub calls: PathBuf,
}

impl Upstream {
    pub async fn start(dir: &Path) -> Upstream {
        Upstream::start_with(dir, None).await
    }

    /// With `tls` (certificate and key PEM files), the upstream speaks https.
    pub async fn start_with(dir: &Path, tls: Option<(&Path, &Path)>) -> Upstream {
        Upstream::start_env(dir, tls, &[]).await
    }

    /// With `env` set for the server (`JSON_RESPONSE=1`: JSON answers, no SSE).
    pub async fn start_env(
        dir: &Path,
        tls: Option<(&Path, &Path)>,
        env: &[(&str, &str)],
    ) -> Upstream {
        let calls = dir.join("calls.jsonl");
        let mut cmd = Command::new(support::peer("venv/bin/python"));
        cmd.envs(env.iter().copied());
        if let Some((cert, key)) = tls {
            cmd.env("TLS_CERT", cert).env("TLS_KEY", key);
        }
        let mut child = cmd
            .arg(support::root().join("tests/peers/notes_http_server.py"))
            .env("CALLS_FILE", &calls)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the upstream MCP server");
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(STEP, out.next_line())
            .await
            .expect("the upstream started in time")
            .expect("upstream stdout")
            .expect("the upstream printed its port");
        let port: Value = serde_json::from_str(&line).expect("{\"port\": N}");
        let scheme = if tls.is_some() { "https" } else { "http" };
        Upstream {
            _child: child,
            url: format!("{scheme}://127.0.0.1:{}/mcp", port["port"]),
            calls,
        }
    }

    /// The calls the upstream ran, in order.
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a recorded call"))
            .collect()
    }

    pub fn ran(&self, tool: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["tool"] == tool)
            .collect()
    }
}

/// `gavel gate --http` in front of an upstream; its stderr is kept for the test to read.
pub struct Gate {
    child: Child,
    /// The gate's MCP endpoint.
    pub url: String,
    log: Arc<Mutex<String>>,
}

impl Gate {
    pub async fn start(gavel_url: &str, token: &str, upstream: &str) -> Gate {
        Gate::start_with(gavel_url, token, upstream, &[]).await
    }

    /// With `extra` arguments for `gavel gate` (e.g. `--ca-cert FILE`).
    pub async fn start_with(gavel_url: &str, token: &str, upstream: &str, extra: &[&str]) -> Gate {
        Gate::start_env(gavel_url, token, upstream, extra, &[]).await
    }

    /// With `env` set for the gate on top of the usual.
    pub async fn start_env(
        gavel_url: &str,
        token: &str,
        upstream: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Gate {
        let mut child = Command::new(support::gavel_bin())
            .args([
                "gate",
                "--http",
                "--listen",
                "127.0.0.1:0",
                "--name",
                "remote",
            ])
            .args(["--upstream", upstream])
            .args(extra)
            .env("GAVEL_SERVER", gavel_url)
            .env("GAVEL_AGENT_TOKEN", token)
            .env("GAVEL_ON_BEHALF_OF", support::DEVELOPER)
            .env("GAVEL_CONFIG", "/dev/null")
            // A cancelled call's escalation waits this long for a retry (10 s by default).
            .env("GAVEL_GATE_RETRY_GRACE_SECS", "0.5")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn gavel gate --http");
        let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let (url_tx, url_rx) = oneshot::channel();
        let kept = log.clone();
        tokio::spawn(async move {
            let mut url_tx = Some(url_tx);
            while let Ok(Some(line)) = err.next_line().await {
                eprintln!("[gate] {line}");
                if let Some(rest) = line.strip_prefix("gavel gate: listening on ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    if let Some(tx) = url_tx.take() {
                        let _ = tx.send(url);
                    }
                }
                kept.lock().expect("log").push_str(&(line + "\n"));
            }
        });
        let url = tokio::time::timeout(STEP, url_rx)
            .await
            .expect("the gate listened in time")
            .expect("the gate said where it listens");
        Gate { child, url, log }
    }

    /// What the gate wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Waits (bounded) for the gate to exit; its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("the gate exits in time")
            .expect("gate status")
            .code()
    }
}

/// The SDK client, scripted: JSON commands in, JSON events out.
pub struct Driver {
    child: Child,
    stdin: ChildStdin,
    events: Lines<BufReader<ChildStdout>>,
    backlog: Vec<Value>,
}

impl Driver {
    /// Connects to `url` (sending `authorization`, if any) and waits for the session.
    pub async fn start(url: &str, authorization: Option<&str>) -> (Driver, Value) {
        let mut cmd = Command::new(support::peer("venv/bin/python"));
        cmd.arg(support::root().join("tests/peers/mcp_http_driver.py"))
            .arg(url);
        if let Some(a) = authorization {
            cmd.arg(a);
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

    pub async fn send(&mut self, cmd: Value) {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the driver");
    }

    /// The next event matching `want` (bounded by STEP), keeping the others for later.
    pub async fn wait(&mut self, want: impl Fn(&Value) -> bool) -> Value {
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

    pub async fn call(&mut self, tag: &str, tool: &str, args: Value) {
        self.send(json!({"op": "call", "tag": tag, "tool": tool, "args": args}))
            .await;
    }

    /// The call's final event (result, error or cancelled); progress events stay in the backlog.
    pub async fn result(&mut self, tag: &str) -> Value {
        let tag = tag.to_string();
        self.wait(move |e| e["tag"] == tag.as_str() && e["event"] != "progress")
            .await
    }

    pub async fn call_and_wait(&mut self, tag: &str, tool: &str, args: Value) -> Value {
        self.call(tag, tool, args).await;
        self.result(tag).await
    }

    /// Events read but not yet waited for, in order.
    pub fn unclaimed(&self) -> &[Value] {
        &self.backlog
    }

    pub async fn ping(&mut self) {
        self.send(json!({"op": "ping"})).await;
        self.wait(|e| e["op"] == "ping").await;
    }

    pub async fn quit(mut self) {
        self.send(json!({"op": "quit"})).await;
        let _ = self.wait(|e| e["op"] == "quit").await;
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("the driver exits")
            .expect("driver status");
        assert!(status.success(), "driver exit status {status}");
    }
}

/// Waits (bounded) until `check` holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let until = tokio::time::Instant::now() + STEP;
    while !check() {
        assert!(tokio::time::Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One MCP session through the gate, by hand.
pub struct Raw {
    pub http: reqwest::Client,
    pub url: String,
    pub session: String,
}

impl Raw {
    pub async fn open(url: &str) -> Raw {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw-client", "version": "1"}}});
        let r = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .expect("initialize");
        assert_eq!(r.status(), StatusCode::OK);
        let session = r.headers()["mcp-session-id"]
            .to_str()
            .expect("session id")
            .to_string();
        let _ = r.text().await;
        let raw = Raw {
            http,
            url: url.to_string(),
            session,
        };
        let (status, _) = raw
            .post(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        raw
    }

    pub fn request(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-session-id", &self.session)
            .body(body)
    }

    pub async fn post(&self, body: Vec<u8>) -> (StatusCode, String) {
        let r = self.request(body).send().await.expect("POST");
        (r.status(), r.text().await.expect("body"))
    }
}

/// The JSON-RPC answer in a body: plain JSON, or the `data:` of an SSE event that answers.
pub fn answer(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v;
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("result").is_some() || v.get("error").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {body:?}"))
}

pub fn call(id: &str, tool: &str, args: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
    .into_bytes()
}
