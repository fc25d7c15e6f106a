//! The console's settings: the `[console]` table of the user's `gavel.toml` in the config dir (or
//! `GAVEL_CONFIG`; the adapters read `[adapter]` from the same file), overridden by environment
//! variables, overridden by flags. Bad files get one precise line: file, line, key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{ENV_CONFIG, ENV_KEY, ENV_SERVER};

/// A problem in a file the user wrote, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(": {k}")).unwrap_or_default())]
pub struct FileError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl FileError {
    pub fn at(path: &Path, text: &str, offset: usize, key: &str, message: String) -> FileError {
        FileError {
            file: path.display().to_string(),
            line: Some(line_of(text, offset)),
            key: Some(key.to_string()),
            message,
        }
    }

    pub fn toml(path: &Path, text: &str, e: &toml::de::Error) -> FileError {
        let line = e.span().map(|s| line_of(text, s.start));
        FileError {
            file: path.display().to_string(),
            line,
            // toml names the position, not the key; the key is what that line assigns.
            key: line.and_then(|l| key_on_line(text, l)),
            message: e.message().trim().to_string(),
        }
    }
}

/// The key a `key = value` line assigns, if it is one.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = l.split_once('=')?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c))
    {
        return None;
    }
    let key = key.trim_matches('"');
    // Inside `[table]` or `[[array]]`, name the table too.
    let table = text
        .lines()
        .take(line - 1)
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .map(|t| t.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        })
        .last();
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// The user's `gavel.toml`: the console reads only its own table; others belong to the adapters.
#[derive(Debug, Default, Deserialize)]
struct UserFile {
    #[serde(default)]
    console: ConsoleFile,
}

/// The `[console]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleFile {
    pub server: Option<String>,
    pub key: Option<PathBuf>,
    pub theme: Option<String>,
    #[serde(default)]
    pub notifications: Notifications,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
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

/// Everything the console needs to start, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: String,
    pub key: PathBuf,
    pub theme: String,
    pub notifications: Notifications,
    pub config_dir: PathBuf,
}

impl ConsoleFile {
    pub fn parse(path: &Path, text: &str) -> Result<ConsoleFile, FileError> {
        toml::from_str::<UserFile>(text)
            .map(|f| f.console)
            .map_err(|e| FileError::toml(path, text, &e))
    }

    /// `GAVEL_CONFIG`, else `<config dir>/gavel.toml`; a missing default file is no error.
    pub fn load() -> Result<ConsoleFile, FileError> {
        let explicit = std::env::var_os(ENV_CONFIG).map(PathBuf::from);
        let path = explicit
            .clone()
            .unwrap_or_else(|| crate::config::config_dir().join("gavel.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => ConsoleFile::parse(&path, &text),
            Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(ConsoleFile::default())
            }
            Err(e) => Err(FileError {
                file: path.display().to_string(),
                line: None,
                key: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
}

/// Flags win over environment variables, which win over the file.
pub fn resolve(
    flag_server: Option<String>,
    flag_key: Option<PathBuf>,
    flag_theme: Option<String>,
    file: ConsoleFile,
) -> anyhow::Result<Settings> {
    let server = flag_server
        .or_else(|| std::env::var(ENV_SERVER).ok().filter(|s| !s.is_empty()))
        .or(file.server)
        .unwrap_or_else(|| crate::config::DEFAULT_SERVER.to_string());
    let key = match flag_key
        .or_else(|| std::env::var_os(ENV_KEY).map(PathBuf::from))
        .or(file.key)
    {
        Some(k) => k,
        None => crate::config::find_key(None).map_err(anyhow::Error::msg)?,
    };
    Ok(Settings {
        server,
        key,
        theme: flag_theme.or(file.theme).unwrap_or_else(|| "dark".into()),
        notifications: file.notifications,
        config_dir: crate::config::config_dir(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_file_errors_name_line_and_key() {
        let text =
            "[adapter]\nserver = \"http://x\"\n\n[console.notifications]\ndesktop = \"yes\"\n";
        let e = ConsoleFile::parse(Path::new("gavel.toml"), text).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert_eq!(
            e.key.as_deref(),
            Some("console.notifications.desktop"),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("gavel.toml:5: console.notifications.desktop: "),
            "{e}"
        );
        let e =
            ConsoleFile::parse(Path::new("gavel.toml"), "[console]\nthme = \"x\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("console.thme")),
            "{e}"
        );
        let ok = ConsoleFile::parse(
            Path::new("c"),
            "[adapter]\nagent_token = \"t\"\n[console]\ntheme = \"light\"\n[console.notifications]\nbell = false",
        )
        .unwrap();
        assert_eq!(ok.theme.as_deref(), Some("light"));
        assert!(ok.notifications.desktop && !ok.notifications.bell);
    }
}
