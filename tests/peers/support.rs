//! Adapter-side helpers on top of the shared harness (tests/common): included with `#[path]`
//! from tests/gate_*.rs and tests/hook_*.rs, next to `mod common;`. Finds the third-party peers
//! in `.peers/`, waits for escalations and decides them as an approver.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{Escalation, PersonKey, Vote};

use crate::common::Env;

/// The agent the adapters run as in the shared harness's roster (owner bob).
pub const AGENT_ID: &str = "mailer";
/// The developer the agent works for: never allowed to approve their own agent's calls.
pub const DEVELOPER: &str = "bob";
/// An approver in group `ops`, which the adapter tests' policies name.
pub const APPROVER: &str = "dave";
/// A token for tests where no server answers anyway.
pub const UNUSED_TOKEN: &str = "gvl_no_server_listens";

/// A real server from the shared harness (tests/common), seen from the adapters' side.
pub struct Gavel {
    pub env: Env,
}

/// The command line of the npm reference server `server-everything`, as an MCP client would
/// launch it.
pub fn everything() -> Vec<String> {
    vec![
        "node".to_string(),
        peer("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
            .display()
            .to_string(),
    ]
}

impl Gavel {
    /// Waits (bounded by `within`) until the audit log holds `n` `retried` records: calls a
    /// gate resent that gavel answered with an earlier action.
    pub async fn retries(&self, n: usize, within: Duration) -> Vec<gavel::protocol::AuditRecord> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let found = self
                .env
                .client
                .audit(self.env.key("grace"), "kind=retried")
                .await
                .expect("audit");
            if found.len() >= n {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "only {} retries recorded",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts a server whose policy is `rules` (TOML `[[rule]]` entries; approver group `ops`).
    pub async fn start(rules: &str) -> Gavel {
        Gavel {
            env: Env::start(rules).await,
        }
    }

    pub fn url(&self) -> String {
        self.env.url()
    }

    /// The agent's bearer token.
    pub fn token(&self) -> String {
        self.env.token(AGENT_ID).to_string()
    }

    pub fn approver(&self) -> &PersonKey {
        self.env.key(APPROVER)
    }

    pub async fn shutdown(mut self) {
        self.env.stop().await;
    }

    /// An empty config file, so a developer's own ~/.config/gavel/gavel.toml never leaks in.
    pub fn empty_config(&self) -> PathBuf {
        let p = self.env.dir.path().join("gavel.toml");
        std::fs::write(&p, "").expect("write config");
        p
    }

    /// Waits (bounded) until a pending escalation for `tool` appears.
    pub async fn escalation_for(&self, tool: &str, within: Duration) -> Escalation {
        let until = tokio::time::Instant::now() + within;
        loop {
            let pending = self
                .env
                .client
                .escalations(self.approver())
                .await
                .expect("list escalations");
            if let Some(e) = pending.into_iter().find(|e| e.action.tool == tool) {
                return e;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "no escalation for {tool} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs and submits the approver's decision on `esc`.
    pub async fn decide(&self, esc: &Escalation, vote: Vote, reason: &str) {
        let decision = Client::sign_decision(self.approver(), esc, vote, reason);
        self.env
            .client
            .decide(&decision)
            .await
            .expect("decision accepted");
    }
}

/// The project root (for `.peers/` and the fixtures).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file or program under `.peers/`; fails the test, never skips it, when missing.
pub fn peer(rel: &str) -> PathBuf {
    let p = root().join(".peers").join(rel);
    assert!(
        p.exists(),
        "peer {} is missing: run .ci/install-peers first (installs the pinned MCP reference \
         servers and Python SDK into .peers/)",
        p.display()
    );
    p
}

pub fn gavel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gavel"))
}

/// A loopback URL where nothing listens (bound, then released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}
