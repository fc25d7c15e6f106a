//! The console's settings: the `[console]` table of the user's `gavel.toml` (read by the one loader
//! in [`crate::config::file`]), overridden by environment variables, overridden by flags; and the
//! precise one-line errors for the theme and keymap files.

use std::path::{Path, PathBuf};

use crate::config::{person_settings, PersonSettings};

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

pub use crate::config::{ConsoleTable, Notifications};

/// Everything the console needs to start, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub person: PersonSettings,
    pub theme: String,
    pub notifications: Notifications,
    pub config_dir: PathBuf,
}

/// Flags win over environment variables, which win over the `[console]` table of the file.
pub fn resolve(
    flag_server: &[String],
    flag_key: Option<PathBuf>,
    flag_theme: Option<String>,
    flag_ca_cert: Option<PathBuf>,
    file: ConsoleTable,
) -> anyhow::Result<Settings> {
    let person =
        person_settings(flag_server, flag_key, flag_ca_cert, &file).map_err(anyhow::Error::msg)?;
    Ok(Settings {
        person,
        theme: flag_theme.or(file.theme).unwrap_or_else(|| "dark".into()),
        notifications: file.notifications,
        config_dir: crate::config::config_dir(),
    })
}
