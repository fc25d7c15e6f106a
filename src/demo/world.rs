//! The demo's world: a temporary data dir with the example policy, a roster of demo people and
//! agents, their keys and tokens. Also used by the console's end-to-end tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::protocol::canonical::sha256_hex;
use crate::protocol::PersonKey;
use crate::server::ServerConfig;

/// The example policy, embedded so the demo works from any directory.
pub const POLICY: &str = include_str!("../../assets/policy.toml");

/// Every group the example policy names.
pub const GROUPS: [&str; 5] = ["finance", "comms", "release", "dba", "sre"];

pub const YOU: &str = "you";
pub const COLLEAGUE: &str = "sam";
pub const OWNER: &str = "dana";

/// Agent id, owner, the people it acts for. You own db-agent, so `separate_owner` rules refuse
/// you there; refund-bot sometimes acts for you, and then only someone else may approve.
pub const AGENTS: [(&str, &str, &[&str]); 5] = [
    ("refund-bot", OWNER, &[OWNER, YOU]),
    ("mailer", OWNER, &[OWNER]),
    ("db-agent", YOU, &[]),
    ("deployer", OWNER, &[OWNER]),
    // The runaway (`demo::runaway`).
    ("crawler", OWNER, &[]),
];

pub struct World {
    pub dir: PathBuf,
    pub you: PersonKey,
    pub colleague: PersonKey,
    /// (agent id, bearer token)
    pub tokens: Vec<(String, String)>,
    pub config: ServerConfig,
    pub your_key_file: PathBuf,
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("gvl_demo_{}", hex::encode(bytes))
}

impl World {
    /// Writes policy, roster and keys into `dir`; the server will keep its data in `dir/data`.
    pub fn create(dir: &Path, listen: SocketAddr) -> anyhow::Result<World> {
        let you = PersonKey::generate(YOU);
        let colleague = PersonKey::generate(COLLEAGUE);
        let owner = PersonKey::generate(OWNER);
        let groups = GROUPS.map(|g| format!("\"{g}\"")).join(", ");
        let mut roster = String::from("# gavel demo roster (generated)\n");
        roster.push_str(&format!(
            "\n[[person]]\nid = \"{YOU}\"\nname = \"You (demo)\"\nkey = \"{}\"\nroles = [\"approver\", \"lead\", \"operator\"]\ngroups = [{groups}]\n",
            you.public()
        ));
        roster.push_str(&format!(
            "\n[[person]]\nid = \"{COLLEAGUE}\"\nname = \"Sam Rivera\"\nkey = \"{}\"\nroles = [\"approver\", \"lead\"]\ngroups = [{groups}]\n",
            colleague.public()
        ));
        roster.push_str(&format!(
            "\n[[person]]\nid = \"{OWNER}\"\nname = \"Dana Fox\"\nkey = \"{}\"\nroles = [\"approver\"]\ngroups = [{groups}]\n",
            owner.public()
        ));
        let mut tokens = Vec::new();
        for (agent, owner, acts_for) in AGENTS {
            let t = token();
            let acts_for: Vec<String> = acts_for.iter().map(|p| format!("\"{p}\"")).collect();
            let acts_for = acts_for.join(", ");
            roster.push_str(&format!(
                "\n[[agent]]\nid = \"{agent}\"\nowner = \"{owner}\"\nacts_for = [{acts_for}]\ntoken_sha256 = \"{}\"\n",
                sha256_hex(t.as_bytes())
            ));
            tokens.push((agent.to_string(), t));
        }
        let policy = dir.join("policy.toml");
        let roster_path = dir.join("roster.toml");
        std::fs::write(&policy, POLICY).context("writing the demo policy")?;
        std::fs::write(&roster_path, roster).context("writing the demo roster")?;
        let your_key_file = dir.join("you.key");
        you.write_new(&your_key_file)?;
        colleague.write_new(&dir.join("colleague.key"))?;
        Ok(World {
            dir: dir.to_path_buf(),
            you,
            colleague,
            tokens,
            config: ServerConfig {
                listen,
                data: dir.join("data"),
                store: None,
                policy,
                roster: roster_path,
                tls: None,
                limits: Default::default(),
                webhooks: Vec::new(),
                keep_actions: crate::server::prune::DEFAULT_KEEP,
            },
            your_key_file,
        })
    }

    pub fn token(&self, agent: &str) -> &str {
        self.tokens
            .iter()
            .find(|(a, _)| a == agent)
            .map(|(_, t)| t.as_str())
            .unwrap_or("")
    }

    pub fn colleague_key(&self) -> anyhow::Result<PersonKey> {
        Ok(PersonKey::read(&self.dir.join("colleague.key"))?)
    }

    /// A fresh copy of your key (keys are not Clone on purpose).
    pub fn your_key(&self) -> anyhow::Result<PersonKey> {
        Ok(PersonKey::read(&self.your_key_file)?)
    }
}
