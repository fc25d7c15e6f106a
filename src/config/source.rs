//! One-line, precise errors for the files people write: `file:line:col: entry: message`.

use std::fmt;
use std::ops::Range;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub entry: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        if let Some(e) = &self.entry {
            write!(f, ": {e}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A config file's name and text, for mapping byte offsets to line and column.
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(SourceFile { name, text }),
            Err(e) => Err(ConfigError {
                file: name,
                line: 0,
                col: 0,
                entry: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    pub fn error_at(&self, span: Range<usize>, entry: Option<&str>, message: &str) -> ConfigError {
        let (line, col) = self.line_col(span.start);
        ConfigError {
            file: self.name.clone(),
            line,
            col,
            entry: entry.map(str::to_string),
            message: message.replace('\n', " "),
        }
    }

    /// Deserialises the whole file; an error names the `[[table]]` entry it falls in by its id.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let entry = self.entry_around(span.start);
            // toml names the position, not always the key: name the key the line assigns.
            let message = match self.key_at(span.start) {
                Some(key) if !e.message().contains(&format!("`{key}`")) => {
                    format!("`{key}`: {}", e.message())
                }
                _ => e.message().to_string(),
            };
            self.error_at(span, entry.as_deref(), &message)
        })
    }

    /// The key a `key = value` line at `offset` assigns, if it is one.
    fn key_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let start = self.text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next()?;
        let (key, _) = line.split_once('=')?;
        let key = key.trim().trim_matches('"');
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        plain.then(|| key.to_string())
    }

    /// What the error falls in: `rule "id"` (or person/agent) for a `[[…]]` block, by its id;
    /// `[table]` for a table.
    fn entry_around(&self, offset: usize) -> Option<String> {
        let mut header: Option<(&str, usize)> = None;
        let mut pos = 0;
        for line in self.text.split_inclusive('\n') {
            if pos > offset {
                break;
            }
            let t = line.trim();
            if t.starts_with('[') && !t.starts_with("[ ") {
                header = Some((t, pos));
            }
            pos += line.len();
        }
        let (header, start) = header?;
        if let Some(rest) = header.strip_prefix("[[") {
            let kind = rest.split("]]").next()?.trim();
            let block = &self.text[start + header.len()..];
            let end = block.find("\n[").map(|e| e + 1).unwrap_or(block.len());
            let id = block[..end].lines().find_map(|l| {
                let rest = l
                    .trim()
                    .strip_prefix("id")?
                    .trim_start()
                    .strip_prefix('=')?;
                Some(rest.trim().trim_matches('"').to_string())
            });
            return Some(match id {
                Some(id) => format!("{kind} \"{id}\""),
                None => kind.to_string(),
            });
        }
        let name = header.strip_prefix('[')?.split(']').next()?.trim();
        Some(format!("[{name}]"))
    }
}
