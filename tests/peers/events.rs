//! A driver process (an official MCP client, scripted) that prints one JSON event per line:
//! included with `#[path]` from tests/gate_progress.rs and tests/gate_tasks.rs.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::support::{self, Gavel, DEVELOPER};

pub const STEP: Duration = Duration::from_secs(30);

/// A driver process printing one JSON event per line.
pub struct Events {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every event read so far, in order.
    pub seen: Vec<Value>,
}

impl Events {
    /// Starts `cmd`, a driver that runs `gavel gate -- server…` (appended to its arguments).
    pub fn spawn(mut cmd: Command, g: &Gavel, server: &[String], progress_secs: &str) -> Events {
        cmd.arg(support::gavel_bin())
            .arg("gate")
            .arg("--")
            .args(server)
            .env("GAVEL_SERVER", g.url())
            .env("GAVEL_AGENT_TOKEN", g.token())
            .env("GAVEL_ON_BEHALF_OF", DEVELOPER)
            .env("GAVEL_CONFIG", "/dev/null")
            .env("GAVEL_GATE_PROGRESS_SECS", progress_secs);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the driver");
        Events {
            stdin: child.stdin.take().expect("stdin"),
            lines: BufReader::new(child.stdout.take().expect("stdout")).lines(),
            child,
            seen: Vec::new(),
        }
    }

    /// Reads until an event matches `want` (bounded by STEP) and returns it.
    pub async fn until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let Ok(line) = tokio::time::timeout_at(deadline, self.lines.next_line()).await else {
                let last = &self.seen[self.seen.len().saturating_sub(5)..];
                panic!("the driver did not answer in time; its last events: {last:?}");
            };
            let line = line
                .expect("driver stdout")
                .expect("the driver is still running");
            let event: Value = serde_json::from_str(&line).expect("driver events are JSON");
            self.seen.push(event.clone());
            if want(&event) {
                return event;
            }
        }
    }

    pub async fn send(&mut self, cmd: Value) {
        let line = format!("{cmd}\n");
        self.stdin.write_all(line.as_bytes()).await.expect("write");
    }

    pub fn all(&self, want: impl Fn(&Value) -> bool) -> Vec<&Value> {
        self.seen.iter().filter(|e| want(e)).collect()
    }

    pub async fn finish(mut self) {
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("the driver exits")
            .expect("driver status");
        assert!(status.success(), "driver exit status {status}");
    }
}
