//! Key bindings as data: an action enum with serde names, the defaults in an embedded TOML, a user
//! file in the config dir that overlays them, and a description per binding for the help popup.

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use toml::Spanned;

use super::settings::FileError;

pub const DEFAULT_KEYMAP: &str = include_str!("keymap.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextView,
    PrevView,
    Open,
    Back,
    Filter,
    Help,
    Quit,
    Approve,
    Deny,
    NextMine,
    Acknowledge,
    Incident,
    Toggle,
    StopAll,
    Confirm,
    Cancel,
    Grant,
    Revoke,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Global,
    Queue,
    Flagged,
    KillSwitches,
    History,
    Dialog,
    Grants,
}

impl Section {
    pub const ALL: [Section; 7] = [
        Section::Global,
        Section::Queue,
        Section::Flagged,
        Section::KillSwitches,
        Section::History,
        Section::Grants,
        Section::Dialog,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Section::Global => "global",
            Section::Queue => "queue",
            Section::Flagged => "flagged",
            Section::KillSwitches => "killswitches",
            Section::History => "history",
            Section::Dialog => "dialog",
            Section::Grants => "grants",
        }
    }
}

/// A key as written in a keymap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn parse(s: &str) -> Option<Key> {
        let mut key = Key {
            code: KeyCode::Null,
            ctrl: false,
            alt: false,
        };
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                key.ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                key.alt = true;
                rest = r;
            } else {
                break;
            }
        }
        key.code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.len() >= 2 && f.starts_with('f') => {
                KeyCode::F(f[1..].parse().ok().filter(|n| (1..=12).contains(n))?)
            }
            c => {
                let mut chars = c.chars();
                match (chars.next(), chars.next()) {
                    (Some(ch), None) => KeyCode::Char(ch),
                    _ => return None,
                }
            }
        };
        Some(key)
    }

    pub fn from_event(ev: &KeyEvent) -> Key {
        Key {
            code: match ev.code {
                // Some terminals report ctrl-letters as upper case; bindings use lower case.
                KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => {
                    KeyCode::Char(c.to_ascii_lowercase())
                }
                c => c,
            },
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(c) => c.to_string(),
            _ => "?".into(),
        };
        let mut s = String::new();
        if self.ctrl {
            s.push_str("Ctrl-");
        }
        if self.alt {
            s.push_str("Alt-");
        }
        s + &base
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub action: Action,
    pub desc: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    pub sections: Vec<(Section, Vec<Binding>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    #[serde(default)]
    global: Vec<Entry>,
    #[serde(default)]
    queue: Vec<Entry>,
    #[serde(default)]
    flagged: Vec<Entry>,
    #[serde(default)]
    killswitches: Vec<Entry>,
    #[serde(default)]
    history: Vec<Entry>,
    #[serde(default)]
    grants: Vec<Entry>,
    #[serde(default)]
    dialog: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    on: Vec<Spanned<String>>,
    run: Action,
    #[serde(default)]
    desc: Option<String>,
}

impl Default for Keymap {
    fn default() -> Self {
        // The embedded defaults are tested to parse.
        Keymap::parse(Path::new("keymap.toml (built in)"), DEFAULT_KEYMAP).unwrap_or(Keymap {
            sections: Vec::new(),
        })
    }
}

impl Keymap {
    pub fn parse(path: &Path, text: &str) -> Result<Keymap, FileError> {
        let file: KeymapFile = toml::from_str(text).map_err(|e| FileError::toml(path, text, &e))?;
        let mut sections = Vec::new();
        let raw = [
            (Section::Global, file.global),
            (Section::Queue, file.queue),
            (Section::Flagged, file.flagged),
            (Section::KillSwitches, file.killswitches),
            (Section::History, file.history),
            (Section::Grants, file.grants),
            (Section::Dialog, file.dialog),
        ];
        for (section, entries) in raw {
            let mut bindings = Vec::new();
            for (i, e) in entries.into_iter().enumerate() {
                let mut keys = Vec::new();
                for k in &e.on {
                    let key = Key::parse(k.get_ref()).ok_or_else(|| {
                        FileError::at(
                            path,
                            text,
                            k.span().start,
                            &format!("{}[{i}].on", section.name()),
                            format!("`{}` is not a key name (see the list at the top of the default keymap)", k.get_ref()),
                        )
                    })?;
                    keys.push(key);
                }
                bindings.push(Binding {
                    keys,
                    action: e.run,
                    desc: e.desc.unwrap_or_default(),
                });
            }
            sections.push((section, bindings));
        }
        Ok(Keymap { sections })
    }

    /// The defaults with a user file laid over them: a user entry replaces the default binding of
    /// the same action in the same section, and takes its keys away from any other binding there.
    pub fn overlay(mut self, user: Keymap) -> Keymap {
        for (section, user_bindings) in user.sections {
            let Some((_, base)) = self.sections.iter_mut().find(|(s, _)| *s == section) else {
                continue;
            };
            for ub in user_bindings {
                let desc = base
                    .iter()
                    .find(|b| b.action == ub.action)
                    .map(|b| b.desc.clone())
                    .unwrap_or_default();
                base.retain(|b| b.action != ub.action);
                for b in base.iter_mut() {
                    b.keys.retain(|k| !ub.keys.contains(k));
                }
                base.push(Binding {
                    desc: if ub.desc.is_empty() { desc } else { ub.desc },
                    ..ub
                });
            }
        }
        self
    }

    /// The default keymap, overlaid by `<config dir>/keymap.toml` when it exists.
    pub fn load(config_dir: &Path) -> Result<Keymap, FileError> {
        let path = config_dir.join("keymap.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Keymap::default().overlay(Keymap::parse(&path, &text)?)),
            Err(_) => Ok(Keymap::default()),
        }
    }

    pub fn bindings(&self, section: Section) -> &[Binding] {
        self.sections
            .iter()
            .find(|(s, _)| *s == section)
            .map(|(_, b)| b.as_slice())
            .unwrap_or(&[])
    }

    /// The action for a key in `section`, falling back to the global bindings (except in dialogs,
    /// where every other key is typed text).
    pub fn action(&self, section: Section, ev: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(ev);
        let find = |s: Section| {
            self.bindings(s)
                .iter()
                .find(|b| b.keys.contains(&key))
                .map(|b| b.action)
        };
        find(section).or_else(|| {
            if section == Section::Dialog {
                None
            } else {
                find(Section::Global)
            }
        })
    }

    /// The first key bound to an action, for hints ("a approve").
    pub fn key_for(&self, section: Section, action: Action) -> String {
        [section, Section::Global]
            .iter()
            .flat_map(|s| self.bindings(*s))
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map(|k| k.label())
            .unwrap_or_else(|| "(unbound)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn defaults_parse_and_resolve_by_section() {
        let km = Keymap::default();
        assert!(!km.bindings(Section::Global).is_empty());
        assert_eq!(
            km.action(Section::Queue, &ev(KeyCode::Char('a'))),
            Some(Action::Approve)
        );
        assert_eq!(
            km.action(Section::Flagged, &ev(KeyCode::Char('a'))),
            Some(Action::Acknowledge)
        );
        assert_eq!(
            km.action(Section::Queue, &ev(KeyCode::Char('j'))),
            Some(Action::Down)
        );
        assert_eq!(km.action(Section::Dialog, &ev(KeyCode::Char('j'))), None);
        assert_eq!(
            km.action(
                Section::Queue,
                &KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit)
        );
        for (_, bs) in &km.sections {
            for b in bs {
                assert!(!b.desc.is_empty(), "{b:?} has no description");
            }
        }
    }

    #[test]
    fn user_file_rebinds() {
        let user = Keymap::parse(
            Path::new("k.toml"),
            "[[queue]]\non = [\"y\", \"a\"]\nrun = \"deny\"\n",
        )
        .unwrap();
        let km = Keymap::default().overlay(user);
        assert_eq!(
            km.action(Section::Queue, &ev(KeyCode::Char('y'))),
            Some(Action::Deny)
        );
        assert_eq!(
            km.action(Section::Queue, &ev(KeyCode::Char('a'))),
            Some(Action::Deny)
        );
        assert_eq!(km.action(Section::Queue, &ev(KeyCode::Char('d'))), None);
        assert_eq!(km.key_for(Section::Queue, Action::Approve), "(unbound)");
    }

    #[test]
    fn bad_files_name_file_line_and_key() {
        let e = Keymap::parse(
            Path::new("k.toml"),
            "[[queue]]\non = [\"a\", \"hyper-q\"]\nrun = \"deny\"\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string().split(": ").next(), Some("k.toml:2"));
        assert!(
            e.to_string().contains("queue[0].on") && e.to_string().contains("hyper-q"),
            "{e}"
        );
        let e = Keymap::parse(
            Path::new("k.toml"),
            "[[queue]]\non = [\"a\"]\nrun = \"launch\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("k.toml:3: queue.run: "), "{e}");
        assert!(e.to_string().contains("launch"), "{e}");
    }
}
