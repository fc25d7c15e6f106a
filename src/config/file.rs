//! `gavel.toml`: one schema for every command, one loader, every unknown key refused with
//! file:line:col.
//!
//! - top-level keys: the server (`gavel serve --config FILE`);
//! - `[console]`: who you are and where your server is, for the console and every person command
//!   (`pending`, `decide`, `kill`);
//! - `[adapter]`: the Claude Code hook and the MCP gate;
//! - `[[webhook]]`: the server's paging webhooks ([`super::webhook`]).
//!
//! Paths in the file are relative to the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::webhook::{self, WebhookEntry, WebhookTable};
use super::{ConfigError, SourceFile, ENV_CONFIG};

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<SocketAddr>,
    pub data: Option<PathBuf>,
    /// `postgres://…`: the records live in PostgreSQL, shared by every replica.
    pub store: Option<String>,
    pub policy: Option<PathBuf>,
    pub roster: Option<PathBuf>,
    /// PEM certificate chain and private key: the server speaks HTTPS itself.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// How long the rows of allowed and denied calls are kept, as written; `parse` checks it
    /// into `keep_actions`.
    #[serde(rename = "keep_actions")]
    keep_actions_text: Option<toml::Spanned<String>>,
    #[serde(skip)]
    pub keep_actions: Option<std::time::Duration>,
    #[serde(default)]
    pub console: ConsoleTable,
    #[serde(default)]
    pub adapter: AdapterTable,
    /// `[[webhook]]` tables as written; `parse` checks them into `webhooks`.
    #[serde(default)]
    webhook: Vec<WebhookTable>,
    #[serde(skip)]
    pub webhooks: Vec<WebhookEntry>,
}

/// A person's settings: the console and the person commands.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleTable {
    /// One URL, several separated by commas, or a list: replicas to fail over between.
    #[serde(default, deserialize_with = "servers")]
    pub server: Option<Vec<String>>,
    pub key: Option<PathBuf>,
    /// A private CA (PEM) to trust for `https://` servers, beside the system's roots.
    pub ca_cert: Option<PathBuf>,
    pub theme: Option<String>,
    #[serde(default)]
    pub notifications: Notifications,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Notifications {
    /// Desktop notifications for escalations you may decide and deadlines under a minute.
    pub desktop: bool,
    /// The terminal bell for the same.
    pub bell: bool,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            desktop: true,
            bell: true,
        }
    }
}

/// The adapters' settings.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterTable {
    /// As `[console] server`.
    #[serde(default, deserialize_with = "servers")]
    pub server: Option<Vec<String>>,
    pub agent_token: Option<String>,
    pub on_behalf_of: Option<String>,
    /// The Claude Code hook's timeout in seconds.
    pub hook_timeout: Option<u64>,
    pub ca_cert: Option<PathBuf>,
}

/// `server = "https://a:7878"`, `"https://a:7878,https://b:7878"` or
/// `["https://a:7878", "https://b:7878"]`, as written (checked where a client is made, which
/// names the file in its error).
fn servers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "a server URL, several separated by commas, or a list of them"
    )]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}

impl ConfigFile {
    /// Parses `src`; relative paths become relative to `base` (the file's folder).
    pub fn parse(src: &SourceFile, base: &Path) -> Result<ConfigFile, ConfigError> {
        let mut file: ConfigFile = src.deserialize()?;
        let paths = [
            &mut file.data,
            &mut file.policy,
            &mut file.roster,
            &mut file.tls_cert,
            &mut file.tls_key,
            &mut file.console.key,
            &mut file.console.ca_cert,
            &mut file.adapter.ca_cert,
        ];
        for p in paths.into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        file.webhooks = webhook::check(std::mem::take(&mut file.webhook), src, base)?;
        if let Some(text) = &file.keep_actions_text {
            let keep = crate::duration::parse(text.get_ref(), crate::duration::KEEP_ACTIONS)
                .map_err(|e| src.error_at(text.span(), None, &format!("`keep_actions`: {e}")))?;
            file.keep_actions = Some(keep);
        }
        Ok(file)
    }

    /// Reads a file that must exist.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let src = SourceFile::read(path)?;
        Self::parse(&src, path.parent().unwrap_or(Path::new("")))
    }

    /// The person's own file: `GAVEL_CONFIG` (which must exist), else `gavel.toml` in the config
    /// dir (which may not).
    pub fn load_user() -> Result<ConfigFile, ConfigError> {
        match std::env::var_os(ENV_CONFIG).filter(|v| !v.is_empty()) {
            Some(path) => Self::load(Path::new(&path)),
            None => {
                let path = super::config_dir().join("gavel.toml");
                if path.exists() {
                    Self::load(&path)
                } else {
                    Ok(ConfigFile::default())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(
            &SourceFile::new("gavel.toml", text),
            Path::new("/etc/gavel"),
        )
    }

    #[test]
    fn one_file_holds_every_table() {
        let f = parse(
            "listen = \"127.0.0.1:7000\"\ndata = \"data\"\npolicy = \"/abs/policy.toml\"\n\
             [console]\nserver = \"https://g\"\nkey = \"alice.key\"\ntheme = \"light\"\n\
             [console.notifications]\nbell = false\n\
             [adapter]\nagent_token = \"t\"\nhook_timeout = 30\nca_cert = \"ca.pem\"\n",
        )
        .unwrap();
        assert_eq!(f.data, Some(PathBuf::from("/etc/gavel/data")));
        assert_eq!(f.policy, Some(PathBuf::from("/abs/policy.toml")));
        assert_eq!(f.console.key, Some(PathBuf::from("/etc/gavel/alice.key")));
        assert!(f.console.notifications.desktop && !f.console.notifications.bell);
        assert_eq!(f.adapter.hook_timeout, Some(30));
        assert_eq!(f.adapter.ca_cert, Some(PathBuf::from("/etc/gavel/ca.pem")));
        assert_eq!(f.console.server, Some(vec!["https://g".to_string()]));
        assert_eq!(parse("").unwrap(), ConfigFile::default());
    }

    #[test]
    fn keep_actions_is_a_duration_of_at_least_25_hours() {
        let f = parse("keep_actions = \"90d\"\n").unwrap();
        assert_eq!(
            f.keep_actions,
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
        for (text, says) in [
            ("keep_actions = \"1h\"\n", "at least 1d1h is needed"),
            ("keep_actions = \"31 days\"\n", "is not a duration"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with("gavel.toml:1:16")
                    && e.contains("`keep_actions`")
                    && e.contains(says),
                "{e}"
            );
        }
    }

    #[test]
    fn a_server_is_one_url_a_comma_list_or_a_list() {
        let f = parse(
            "[console]\nserver = \"https://a:1, https://b:1\"\n\
             [adapter]\nserver = [\"https://a:1\", \"https://b:1\"]\n",
        )
        .unwrap();
        assert_eq!(
            f.console.server,
            Some(vec!["https://a:1, https://b:1".into()])
        );
        assert_eq!(
            f.adapter.server,
            Some(vec!["https://a:1".into(), "https://b:1".into()])
        );
        let e = parse("[console]\nserver = 7878\n").unwrap_err().to_string();
        assert!(
            e.starts_with("gavel.toml:2") && e.contains("several separated by commas"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_line_and_table() {
        for (text, at, entry, what) in [
            (
                "[console]\nthme = \"x\"\n",
                "gavel.toml:2:1",
                "[console]",
                "thme",
            ),
            (
                "[adapter]\nserver = \"x\"\nagent_tokn = \"t\"\n",
                "gavel.toml:3:1",
                "[adapter]",
                "agent_tokn",
            ),
            ("lisen = \"x\"\n", "gavel.toml:1:1", "", "lisen"),
            (
                "[console.notifications]\ndesktop = \"yes\"\n",
                "gavel.toml:2:11",
                "[console.notifications]",
                "bool",
            ),
            (
                "[adapter]\nhook_timeout = -5\n",
                "gavel.toml:2:16",
                "[adapter]",
                "hook_timeout",
            ),
            ("listen = \"nowhere\"\n", "gavel.toml:1:10", "", "address"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(at), "{e}");
            assert!(e.contains(entry) && e.contains(what), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }
}
