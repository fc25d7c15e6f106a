//! A raw stdio session with `gavel gate` or a bare MCP server: bytes in, JSON lines out, read in
//! the background so a chatty peer never blocks on a full pipe. Included with `#[path]`.
#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

pub const STEP: Duration = Duration::from_secs(30);

pub struct Session {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Lines read while waiting for another one.
    pub backlog: Vec<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

/// `gavel gate --name NAME -- server…` speaking to the gavel server at `url` as `token`.
pub fn gate_command(url: &str, token: &str, name: &str, server: &[String]) -> Command {
    let mut cmd = Command::new(crate::support::gavel_bin());
    cmd.args(["gate", "--name", name, "--"])
        .args(server)
        .env("GAVEL_SERVER", url)
        .env("GAVEL_AGENT_TOKEN", token)
        .env("GAVEL_ON_BEHALF_OF", crate::support::DEVELOPER)
        .env("GAVEL_CONFIG", "/dev/null");
    cmd
}

impl Session {
    pub fn spawn(mut cmd: Command) -> Session {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut raw = Vec::new();
                match reader.read_until(b'\n', &mut raw).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                // Anything that is not JSON is kept as a string: still something that came out.
                let text = String::from_utf8_lossy(&raw).into_owned();
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = stderr.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    if let Ok(mut s) = sink.lock() {
                        s.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
        Session {
            child,
            stdin,
            lines,
            backlog: Vec::new(),
            stderr,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).await.expect("write");
        stdin.flush().await.expect("flush");
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send(format!("{v}\n").as_bytes()).await;
    }

    /// The next line matching `want` (bounded by STEP), keeping the others for later.
    pub async fn wait_for(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&want) {
            return self.backlog.remove(i);
        }
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} in time; seen: {:?}", self.backlog))
                .unwrap_or_else(|| panic!("output closed before {what}; seen: {:?}", self.backlog));
            if want(&line) {
                return line;
            }
            self.backlog.push(line);
        }
    }

    /// The answer with this id.
    pub async fn answer(&mut self, id: &Value) -> Value {
        let want = id.clone();
        self.wait_for(&format!("answer to {id}"), move |v| {
            v["id"] == want && (v.get("result").is_some() || v.get("error").is_some())
        })
        .await
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits (bounded) for the process to exit, then collects what it still wrote.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("the process exits")
            .expect("status");
        while let Ok(Some(line)) = tokio::time::timeout(STEP, self.lines.recv()).await {
            self.backlog.push(line);
        }
        status.code()
    }

    pub fn stderr(&self) -> String {
        let bytes = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }
}
