//! Configuration every command shares: where a person's files live, the environment variables
//! every command honours, and `gavel.toml` (one schema, one loader: [`file`]), with precise
//! errors for every file a person writes ([`source`]).

pub mod file;
pub mod source;
pub mod webhook;

use std::path::PathBuf;

use crate::client::Servers;

pub use file::{AdapterTable, ConfigFile, ConsoleTable, Notifications};
pub use source::{ConfigError, SourceFile};

pub const ENV_SERVER: &str = "GAVEL_SERVER";
pub const ENV_KEY: &str = "GAVEL_KEY";
pub const ENV_AGENT_TOKEN: &str = "GAVEL_AGENT_TOKEN";
pub const ENV_ON_BEHALF_OF: &str = "GAVEL_ON_BEHALF_OF";
pub const ENV_CONFIG: &str = "GAVEL_CONFIG";
pub const ENV_CA_CERT: &str = "GAVEL_CA_CERT";

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7878";

pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "gavel", "gavel")
}

/// `~/.config/gavel` on Linux.
pub fn config_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".gavel"))
}

/// Where the console writes its log file.
pub fn state_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".gavel"))
}

/// Default location of a person's private key written by `gavel keygen --id ID`.
pub fn default_key_path(id: &str) -> PathBuf {
    config_dir().join("keys").join(format!("{id}.key"))
}

/// The key to use when none was given: `GAVEL_KEY`, else the only key in the keys folder.
pub fn find_key(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os(ENV_KEY) {
        return Ok(PathBuf::from(p));
    }
    let dir = config_dir().join("keys");
    let keys: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "key"))
                .collect()
        })
        .unwrap_or_default();
    match keys.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "no key given: pass --key FILE, set {ENV_KEY}, or run `gavel keygen --id YOU` (writes {})",
            dir.display()
        )),
        _ => Err(format!(
            "several keys in {}: choose one with --key FILE or {ENV_KEY}",
            dir.display()
        )),
    }
}

/// Who a person is and which servers they talk to, for the console and every person command.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonSettings {
    /// One server, or replicas to fail over between.
    pub servers: Servers,
    pub key: PathBuf,
    pub ca_cert: Option<PathBuf>,
}

/// Flags win over the environment, which wins over the `[console]` table of the user's file.
/// `servers` are the `--server` flags as given (none, one, several, each possibly a
/// comma-separated list).
pub fn person_settings(
    servers: &[String],
    key: Option<PathBuf>,
    ca_cert: Option<PathBuf>,
    file: &ConsoleTable,
) -> Result<PersonSettings, String> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let servers = ServerList::pick(
        servers,
        env(ENV_SERVER).map(|v| v.to_string_lossy().into_owned()),
        file.server.as_deref(),
        "[console] server",
    )
    .parse()?;
    let key = match key
        .or_else(|| env(ENV_KEY).map(PathBuf::from))
        .or_else(|| file.key.clone())
    {
        Some(k) => k,
        None => find_key(None)?,
    };
    let ca_cert = ca_cert
        .or_else(|| env(ENV_CA_CERT).map(PathBuf::from))
        .or_else(|| file.ca_cert.clone());
    Ok(PersonSettings {
        servers,
        key,
        ca_cert,
    })
}

/// Server URLs as given, not yet checked, and where they came from (which a bad one's error
/// names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerList {
    pub values: Vec<String>,
    pub from: String,
}

impl ServerList {
    /// The `--server` flags, else `GAVEL_SERVER`, else the config file's `table` (`[console]
    /// server`, `[adapter] server`), else the default. One source wins whole: flags never
    /// add to the environment's list.
    pub fn pick(
        flags: &[String],
        env: Option<String>,
        file: Option<&[String]>,
        table: &str,
    ) -> ServerList {
        let (values, from) = if !flags.is_empty() {
            (flags.to_vec(), "--server".to_string())
        } else if let Some(v) = env {
            (vec![v], ENV_SERVER.to_string())
        } else if let Some(v) = file {
            (v.to_vec(), format!("{table} in the config file"))
        } else {
            (vec![DEFAULT_SERVER.to_string()], "the default".to_string())
        };
        ServerList { values, from }
    }

    /// The checked list; an error names where the bad one came from.
    pub fn parse(&self) -> Result<Servers, String> {
        Servers::parse(&self.values).map_err(|e| format!("{}: {e}", self.from))
    }
}
