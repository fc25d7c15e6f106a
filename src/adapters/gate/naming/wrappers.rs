//! Shells, containers and wrappers (`env`, `cmd /c`) looked through to what they run.

use super::options::*;
use super::*;

/// `sh FILE …`; `sh -c TEXT` names nothing.
pub(super) fn shell(launcher: &str, args: &[String]) -> Derived {
    let o = Options {
        valued: &["-o", "-O", "--rcfile", "--init-file"],
        flags: &[],
        unknown: Unknown::Flag,
    };
    let parsed = options(launcher, args, &o, &[])?;
    let before = &args[..args.len() - parsed.rest.len()];
    if before
        .iter()
        .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))
    {
        return Err(format!("`{launcher} -c` runs a command line"));
    }
    script(first_operand(launcher, parsed.rest)?)
}

/// Booleans of `docker run` (and podman's, nerdctl's); every other option takes a value.
pub(super) const CONTAINER_FLAGS: &[&str] = &[
    "-i",
    "--interactive",
    "-t",
    "--tty",
    "-d",
    "--detach",
    "--rm",
    "--init",
    "--privileged",
    "--read-only",
    "-P",
    "--publish-all",
    "--sig-proxy",
    "--no-healthcheck",
    "--oom-kill-disable",
    "-q",
    "--quiet",
    "--disable-content-trust",
    "--use-api-socket",
    "--replace",
    "--rmi",
    "--tls-verify",
    "--http-proxy",
    "--no-hosts",
    "--help",
];

/// `docker run [options] IMAGE[:TAG|@DIGEST] …` → the image's last path segment.
pub(super) fn container(launcher: &str, args: &[String]) -> Derived {
    let run = match args {
        [run, rest @ ..] if run == "run" => rest,
        [c, run, rest @ ..] if c == "container" && run == "run" => rest,
        _ => return Err(format!("`{launcher}` without `run`")),
    };
    let o = Options {
        valued: &[],
        flags: CONTAINER_FLAGS,
        unknown: Unknown::Value,
    };
    let parsed = options(&format!("{launcher} run"), run, &o, &[])?;
    let image = first_operand(&format!("{launcher} run"), parsed.rest)?;
    let image = image.split('@').next().unwrap_or(image);
    let last = base_name(image);
    let last = last.split(':').next().unwrap_or(last);
    sanitised(last, "the image")
}

/// `env [-i] [-u NAME] [NAME=VALUE…] CMD …` → `CMD …`.
pub(super) fn env(args: &[String], depth: usize) -> Derived {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-u" | "--unset" | "-C" | "--chdir" | "-S" | "--split-string" => {
                if a == "-S" || a == "--split-string" {
                    return Err("`env -S` splits a command line".into());
                }
                i += 2;
            }
            "--" => {
                i += 1;
                break;
            }
            s if s.starts_with('-') || s.contains('=') => i += 1,
            _ => break,
        }
    }
    match args.get(i..) {
        Some(rest) if !rest.is_empty() => derive_at(rest, depth + 1),
        _ => Err("`env` runs no command".into()),
    }
}

/// Windows `cmd /c CMD …` → `CMD …` (but not one string holding a whole command line).
pub(super) fn windows_cmd(args: &[String], depth: usize) -> Derived {
    for (i, a) in args.iter().enumerate() {
        let lower = a.to_ascii_lowercase();
        if lower == "/c" || lower == "/k" {
            let rest = &args[i + 1..];
            return match rest {
                [] => Err("`cmd /c` runs nothing".into()),
                [one] if one.contains(' ') => Err("`cmd /c` runs a command line".into()),
                _ => derive_at(rest, depth + 1),
            };
        }
        if !lower.starts_with('/') {
            break;
        }
    }
    Err("`cmd` without `/c`".into())
}
