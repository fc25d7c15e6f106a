//! Paging webhooks end to end: a real server started with `[[webhook]]` tables from a config
//! file, a real local HTTP receiver, real Standard Webhooks signatures.

mod common;

#[path = "webhooks/receiver.rs"]
mod receiver;

#[path = "webhooks/config.rs"]
mod config;
#[path = "webhooks/delivery.rs"]
mod delivery;
#[path = "webhooks/formats.rs"]
mod formats;

use common::Env;
use gavel::config::ConfigFile;

/// Two Standard Webhooks secrets (24 and 32 random bytes, base64).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OTHER_SECRET: &str = "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

/// Writes `tables` as the server's config file and gives the server its webhooks, the way
/// `gavel serve --config` reads them.
pub fn configure(env: &mut Env, tables: &str) {
    let path = env.dir.path().join("gavel.toml");
    std::fs::write(&path, tables).unwrap();
    env.webhooks = ConfigFile::load(&path).expect("a valid config").webhooks;
}
