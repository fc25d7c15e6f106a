//! Colours named by meaning, loaded from `themes/*.toml`. The built-ins are embedded so the console
//! looks right from any directory; a user theme lives in `<config dir>/themes/NAME.toml` or is
//! given as a path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

use super::palette::ColorSupport;
use super::settings::FileError;

pub const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Every colour a theme must name.
const KEYS: [&str; 18] = [
    "text",
    "muted",
    "background",
    "accent",
    "border",
    "selection_fg",
    "selection_bg",
    "pending",
    "approved",
    "denied",
    "expired",
    "danger",
    "warning",
    "ok",
    "json_key",
    "json_string",
    "json_number",
    "json_literal",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub text: Color,
    pub muted: Color,
    pub background: Color,
    pub accent: Color,
    pub border: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub pending: Color,
    pub approved: Color,
    pub denied: Color,
    pub expired: Color,
    pub danger: Color,
    pub warning: Color,
    pub ok: Color,
    pub json_key: Color,
    pub json_string: Color,
    pub json_number: Color,
    pub json_literal: Color,
    /// Colours were dropped (`NO_COLOR`): emphasis alone must carry selection and state.
    pub no_color: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    colors: BTreeMap<Spanned<String>, Spanned<String>>,
}

impl Default for Theme {
    fn default() -> Self {
        // The embedded dark theme is tested to parse.
        Theme::parse(Path::new("themes/dark.toml"), BUILT_IN[0].1).unwrap_or_else(|_| Theme {
            name: "fallback".into(),
            text: Color::Reset,
            muted: Color::Gray,
            background: Color::Reset,
            accent: Color::Cyan,
            border: Color::Gray,
            selection_fg: Color::Black,
            selection_bg: Color::White,
            pending: Color::Yellow,
            approved: Color::Green,
            denied: Color::Red,
            expired: Color::Magenta,
            danger: Color::Red,
            warning: Color::Yellow,
            ok: Color::Green,
            json_key: Color::Blue,
            json_string: Color::Green,
            json_number: Color::Yellow,
            json_literal: Color::Magenta,
            no_color: false,
        })
    }
}

impl Theme {
    pub fn built_in(name: &str) -> Option<Theme> {
        BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(n, text)| Theme::parse(Path::new(&format!("themes/{n}.toml")), text).ok())
    }

    /// A built-in name, a user theme `<config dir>/themes/NAME.toml`, or a path to a file.
    pub fn load(name_or_path: &str, config_dir: &Path) -> Result<Theme, FileError> {
        let user = config_dir
            .join("themes")
            .join(format!("{name_or_path}.toml"));
        let path: PathBuf = if user.is_file() {
            user
        } else if let Some(t) = Theme::built_in(name_or_path) {
            return Ok(t);
        } else {
            PathBuf::from(name_or_path)
        };
        let text = std::fs::read_to_string(&path).map_err(|e| FileError {
            file: path.display().to_string(),
            line: None,
            key: None,
            message: format!(
                "no such theme: not a built-in ({}), not {}, and not a readable file ({e})",
                BUILT_IN.map(|b| b.0).join(", "),
                config_dir
                    .join("themes")
                    .join(format!("{name_or_path}.toml"))
                    .display()
            ),
        })?;
        Theme::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Theme, FileError> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| FileError::toml(path, text, &e))?;
        let mut colors: BTreeMap<&str, Color> = BTreeMap::new();
        for (key, value) in &file.colors {
            let full_key = format!("colors.{}", key.get_ref());
            let at =
                |message: String| FileError::at(path, text, key.span().start, &full_key, message);
            if !KEYS.contains(&key.get_ref().as_str()) {
                return Err(at(format!(
                    "unknown colour name; a theme names: {}",
                    KEYS.join(", ")
                )));
            }
            let color = parse_color(value.get_ref()).ok_or_else(|| {
                FileError::at(
                    path,
                    text,
                    value.span().start,
                    &full_key,
                    format!(
                        "`{}` is not a colour: use #rrggbb, a terminal colour name or \"reset\"",
                        value.get_ref()
                    ),
                )
            })?;
            colors.insert(key.get_ref().as_str(), color);
        }
        if let Some(missing) = KEYS.iter().find(|k| !colors.contains_key(*k)) {
            return Err(FileError {
                file: path.display().to_string(),
                line: None,
                key: Some(format!("colors.{missing}")),
                message: "missing: every colour must be set".into(),
            });
        }
        let c = |k: &str| colors.get(k).copied().unwrap_or(Color::Reset);
        Ok(Theme {
            name: file.name.unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }),
            text: c("text"),
            muted: c("muted"),
            background: c("background"),
            accent: c("accent"),
            border: c("border"),
            selection_fg: c("selection_fg"),
            selection_bg: c("selection_bg"),
            pending: c("pending"),
            approved: c("approved"),
            denied: c("denied"),
            expired: c("expired"),
            danger: c("danger"),
            warning: c("warning"),
            ok: c("ok"),
            json_key: c("json_key"),
            json_string: c("json_string"),
            json_number: c("json_number"),
            json_literal: c("json_literal"),
            no_color: false,
        })
    }

    /// This theme as a terminal with `support` can show it: every colour brought down to the
    /// 16 ANSI colours or xterm's 256, or dropped for `NO_COLOR`.
    pub fn for_terminal(mut self, support: ColorSupport) -> Theme {
        for c in [
            &mut self.text,
            &mut self.muted,
            &mut self.background,
            &mut self.accent,
            &mut self.border,
            &mut self.selection_fg,
            &mut self.selection_bg,
            &mut self.pending,
            &mut self.approved,
            &mut self.denied,
            &mut self.expired,
            &mut self.danger,
            &mut self.warning,
            &mut self.ok,
            &mut self.json_key,
            &mut self.json_string,
            &mut self.json_number,
            &mut self.json_literal,
        ] {
            *c = support.map(*c);
        }
        self.no_color = support == ColorSupport::None;
        self
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.text).bg(self.background)
    }
    pub fn fg(&self, c: Color) -> Style {
        Style::default().fg(c)
    }
    pub fn muted(&self) -> Style {
        self.fg(self.muted)
    }
    pub fn accent(&self) -> Style {
        self.fg(self.accent).add_modifier(Modifier::BOLD)
    }
    pub fn border(&self) -> Style {
        self.fg(self.border)
    }
    pub fn selected(&self) -> Style {
        let style = Style::default()
            .fg(self.selection_fg)
            .bg(self.selection_bg)
            .add_modifier(Modifier::BOLD);
        // Without colours the selection is reverse video, which every terminal shows.
        if self.no_color {
            style.add_modifier(Modifier::REVERSED)
        } else {
            style
        }
    }
}

fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    Color::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_parse() {
        for (name, text) in BUILT_IN {
            let t = Theme::parse(Path::new(name), text).unwrap();
            assert_eq!(t.name, name);
        }
    }

    #[test]
    fn bad_colour_names_file_line_and_key() {
        let text = BUILT_IN[0]
            .1
            .replace("pending = \"#ebcb8b\"", "pending = \"sunset\"");
        let e = Theme::parse(Path::new("mine.toml"), &text).unwrap_err();
        let msg = e.to_string();
        let line = text.lines().position(|l| l.contains("sunset")).unwrap() + 1;
        assert!(
            msg.starts_with(&format!("mine.toml:{line}: colors.pending:")),
            "{msg}"
        );
        assert!(msg.contains("sunset"), "{msg}");
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let text = BUILT_IN[0].1.replace("accent =", "acent =");
        let msg = Theme::parse(Path::new("t.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("colors.acent") && msg.contains("unknown colour name"),
            "{msg}"
        );
        let text = BUILT_IN[0].1.replace("ok = \"#a3be8c\"\n", "");
        let msg = Theme::parse(Path::new("t.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("colors.ok") && msg.contains("missing"),
            "{msg}"
        );
        let msg = Theme::parse(Path::new("t.toml"), "colors = 3")
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("t.toml:1"), "{msg}");
    }
}
