//! The `<server>` of policy tool names `mcp.<server>.<tool>`.
//!
//! It is fixed before the server starts: `--name`, or else derived from the command line the
//! operator wrote, never from what the (untrusted) server says about itself. A launcher
//! (`npx`, `uvx`, `python3`, `docker`, …) is looked through to the package, module, script or
//! image it runs; a plain executable gives its file stem. When nothing sensible can be derived,
//! the gate refuses to start and asks for `--name` (see docs/ADAPTERS.md, "Tool names in
//! policy").

mod js;
mod options;
mod python;
#[cfg(test)]
mod tests;
mod wrappers;

use std::path::Path;

use js::*;
use python::*;
use wrappers::*;

/// The name in use, or the one line that says why the gate will not start.
pub fn server_name(explicit: Option<&str>, command: &[String]) -> Result<String, String> {
    if let Some(raw) = explicit {
        return policy_server_name(raw).ok_or_else(|| {
            format!(
                "--name {raw:?} has no letter or digit to name the server by; \
                 use letters, digits, `-` or `_`"
            )
        });
    }
    derive(command).map_err(|why| {
        format!("cannot name the MCP server from its command ({why}); give it one with --name NAME")
    })
}

/// The server part of `mcp.<server>.<tool>`: ASCII letters, digits, `-` and `_` only, lower
/// case, at most 64 characters, so a name can neither add a `.` level nor smuggle glob
/// characters into policy matching. Every run of other characters becomes one `-`. `None` when
/// nothing is left.
pub fn policy_server_name(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 64 {
            break;
        }
    }
    let trimmed = out.trim_matches('-');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

type Derived = Result<String, String>;

/// How many wrappers (`env`, `cmd /c`, `uv run`) may be looked through.
const MAX_NESTING: usize = 4;

/// The name derived from a command line (program first).
pub fn derive(command: &[String]) -> Derived {
    derive_at(command, 0)
}

fn derive_at(command: &[String], depth: usize) -> Derived {
    if depth > MAX_NESTING {
        return Err("too many launchers in a row".into());
    }
    let Some((program, args)) = command.split_first() else {
        return Err("no command".into());
    };
    let launcher = launcher_name(program);
    let name = match launcher.as_str() {
        "npx" | "bunx" | "pnpx" => js_runner(&launcher, args),
        "npm" | "pnpm" | "yarn" | "bun" => js_subcommand(&launcher, args),
        "uvx" => uvx(args),
        "uv" => uv(args, depth),
        "pipx" => pipx(args),
        "deno" => deno(args),
        "docker" | "podman" | "nerdctl" => container(&launcher, args),
        "env" => env(args, depth),
        "cmd" => windows_cmd(args, depth),
        l if is_python(l) => python(args),
        l if SCRIPT_RUNNERS.contains(&l) => script_runner(l, args),
        l if SHELLS.contains(&l) => shell(l, args),
        l if OPAQUE_LAUNCHERS.contains(&l) => Err(format!(
            "`{l}` launches something else, and gavel does not read its arguments"
        )),
        _ => file_name(program),
    }?;
    if BRIDGES.contains(&name.as_str()) {
        return Err(format!(
            "`{name}` is a bridge to another server, which it does not name"
        ));
    }
    Ok(name)
}

/// Programs whose arguments gavel does not read, so their own name would name the launcher.
const OPAQUE_LAUNCHERS: &[&str] = &[
    "sudo",
    "doas",
    "nohup",
    "nice",
    "ionice",
    "timeout",
    "time",
    "exec",
    "xargs",
    "stdbuf",
    "setsid",
    "chroot",
    "go",
    "dotnet",
    "java",
    "poetry",
    "pdm",
    "hatch",
    "rye",
    "conda",
    "mamba",
    "micromamba",
    "pixi",
    "kubectl",
    "ssh",
    "powershell",
    "pwsh",
    "start",
    "wsl",
];

/// Shells: a script file names the server, `-c` text does not.
const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "fish"];

/// Interpreters that run a script file given as the first operand.
const SCRIPT_RUNNERS: &[&str] = &["node", "nodejs", "tsx", "ts-node", "ruby", "perl", "php"];

/// Bridges to remote servers: their package name says nothing about the server behind them.
const BRIDGES: &[&str] = &["mcp-remote", "supergateway", "mcp-proxy"];

/// File stems that say nothing about what the file is; a name is looked for above them.
const GENERIC_STEMS: &[&str] = &[
    "index", "main", "__main__", "server", "cli", "app", "mod", "run", "start", "bin", "entry",
];

/// Package names that need their scope to say anything.
const GENERIC_PACKAGES: &[&str] = &["mcp", "server", "mcp-server", "cli", "core", "sdk"];

/// Build and source directories between a package directory and its entry point.
const BUILD_DIRS: &[&str] = &[
    "dist", "build", "lib", "src", "bin", "out", "esm", "cjs", "target", "release", "scripts",
];

/// The launcher's identity: the file name, lower case, without a Windows extension.
fn launcher_name(program: &str) -> String {
    let base = base_name(program).to_ascii_lowercase();
    for ext in [".exe", ".cmd", ".bat", ".ps1"] {
        if let Some(stem) = base.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    base
}

/// The last component of a path written with `/` or `\`.
fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn is_python(l: &str) -> bool {
    let rest = l
        .strip_prefix("python")
        .or_else(|| l.strip_prefix("pypy"))
        .or_else(|| (l == "py").then_some(""));
    rest.is_some_and(|r| r.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn sanitised(raw: &str, what: &str) -> Derived {
    policy_server_name(raw).ok_or_else(|| format!("{what} {raw:?} has no letter or digit"))
}

/// A plain executable (or a script): its file stem.
fn file_name(path: &str) -> Derived {
    let base = base_name(path);
    if base.is_empty() {
        return Err(format!("{path:?} has no file name"));
    }
    let stem = Path::new(base)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(base);
    sanitised(stem, "the file name")
}

/// A script or entry point: its stem, or, for `index.js`, `server.py`, `dist/main.js` and the
/// like, the nearest directory above that is not a build directory.
fn script(path: &str) -> Derived {
    // A URL's path is read like a file path.
    let path = path.split_once("://").map_or(path, |(_, rest)| {
        rest.split_once('/').map_or("", |(_, p)| p)
    });
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let mut parts: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let Some(last) = parts.pop() else {
        return Err(format!("{path:?} has no file name"));
    };
    let stem = Path::new(last)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(last);
    if !GENERIC_STEMS.contains(&stem.to_ascii_lowercase().as_str()) {
        return sanitised(stem, "the file name");
    }
    while let Some(dir) = parts.pop() {
        let lower = dir.to_ascii_lowercase();
        if dir == ".." || dir.ends_with(':') {
            break; // `..` or a drive letter: nothing above says more
        }
        if BUILD_DIRS.contains(&lower.as_str()) || GENERIC_STEMS.contains(&lower.as_str()) {
            continue;
        }
        return sanitised(dir, "the directory name");
    }
    Err(format!(
        "the script {path:?} has a generic name and no directory that names it"
    ))
}

/// An npm package spec: `@scope/name@version` → `name`; `name@1.2` → `name`.
/// `npm:`/`jsr:` prefixes are dropped; a URL, git or file spec is read like a path.
fn npm_package(spec: &str) -> Derived {
    let spec = spec
        .strip_prefix("npm:")
        .or_else(|| spec.strip_prefix("jsr:"))
        .unwrap_or(spec);
    if spec.contains("://")
        || spec.starts_with("git+")
        || spec.starts_with("file:")
        || spec.starts_with('.')
        || spec.starts_with('/')
        || spec.starts_with("github:")
    {
        let s = spec.trim_end_matches('/');
        let s = s.split('#').next().unwrap_or(s);
        let base = base_name(s);
        let base = base.strip_suffix(".git").unwrap_or(base);
        let base = base.strip_suffix(".tgz").unwrap_or(base);
        return sanitised(base, "the package");
    }
    let (scope, unscoped) = match spec.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) => (Some(scope), rest),
            None => return Err(format!("the package {spec:?} has a scope and no name")),
        },
        None => (None, spec),
    };
    let name = unscoped.split('@').next().unwrap_or(unscoped);
    // `owner/repo` is a GitHub shorthand: the repository names it.
    let name = base_name(name);
    match scope {
        // `@playwright/mcp` says nothing without its scope: `playwright-mcp`.
        Some(scope) if GENERIC_PACKAGES.contains(&name.to_ascii_lowercase().as_str()) => {
            sanitised(&format!("{scope}-{name}"), "the package")
        }
        _ => sanitised(name, "the package"),
    }
}

/// A Python requirement: `name[extras]==1.0` → `name`; a URL, path or archive → its last
/// path segment without `@ref`, `.git` or a wheel's version tags.
fn python_package(spec: &str) -> Derived {
    if spec.contains("://") || spec.starts_with('.') || spec.starts_with('/') {
        let s = spec.split_once("://").map_or(spec, |(_, rest)| rest);
        let s = s.split('#').next().unwrap_or(s).trim_end_matches('/');
        let base = base_name(s);
        let base = base.split('@').next().unwrap_or(base);
        let base = base.strip_suffix(".git").unwrap_or(base);
        let base = if [".whl", ".tar.gz", ".zip"]
            .iter()
            .any(|e| base.ends_with(e))
        {
            base.split('-').next().unwrap_or(base)
        } else {
            base
        };
        return sanitised(base, "the package");
    }
    let end = spec
        .find(|c: char| "[=<>!~@; ".contains(c))
        .unwrap_or(spec.len());
    sanitised(&spec[..end], "the package")
}
