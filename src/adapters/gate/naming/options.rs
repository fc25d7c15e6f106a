//! Reading a launcher's options up to its first operand.

use super::*;

/// How a launcher treats an option it does not know.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Unknown {
    /// Refuse: it might take a value, and then the operand would be misread.
    Refuse,
    /// A flag with no value.
    Flag,
    /// Takes the next argument as its value (docker: its booleans are the short list).
    Value,
}

pub(super) struct Options<'a> {
    /// Options that take a value as the next argument (or after `=`).
    pub(super) valued: &'a [&'a str],
    /// Options that take none.
    pub(super) flags: &'a [&'a str],
    pub(super) unknown: Unknown,
}

/// What the options before the first operand said.
pub(super) struct Parsed<'a> {
    /// Values of the options asked for, in order.
    pub(super) picked: Vec<(&'a str, &'a str)>,
    /// The first operand and everything after it.
    pub(super) rest: &'a [String],
}

/// Reads options up to the first operand (or `--`), keeping the values of `pick`.
pub(super) fn options<'a>(
    launcher: &str,
    args: &'a [String],
    o: &Options,
    pick: &[&str],
) -> Result<Parsed<'a>, String> {
    let mut picked = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if a.starts_with("--") => (k, Some(v)),
            _ => (a, None),
        };
        let valued = o.valued.contains(&key);
        let known_flag = o.flags.contains(&key)
            || (key.len() > 2
                && !key.starts_with("--")
                && key[1..]
                    .chars()
                    .all(|c| o.flags.contains(&format!("-{c}").as_str())));
        let takes_value = if valued {
            true
        } else if known_flag || inline.is_some() {
            false
        } else {
            match o.unknown {
                Unknown::Refuse => {
                    return Err(format!("`{launcher}` option {key:?} is not known to gavel"))
                }
                Unknown::Flag => false,
                Unknown::Value => true,
            }
        };
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => Some(v.as_str()),
                        None => return Err(format!("`{launcher}` option {key:?} has no value")),
                    }
                }
            }
        } else {
            None
        };
        if let (true, Some(v)) = (pick.contains(&key), value) {
            picked.push((key, v));
        }
        i += 1;
    }
    Ok(Parsed {
        picked,
        rest: &args[i.min(args.len())..],
    })
}

pub(super) fn first_operand<'a>(launcher: &str, rest: &'a [String]) -> Result<&'a str, String> {
    rest.first()
        .map(String::as_str)
        .ok_or_else(|| format!("`{launcher}` is given no package, script or image"))
}

/// A package given with `--package`/`--from`/`--spec`, else the first operand, read by `read`.
pub(super) fn package_or_operand(
    launcher: &str,
    parsed: &Parsed,
    read: fn(&str) -> Derived,
) -> Derived {
    match parsed.picked.as_slice() {
        [] => read(first_operand(launcher, parsed.rest)?),
        [(_, one)] => read(one),
        _ => Err(format!("`{launcher}` is given several packages")),
    }
}
