//! Key bindings as data: an action enum with serde names, the defaults in an embedded TOML, a user
//! file in the config dir that overlays them, and a description per binding for the help popup.

use std::path::Path;

use crossterm::event::KeyEvent;
use serde::Deserialize;
use toml::Spanned;

pub use super::key_names::Key;
use super::settings::{line_of, FileError};

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
    PriorArgs,
    Acknowledge,
    Incident,
    Toggle,
    StopAll,
    Extend,
    Claim,
    Snooze,
    Reassign,
    ShowSnoozed,
    Confirm,
    Cancel,
    Mark,
    ClearMarks,
    DenyAll,
    Search,
    Refresh,
    /// In a dialog with two text fields: move to the other one.
    NextField,
    Grant,
    Revoke,
    /// Go to the Budgets view.
    Budgets,
    /// Reset the selected breaker (operators).
    Reset,
    /// The Metrics view's window: the next shorter or longer one.
    ShorterWindow,
    LongerWindow,
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
    Audit,
    Grants,
    Budgets,
    Metrics,
}

impl Section {
    pub const ALL: [Section; 10] = [
        Section::Global,
        Section::Queue,
        Section::Flagged,
        Section::KillSwitches,
        Section::History,
        Section::Audit,
        Section::Grants,
        Section::Budgets,
        Section::Metrics,
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
            Section::Audit => "audit",
            Section::Grants => "grants",
            Section::Budgets => "budgets",
            Section::Metrics => "metrics",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub action: Action,
    pub desc: String,
    /// Where the binding was written, so a conflict can name the file and line.
    pub source: Source,
}

/// A file and line in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
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
    #[serde(default)]
    audit: Vec<Entry>,
    #[serde(default)]
    budgets: Vec<Entry>,
    #[serde(default)]
    metrics: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    on: Spanned<Vec<Spanned<String>>>,
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
            (Section::Audit, file.audit),
            (Section::Budgets, file.budgets),
            (Section::Metrics, file.metrics),
        ];
        for (section, entries) in raw {
            let mut bindings = Vec::new();
            for (i, e) in entries.into_iter().enumerate() {
                let mut keys = Vec::new();
                for k in e.on.get_ref() {
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
                let at = e.on.span().start;
                bindings.push(Binding {
                    keys,
                    action: e.run,
                    desc: e.desc.unwrap_or_default(),
                    source: Source {
                        file: path.display().to_string(),
                        line: line_of(text, at),
                    },
                });
            }
            sections.push((section, bindings));
        }
        Ok(Keymap { sections })
    }

    /// The defaults with a user file laid over them: a user entry replaces the default binding of
    /// the same action in the same section. A key it takes from another binding is a conflict,
    /// which `keymap_file::load` refuses, rather than an action silently left without a key.
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
                base.push(Binding {
                    desc: if ub.desc.is_empty() { desc } else { ub.desc },
                    ..ub
                });
            }
        }
        self
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

    /// The first key bound to an action where it applies (the section, then the global
    /// bindings, as [`Keymap::action`] resolves), as a hint shows it: every key hint on screen
    /// comes from here, so a rebind never advertises the wrong key.
    pub fn key_for(&self, section: Section, action: Action) -> String {
        let fallback = (section != Section::Dialog).then_some(Section::Global);
        std::iter::once(section)
            .chain(fallback)
            .flat_map(|s| self.bindings(s))
            .filter(|b| !b.keys.is_empty())
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map(|k| k.label())
            .unwrap_or_else(|| "(unbound)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

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
            "[[queue]]\non = [\"y\", \"A\"]\nrun = \"approve\"\n",
        )
        .unwrap();
        let km = Keymap::default().overlay(user);
        assert_eq!(
            km.action(Section::Queue, &ev(KeyCode::Char('y'))),
            Some(Action::Approve)
        );
        assert_eq!(km.action(Section::Queue, &ev(KeyCode::Char('a'))), None);
        assert_eq!(km.key_for(Section::Queue, Action::Approve), "y");
        assert_eq!(km.key_for(Section::Queue, Action::Down), "j");
        // Dialogs do not fall back to the global keys, and neither do their hints.
        assert_eq!(km.key_for(Section::Dialog, Action::NextView), "(unbound)");
        assert_eq!(km.key_for(Section::Dialog, Action::Quit), "Ctrl-c");
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
