//! The keymap the console runs with: the defaults overlaid by the user's file, refused when one
//! key would run two actions in one place (the console would otherwise pick one silently, and a
//! hint would advertise a key that does something else).

use std::path::Path;

use super::keymap::{Action, Binding, Keymap, Section};
use super::settings::FileError;

/// The default keymap, overlaid by `<config dir>/keymap.toml` when it exists; refused with the
/// file and line when a key would run two actions in one place.
pub fn load(config_dir: &Path) -> Result<Keymap, FileError> {
    let path = config_dir.join("keymap.toml");
    let keymap = match std::fs::read_to_string(&path) {
        Ok(text) => Keymap::default().overlay(Keymap::parse(&path, &text)?),
        Err(_) => Keymap::default(),
    };
    check(&keymap)?;
    Ok(keymap)
}

/// The sections whose bindings are live together: a view's own section with the global ones
/// (a view's key is looked up there first, then globally), the global ones alone (the help),
/// and a dialog's on its own (every other key there is text).
fn contexts() -> Vec<Vec<Section>> {
    Section::ALL
        .iter()
        .map(|&s| match s {
            Section::Global | Section::Dialog => vec![s],
            s => vec![s, Section::Global],
        })
        .collect()
}

/// Every key bound to two different actions in one context is refused, naming the file and line
/// of the binding that came last (a user's entry over a default), the other binding's place,
/// and what to do.
pub fn check(keymap: &Keymap) -> Result<(), FileError> {
    for context in contexts() {
        let live: Vec<(Section, &Binding)> = context
            .iter()
            .flat_map(|&s| keymap.bindings(s).iter().map(move |b| (s, b)))
            .collect();
        for (i, &(sa, a)) in live.iter().enumerate() {
            for &(sb, b) in &live[i + 1..] {
                if a.action == b.action {
                    continue;
                }
                let Some(key) = a.keys.iter().find(|k| b.keys.contains(k)) else {
                    continue;
                };
                // Blame the one a person wrote (not built in), and of two, the later line.
                let built_in = |x: &Binding| x.source.file.ends_with("(built in)");
                let b_is_blamed = (built_in(a) && !built_in(b))
                    || (built_in(a) == built_in(b) && a.source.line < b.source.line);
                let (blame, bs, other, os) = if b_is_blamed {
                    (b, sb, a, sa)
                } else {
                    (a, sa, b, sb)
                };
                return Err(FileError {
                    file: blame.source.file.clone(),
                    line: Some(blame.source.line),
                    key: Some(format!("{}.on", bs.name())),
                    message: format!(
                        "`{}` would run both {} and {} ({}, [{}]) in the {} keys; give one of \
                         them another key (an entry with run = \"{}\" here replaces its default)",
                        key.label(),
                        action_name(blame.action),
                        action_name(other.action),
                        other.source,
                        os.name(),
                        context[0].name(),
                        action_name(other.action),
                    ),
                });
            }
        }
    }
    Ok(())
}

/// An action as a keymap file names it (`run = "next_mine"`).
fn action_name(a: Action) -> String {
    // The serde name is what the file says; Debug is CamelCase.
    let debug = format!("{a:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Keymap, FileError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keymap.toml"), text).unwrap();
        super::load(dir.path())
    }

    #[test]
    fn the_defaults_have_no_conflicts() {
        check(&Keymap::default()).unwrap();
    }

    #[test]
    fn one_key_for_two_actions_in_a_user_file_is_refused_with_file_and_line() {
        let e = load_text(
            "[[queue]]\non = [\"x\"]\nrun = \"approve\"\n\n[[queue]]\non = [\"x\"]\nrun = \"deny\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("keymap.toml:6: queue.on: "), "{e}");
        assert!(e.contains("`x` would run both deny and approve"), "{e}");
        assert!(e.contains("keymap.toml:2"), "{e}");
    }

    #[test]
    fn an_overlay_that_takes_a_default_key_is_refused() {
        // `a` approves by default: binding it to deny as well would leave approve on a key
        // that now denies.
        let e = load_text("[[queue]]\non = [\"a\"]\nrun = \"deny\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("keymap.toml:2: queue.on: "), "{e}");
        assert!(e.contains("both deny and approve"), "{e}");
        assert!(e.contains("(built in)"), "{e}");
        // Shadowing a global key in a view is the same conflict.
        let e = load_text("[[queue]]\non = [\"j\"]\nrun = \"approve\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("both approve and down"), "{e}");
        // Swapping both keys is fine.
        let km = load_text(
            "[[queue]]\non = [\"d\"]\nrun = \"approve\"\n[[queue]]\non = [\"a\"]\nrun = \"deny\"\n",
        )
        .unwrap();
        assert_eq!(km.key_for(Section::Queue, Action::Approve), "d");
    }

    #[test]
    fn the_same_key_in_another_section_is_no_conflict() {
        // `a` acknowledges in the flagged view and approves in the queue.
        load_text("[[history]]\non = [\"x\"]\nrun = \"approve\"\n").unwrap();
        check(&Keymap::parse(Path::new("k.toml"), "").unwrap()).unwrap();
        assert_eq!(action_name(Action::NextMine), "next_mine");
    }
}
