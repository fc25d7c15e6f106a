//! Clients with several servers (replicas): the CLI, the client library, the adapters and the
//! console move to the next server only when one does not answer or answers 503, never after
//! a refusal, never resend a one-shot signed request that may have landed, and deny when no
//! server answers. Real servers on loopback (two with one roster stand in for replicas until
//! they share PostgreSQL), a port where nothing listens, and real listeners that answer 503 or
//! hang up mid-request.

mod common;
#[path = "failover/fakes.rs"]
mod fakes;

#[path = "failover/adapters.rs"]
mod adapters;
#[path = "failover/cli.rs"]
mod cli;
#[path = "failover/client.rs"]
mod client;
#[path = "failover/console.rs"]
mod console;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Env, PEOPLE};
use gavel::protocol::PersonKey;

/// A second server with `a`'s roster (the same people's keys, the same agents' tokens) and a
/// store of its own: a stand-in replica.
pub async fn twin(a: &Env, policy: &str) -> Env {
    let mut b = Env::new(policy);
    b.keys = PEOPLE
        .iter()
        .map(|(id, _, _)| {
            let key = PersonKey::read(&a.key_file(id)).expect("read the twin's key");
            (id.to_string(), key)
        })
        .collect();
    b.tokens = a.tokens.clone();
    std::fs::write(&b.roster, common::roster_toml(&b.keys, &b.tokens)).expect("roster");
    b.boot().await;
    b
}

/// An empty config file, so a developer's own never leaks in.
pub fn empty_config(env: &Env) -> PathBuf {
    let p = env.dir.path().join("empty-gavel.toml");
    std::fs::write(&p, "").expect("write config");
    p
}

/// Runs the gavel binary with `args` and `vars`, nothing from the test's own `GAVEL_*`.
pub async fn gavel(args: &[&str], vars: &[(&str, &str)], config: &Path) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(&args)
            .env_remove("GAVEL_SERVER")
            .env_remove("GAVEL_KEY")
            .env_remove("GAVEL_CA_CERT")
            .env("GAVEL_CONFIG", &config)
            .envs(vars)
            .output()
            .expect("run gavel")
    })
    .await
    .expect("join")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
