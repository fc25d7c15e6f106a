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
            self.error_at(span, entry.as_deref(), e.message())
        })
    }

    /// `rule "id"` (or person/agent) for the `[[…]]` block containing `offset`.
    fn entry_around(&self, offset: usize) -> Option<String> {
        let mut kind = None;
        let mut start = None;
        for name in ["rule", "person", "agent"] {
            let h = format!("[[{name}]]");
            if let Some(pos) = self.text[..offset.min(self.text.len())].rfind(&h) {
                if start.is_none_or(|s| pos > s) {
                    start = Some(pos);
                    kind = Some(name);
                }
            }
        }
        let (start, kind) = (start?, kind?);
        let block = &self.text[start..];
        let end = block[2..].find("[[").map(|e| e + 2).unwrap_or(block.len());
        let block = &block[..end];
        let id = block.lines().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("id")?.trim_start().strip_prefix('=')?.trim();
            Some(rest.trim_matches('"').to_string())
        });
        Some(match id {
            Some(id) => format!("{kind} \"{id}\""),
            None => kind.to_string(),
        })
    }
}
