//! Shared scaffolding for the adapter tests (included with `#[path]` from tests/gate_*.rs and
//! tests/hook_*.rs): a real gavel server on an ephemeral loopback port with its own roster and
//! policy in a temp dir, an agent token, an approver key, and the third-party peers in `.peers/`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::canonical::sha256_hex;
use gavel::protocol::{Escalation, PersonKey, Vote};
use gavel::server::{RunningServer, ServerConfig};

/// The agent's bearer token in every test roster.
pub const AGENT_TOKEN: &str = "gvl_test_adapter_agent_token";
pub const AGENT_ID: &str = "coder";
/// The developer the agent works for (never allowed to approve their own agent's calls).
pub const DEVELOPER: &str = "dev";

pub struct Gavel {
    pub dir: tempfile::TempDir,
    pub server: RunningServer,
    pub client: Client,
    /// An approver in group `ops`.
    pub approver: PersonKey,
}

impl Gavel {
    /// Starts a server whose policy is `rules` (TOML `[[rule]]` entries; approver group `ops`).
    pub async fn start(rules: &str) -> Gavel {
        let dir = tempfile::tempdir().expect("temp dir");
        let approver = PersonKey::generate("olga");
        let developer = PersonKey::generate(DEVELOPER);
        let roster = format!(
            r#"
[[person]]
id = "olga"
name = "Olga Approver"
key = "{}"
roles = ["approver"]
groups = ["ops"]

[[person]]
id = "{DEVELOPER}"
name = "Dev Eloper"
key = "{}"
roles = ["approver"]
groups = ["ops"]

[[agent]]
id = "{AGENT_ID}"
owner = "{DEVELOPER}"
token_sha256 = "{}"
"#,
            approver.public(),
            developer.public(),
            sha256_hex(AGENT_TOKEN.as_bytes())
        );
        std::fs::write(dir.path().join("roster.toml"), roster).expect("write roster");
        std::fs::write(dir.path().join("policy.toml"), rules).expect("write policy");
        let server = gavel::server::start(ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data: dir.path().join("data"),
            policy: dir.path().join("policy.toml"),
            roster: dir.path().join("roster.toml"),
        })
        .await
        .expect("the server starts");
        let client = Client::new(&server.url());
        Gavel {
            dir,
            server,
            client,
            approver,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// An empty config file, so a developer's own ~/.config/gavel/gavel.toml never leaks in.
    pub fn empty_config(&self) -> PathBuf {
        let p = self.dir.path().join("gavel.toml");
        std::fs::write(&p, "").expect("write config");
        p
    }

    /// Waits (bounded) until a pending escalation for `tool` appears.
    pub async fn escalation_for(&self, tool: &str, within: Duration) -> Escalation {
        let until = tokio::time::Instant::now() + within;
        loop {
            let pending = self
                .client
                .escalations(&self.approver)
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
        let decision = Client::sign_decision(&self.approver, esc, vote, reason);
        self.client
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
