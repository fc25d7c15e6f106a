//! Shared test harness: a real server on an ephemeral loopback port, its records in a real SQLite
//! file in a temp dir (or in a fresh PostgreSQL database: `GAVEL_TEST_STORE=postgres`), people
//! with real Ed25519 keys, agents with real bearer tokens.
#![allow(dead_code)]

pub mod cluster;
pub mod console;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod records;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gavel::client::Client;
use gavel::protocol::canonical::sha256_hex;
use gavel::protocol::signing::Purpose;
use gavel::protocol::{
    ActionOutcome, ActionRequest, ClientMessage, Escalation, PersonKey, ServerMessage, StreamAuth,
};
use gavel::server::{start, RunningServer, ServerConfig};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// People in the standard test roster: (id, roles, groups).
pub const PEOPLE: &[(&str, &[&str], &[&str])] = &[
    ("alice", &["approver", "operator"], &["finance"]),
    ("bob", &["approver", "lead"], &["finance", "comms"]),
    ("carol", &["approver"], &["finance"]),
    ("dave", &["approver", "operator"], &["ops"]),
    ("erin", &["lead"], &[]),
    ("frank", &["approver"], &["backup"]),
    ("grace", &["auditor"], &[]),
    ("henry", &[], &[]),
];

/// Agents in the standard test roster: (id, owner, acts_for).
/// refund-bot and deployer act for nobody (they may name nobody), mailer acts for its owner bob
/// (the adapters' developer: every mailer call is on bob's behalf), assistant acts for carol or
/// erin and must say which.
pub const AGENTS: &[(&str, &str, &[&str])] = &[
    ("refund-bot", "alice", &[]),
    ("mailer", "bob", &["bob"]),
    ("deployer", "dave", &[]),
    ("assistant", "bob", &["carol", "erin"]),
];

/// A policy exercising every effect; tests may pass their own.
pub const POLICY: &str = r#"
[[rule]]
id = "reads"
tools = ["*.get", "*.list"]
effect = "allow"
reason = "Read-only calls"

[[rule]]
id = "refund-small"
tools = ["stripe.refund"]
when = "args.amount <= 100.0"
effect = "allow"
reason = "Small refunds are routine"

[[rule]]
id = "refund-medium"
tools = ["stripe.refund"]
when = "args.amount > 100.0 && args.amount <= 1000.0"
effect = "flag"
reason = "Medium refunds are reviewed after the fact"

[[rule]]
id = "refund-large"
tools = ["stripe.refund"]
when = "args.amount > 1000.0 && args.amount <= 10000.0"
effect = "review"
reason = "Refunds above $1,000 need a finance approver"
approvers = "finance"
timeout = "10m"

[[rule]]
id = "refund-huge"
tools = ["stripe.refund"]
when = "args.amount > 10000.0"
effect = "review"
reason = "Huge refunds need two finance approvers other than the owner"
approvers = "finance"
approvals = 2
timeout = "10m"
separate_owner = true

[[rule]]
id = "no-shell"
tools = ["shell.*"]
effect = "deny"
reason = "Agents never get a shell"

[[rule]]
id = "email-external"
tools = ["email.send"]
effect = "review"
reason = "Outbound email is read first"
approvers = "comms"
timeout = "10m"

[[rule]]
id = "deploy-fast"
tools = ["deploy.release"]
effect = "review"
reason = "Deploys need ops"
approvers = "ops"
timeout = "2s"

[[rule]]
id = "deploy-handover"
tools = ["deploy.hotfix"]
effect = "review"
reason = "Hotfixes need ops, then backup"
approvers = "ops"
timeout = "1s"
on_expiry = "escalate"
escalate_to = "backup"
"#;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    /// `postgres://…` when the server keeps its records there (`GAVEL_TEST_STORE=postgres`).
    pub store: Option<String>,
    pub policy: PathBuf,
    pub roster: PathBuf,
    pub keys: HashMap<String, PersonKey>,
    pub tokens: HashMap<String, String>,
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    /// The `[[webhook]]`s the server starts with (none unless a test sets them).
    pub webhooks: Vec<gavel::config::webhook::WebhookEntry>,
    pub client: Client,
}

pub fn roster_toml(keys: &HashMap<String, PersonKey>, tokens: &HashMap<String, String>) -> String {
    let mut s = String::new();
    for (id, roles, groups) in PEOPLE {
        s += &format!(
            "[[person]]\nid = \"{id}\"\nname = \"{}\"\nkey = \"{}\"\nroles = {}\ngroups = {}\n\n",
            id.to_uppercase(),
            keys[*id].public(),
            json!(roles),
            json!(groups)
        );
    }
    for (id, owner, acts_for) in AGENTS {
        s += &format!(
            "[[agent]]\nid = \"{id}\"\nowner = \"{owner}\"\nacts_for = {}\ntoken_sha256 = \"{}\"\n\n",
            json!(acts_for),
            sha256_hex(tokens[*id].as_bytes())
        );
    }
    s
}

impl Env {
    /// Writes the roster and `policy` into a temp dir; does not start the server, which keeps
    /// its records where `GAVEL_TEST_STORE` says (see [`postgres::harness_store`]).
    pub fn new(policy: &str) -> Env {
        Env::with_store(policy, postgres::harness_store())
    }

    /// As [`Env::new`], the records in SQLite whatever `GAVEL_TEST_STORE` says: for tests whose
    /// point is the SQLite file itself.
    pub fn sqlite(policy: &str) -> Env {
        Env::with_store(policy, None)
    }

    /// As [`Env::new`], the records in a fresh PostgreSQL database whatever `GAVEL_TEST_STORE`
    /// says: for a PostgreSQL twin of a SQLite-only test.
    pub fn postgres(policy: &str) -> Env {
        Env::with_store(policy, Some(postgres::fresh_database()))
    }

    /// As [`Env::new`], the records in `store` (a `postgres://` URL) or else SQLite.
    pub fn with_store(policy: &str, store: Option<String>) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys: HashMap<String, PersonKey> = PEOPLE
            .iter()
            .map(|(id, _, _)| (id.to_string(), PersonKey::generate(*id)))
            .collect();
        let tokens: HashMap<String, String> = AGENTS
            .iter()
            .map(|(id, _, _)| {
                (
                    id.to_string(),
                    format!("tok-{id}-{}", sha256_hex(id.as_bytes())),
                )
            })
            .collect();
        let policy_path = dir.path().join("policy.toml");
        let roster_path = dir.path().join("roster.toml");
        std::fs::write(&policy_path, policy).unwrap();
        std::fs::write(&roster_path, roster_toml(&keys, &tokens)).unwrap();
        Env {
            data: dir.path().join("data"),
            store,
            policy: policy_path,
            roster: roster_path,
            dir,
            keys,
            tokens,
            server: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            webhooks: Vec::new(),
            client: Client::new("http://127.0.0.1:1"),
        }
    }

    /// A started server with the standard roster and `policy`.
    pub async fn start(policy: &str) -> Env {
        Env::new(policy).started().await
    }

    /// [`Env::sqlite`], started.
    pub async fn start_sqlite(policy: &str) -> Env {
        Env::sqlite(policy).started().await
    }

    /// [`Env::postgres`], started.
    pub async fn start_postgres(policy: &str) -> Env {
        Env::postgres(policy).started().await
    }

    async fn started(mut self) -> Env {
        self.boot().await;
        self
    }

    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.addr,
            data: self.data.clone(),
            store: self.store.clone(),
            policy: self.policy.clone(),
            roster: self.roster.clone(),
            tls: None,
            limits: Default::default(),
            webhooks: self.webhooks.clone(),
            keep_actions: gavel::server::prune::DEFAULT_KEEP,
        }
    }

    /// Starts the server (on the same port as before, if it ran before).
    pub async fn boot(&mut self) {
        // Restarted in this process, the server may find its data dir still locked for a
        // moment: a process another test spawns meanwhile holds a copy of the lock file's
        // descriptor (and so the lock) until it execs. Another holder is still an error.
        let mut tries = 0;
        let server = loop {
            match start(self.config()).await {
                Ok(server) => break server,
                Err(e) if tries < 100 && held_by_this_process(&e) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("server starts: {e:?}"),
            }
        };
        self.addr = server.addr();
        self.client = Client::new(&server.url());
        self.server = Some(server);
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn key(&self, id: &str) -> &PersonKey {
        &self.keys[id]
    }

    pub fn token(&self, agent: &str) -> &str {
        &self.tokens[agent]
    }

    pub async fn submit(&self, agent: &str, req: ActionRequest) -> ActionOutcome {
        self.client
            .submit(self.token(agent), &req)
            .await
            .expect("submit")
    }

    pub async fn act(&self, agent: &str, tool: &str, args: Value, session: &str) -> ActionOutcome {
        self.submit(agent, request(tool, args, session)).await
    }

    /// An agent's view of its action now, without waiting.
    pub async fn poll(
        &self,
        agent: &str,
        id: &str,
    ) -> Result<ActionOutcome, gavel::client::ClientError> {
        self.client
            .outcome(self.token(agent), id, Duration::ZERO)
            .await
    }

    /// refund-bot's refund of `amount` in session `s`, escalated for review, as approvers see it.
    pub async fn refund_review(&self, amount: f64) -> Escalation {
        let out = self
            .act(
                "refund-bot",
                "stripe.refund",
                json!({ "amount": amount }),
                "s",
            )
            .await;
        self.escalation(out.escalation.as_deref().expect("escalated"))
            .await
    }

    pub async fn escalation(&self, id: &str) -> Escalation {
        self.client
            .escalation(self.key("alice"), id)
            .await
            .expect("escalation")
    }

    /// Write the key of `id` to a 0600 file and return its path (for CLI tests).
    pub fn key_file(&self, id: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{id}.key"));
        if !path.exists() {
            self.keys[id].write_new(&path).unwrap();
        }
        path
    }

    /// Runs the gavel binary as `person` would: `words`, then `--server` and `--key`, with no
    /// `GAVEL_SERVER` or `GAVEL_KEY` from the test's environment.
    pub async fn run_as(&self, person: &str, words: &[&str]) -> std::process::Output {
        let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        args.extend([
            "--server".into(),
            self.url(),
            "--key".into(),
            self.key_file(person).display().to_string(),
        ]);
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
                .args(&args)
                .env_remove("GAVEL_SERVER")
                .env_remove("GAVEL_KEY")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }
}

pub fn request(tool: &str, args: Value, session: &str) -> ActionRequest {
    ActionRequest {
        tool: tool.into(),
        args,
        session: session.into(),
        on_behalf_of: None,
        rationale: Some("test".into()),
        cost: None,
        parent: None,
        context: json!({}),
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A console's stream connection, authenticated as `key`, with welcome and snapshot read.
pub async fn stream_as(url: &str, key: &PersonKey) -> (Ws, ServerMessage, ServerMessage) {
    let ws_url = Client::new(url).stream_url();
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("ws connect");
    let nonce = match next_msg(&mut ws).await {
        ServerMessage::Challenge { nonce } => nonce,
        other => panic!("expected challenge, got {other:?}"),
    };
    let signature = key.sign(
        Purpose::StreamAuth,
        &StreamAuth {
            nonce,
            person: key.id.clone(),
        },
    );
    let auth = ClientMessage::Auth {
        person: key.id.clone(),
        signature,
    };
    ws.send(Message::Text(serde_json::to_string(&auth).unwrap().into()))
        .await
        .unwrap();
    let welcome = next_msg(&mut ws).await;
    let snapshot = next_msg(&mut ws).await;
    (ws, welcome, snapshot)
}

/// The next server message, within 10 s.
pub async fn next_msg(ws: &mut Ws) -> ServerMessage {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a stream message within 10 s")
            .expect("stream open")
            .expect("stream message");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).expect("a ServerMessage"),
            Message::Close(f) => panic!("stream closed: {f:?}"),
            _ => continue,
        }
    }
}

/// Reads messages until `pred` matches one, within 10 s.
pub async fn wait_for<F: FnMut(&ServerMessage) -> bool>(ws: &mut Ws, mut pred: F) -> ServerMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, next_msg(ws))
            .await
            .expect("the awaited stream message");
        if pred(&msg) {
            return msg;
        }
    }
}

/// Whether `e` is the data dir held by this very process (a server it stopped).
fn held_by_this_process(e: &anyhow::Error) -> bool {
    use gavel::server::datadir::DataDirError;
    matches!(
        e.downcast_ref::<DataDirError>(),
        Some(DataDirError::InUse { holder, .. })
            if holder.starts_with(&format!("pid {},", std::process::id()))
    )
}
