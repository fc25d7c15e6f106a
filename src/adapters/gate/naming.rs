//! The `<server>` of policy tool names `mcp.<server>.<tool>`.
//!
//! It is fixed before the server starts: `--name`, or else derived from the command line the
//! operator wrote, never from what the (untrusted) server says about itself. A launcher
//! (`npx`, `uvx`, `python3`, `docker`, …) is looked through to the package, module, script or
//! image it runs; a plain executable gives its file stem. When nothing sensible can be derived,
//! the gate refuses to start and asks for `--name` (see docs/ADAPTERS.md, "Tool names in
//! policy").

use std::path::Path;

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

/// How a launcher treats an option it does not know.
#[derive(Clone, Copy, PartialEq)]
enum Unknown {
    /// Refuse: it might take a value, and then the operand would be misread.
    Refuse,
    /// A flag with no value.
    Flag,
    /// Takes the next argument as its value (docker: its booleans are the short list).
    Value,
}

struct Options<'a> {
    /// Options that take a value as the next argument (or after `=`).
    valued: &'a [&'a str],
    /// Options that take none.
    flags: &'a [&'a str],
    unknown: Unknown,
}

/// What the options before the first operand said.
struct Parsed<'a> {
    /// Values of the options asked for, in order.
    picked: Vec<(&'a str, &'a str)>,
    /// The first operand and everything after it.
    rest: &'a [String],
}

/// Reads options up to the first operand (or `--`), keeping the values of `pick`.
fn options<'a>(
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

fn first_operand<'a>(launcher: &str, rest: &'a [String]) -> Result<&'a str, String> {
    rest.first()
        .map(String::as_str)
        .ok_or_else(|| format!("`{launcher}` is given no package, script or image"))
}

/// A package given with `--package`/`--from`/`--spec`, else the first operand, read by `read`.
fn package_or_operand(launcher: &str, parsed: &Parsed, read: fn(&str) -> Derived) -> Derived {
    match parsed.picked.as_slice() {
        [] => read(first_operand(launcher, parsed.rest)?),
        [(_, one)] => read(one),
        _ => Err(format!("`{launcher}` is given several packages")),
    }
}

const NPX: Options<'static> = Options {
    valued: &[
        "-p",
        "--package",
        "-c",
        "--call",
        "--registry",
        "--cache",
        "--prefix",
        "--userconfig",
        "--node-options",
        "--shell",
        "--script-shell",
        "-w",
        "--workspace",
        "--loglevel",
    ],
    flags: &[
        "-y",
        "--yes",
        "--no",
        "--no-install",
        "-q",
        "--quiet",
        "--silent",
        "-s",
        "--ignore-existing",
        "--prefer-offline",
        "--prefer-online",
        "--offline",
        "--verbose",
        "-d",
        "--bun",
        "--no-workspaces",
        "--include-workspace-root",
        "--ws",
        "--workspaces",
    ],
    unknown: Unknown::Refuse,
};

/// `npx`, `bunx`, `pnpx` (and `npm exec`, `pnpm dlx`, `yarn dlx`, `bun x` after their verb).
fn js_runner(launcher: &str, args: &[String]) -> Derived {
    let mut parsed = options(launcher, args, &NPX, &["-p", "--package", "-c", "--call"])?;
    if parsed
        .picked
        .iter()
        .any(|(k, _)| *k == "-c" || *k == "--call")
    {
        return Err(format!("`{launcher} --call` runs a command line"));
    }
    parsed
        .picked
        .retain(|(k, _)| *k == "-p" || *k == "--package");
    package_or_operand(launcher, &parsed, npm_package)
}

/// `npm exec|x`, `pnpm dlx|exec`, `yarn dlx`, `bun x|run`, `bun FILE`.
fn js_subcommand(launcher: &str, args: &[String]) -> Derived {
    let verb = args.first().map(String::as_str).unwrap_or("");
    let rest = args.get(1..).unwrap_or(&[]);
    match (launcher, verb) {
        ("npm", "exec" | "x") | ("pnpm", "dlx") | ("yarn", "dlx") | ("bun", "x") => {
            js_runner(&format!("{launcher} {verb}"), rest)
        }
        ("bun", "run") => script_runner("bun run", rest),
        ("bun", v) if !v.starts_with('-') && v.contains('.') => script(v),
        _ => Err(format!(
            "`{launcher}` {verb:?} is not a package runner gavel reads (npm exec, pnpm dlx, \
             yarn dlx, bun x, bun run)"
        )),
    }
}

const UVX: Options<'static> = Options {
    valued: &[
        "--from",
        "--with",
        "-w",
        "--with-editable",
        "--with-requirements",
        "--python",
        "-p",
        "--index",
        "--default-index",
        "--index-url",
        "-i",
        "--extra-index-url",
        "--find-links",
        "-f",
        "--index-strategy",
        "--keyring-provider",
        "--resolution",
        "--prerelease",
        "--exclude-newer",
        "--refresh-package",
        "--reinstall-package",
        "--upgrade-package",
        "-P",
        "--config-setting",
        "-C",
        "--link-mode",
        "--cache-dir",
        "--directory",
        "--project",
        "--config-file",
        "--color",
        "--env-file",
        "--constraints",
        "--overrides",
        "--build-constraints",
        "--no-binary-package",
        "--no-build-package",
        "--python-platform",
        "--allow-insecure-host",
    ],
    flags: &[
        "--isolated",
        "--no-cache",
        "-n",
        "--offline",
        "-q",
        "--quiet",
        "-v",
        "--verbose",
        "--refresh",
        "--reinstall",
        "--upgrade",
        "-U",
        "--no-sources",
        "--native-tls",
        "--no-config",
        "--no-progress",
        "--managed-python",
        "--no-managed-python",
        "--no-python-downloads",
        "--compile-bytecode",
        "--no-build-isolation",
        "--no-build",
        "--no-binary",
        "--no-env-file",
        "--lfs",
        "--preview",
        "--no-preview",
    ],
    unknown: Unknown::Refuse,
};

/// `uvx [options] [--from PKG] PKG[==VER] …` (and `uv tool run`).
fn uvx(args: &[String]) -> Derived {
    let parsed = options("uvx", args, &UVX, &["--from"])?;
    package_or_operand("uvx", &parsed, python_package)
}

const UV_RUN_VALUED: &[&str] = &[
    "--group",
    "--extra",
    "--package",
    "--only-group",
    "--script",
    "-m",
    "--module",
];
const UV_RUN_FLAGS: &[&str] = &[
    "--frozen",
    "--locked",
    "--no-sync",
    "--all-extras",
    "--no-dev",
    "--all-packages",
    "--active",
    "--no-project",
    "--exact",
    "--gui-script",
];

/// `uv tool run …` is `uvx`; `uv [--directory D] run [options] TARGET …` runs a script or a
/// command from the project.
fn uv(args: &[String], depth: usize) -> Derived {
    let parsed = options("uv", args, &UVX, &[])?;
    let verb = parsed.rest.first().map(String::as_str).unwrap_or("");
    let rest = parsed.rest.get(1..).unwrap_or(&[]);
    match verb {
        "tool" if rest.first().is_some_and(|v| v == "run") => uvx(&rest[1..]),
        "run" => {
            let valued = [UVX.valued, UV_RUN_VALUED].concat();
            let flags = [UVX.flags, UV_RUN_FLAGS].concat();
            let run = Options {
                valued: &valued,
                flags: &flags,
                unknown: Unknown::Refuse,
            };
            let parsed = options("uv run", rest, &run, &["-m", "--module"])?;
            if let Some((_, module)) = parsed.picked.first() {
                return python_module(module); // `uv run -m MODULE`
            }
            let target = first_operand("uv run", parsed.rest)?;
            if target.ends_with(".py") || target.contains('/') || target.contains('\\') {
                script(target)
            } else {
                derive_at(parsed.rest, depth + 1)
            }
        }
        _ => Err(format!("`uv` {verb:?} is not `uv run` or `uv tool run`")),
    }
}

/// `pipx run [options] [--spec SPEC] APP …`.
fn pipx(args: &[String]) -> Derived {
    if args.first().is_none_or(|v| v != "run") {
        return Err("`pipx` without `run`".into());
    }
    let o = Options {
        valued: &[
            "--spec",
            "--python",
            "--index-url",
            "-i",
            "--pip-args",
            "--fetch-python",
        ],
        flags: &[
            "--no-cache",
            "-v",
            "--verbose",
            "-q",
            "--quiet",
            "--system-site-packages",
            "--path",
            "--pypackages",
            "--editable",
            "-e",
            "--preinstall",
        ],
        unknown: Unknown::Refuse,
    };
    let parsed = options("pipx run", &args[1..], &o, &["--spec"])?;
    package_or_operand("pipx run", &parsed, python_package)
}

/// `python [options] -m MODULE …` or `python [options] FILE …`. Short options may be
/// combined (`-uBm mod`, `-Wignore`); `-c` code names nothing.
fn python(args: &[String]) -> Derived {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let a = a.as_str();
        i += 1;
        match a {
            "--" => return script(args.get(i).ok_or("`python --` has no script")?),
            "-" => return Err("`python -` reads its program from stdin".into()),
            "--check-hash-based-pycs" => i += 1,
            _ if a.starts_with("--") => {}
            _ if a.starts_with('-') => {
                for (at, c) in a.char_indices().skip(1) {
                    let attached = &a[at + c.len_utf8()..];
                    match c {
                        'c' => return Err("`python -c` runs inline code".into()),
                        'm' => {
                            let module = if attached.is_empty() {
                                args.get(i).ok_or("`python -m` has no module")?.as_str()
                            } else {
                                attached
                            };
                            return python_module(module);
                        }
                        'W' | 'X' => {
                            if attached.is_empty() {
                                i += 1;
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            }
            _ => return script(a),
        }
    }
    Err("`python` is given no module or script".into())
}

/// `pkg.server` → `pkg`; `mcp_server_git` → `mcp_server_git`; generic last parts are skipped.
fn python_module(module: &str) -> Derived {
    let parts: Vec<&str> = module.split('.').collect();
    for part in parts.iter().rev() {
        if !GENERIC_STEMS.contains(&part.to_ascii_lowercase().as_str())
            && !BUILD_DIRS.contains(&part.to_ascii_lowercase().as_str())
        {
            return sanitised(part, "the module");
        }
    }
    Err(format!("the module {module:?} has only generic parts"))
}

/// `node [options] FILE …` and the like; `-e`/`-p` code is refused.
fn script_runner(launcher: &str, args: &[String]) -> Derived {
    let o = Options {
        valued: &[
            "-r",
            "--require",
            "--import",
            "--loader",
            "--experimental-loader",
            "--env-file",
            "--input-type",
            "-C",
            "--conditions",
            "--title",
            "--tsconfig",
            "--project",
            "-I",
        ],
        flags: &[],
        unknown: Unknown::Flag,
    };
    for code in ["-e", "--eval", "-p", "--print"] {
        if args
            .iter()
            .any(|a| a == code || a.starts_with(&format!("{code}=")))
        {
            return Err(format!("`{launcher} {code}` runs inline code"));
        }
    }
    let parsed = options(launcher, args, &o, &[])?;
    script(first_operand(launcher, parsed.rest)?)
}

/// `sh FILE …`; `sh -c TEXT` names nothing.
fn shell(launcher: &str, args: &[String]) -> Derived {
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

/// `deno run [options] FILE|URL|npm:PKG|jsr:PKG …`.
fn deno(args: &[String]) -> Derived {
    if args.first().is_none_or(|v| v != "run") {
        return Err("`deno` without `run`".into());
    }
    let o = Options {
        valued: &[
            "-c",
            "--config",
            "--import-map",
            "--lock",
            "--cert",
            "--location",
            "--seed",
            "--ext",
            "--preload",
            "--conditions",
        ],
        flags: &[],
        unknown: Unknown::Flag,
    };
    let parsed = options("deno run", &args[1..], &o, &[])?;
    let target = first_operand("deno run", parsed.rest)?;
    if target.starts_with("npm:") || target.starts_with("jsr:") {
        npm_package(target)
    } else {
        script(target)
    }
}

/// Booleans of `docker run` (and podman's, nerdctl's); every other option takes a value.
const CONTAINER_FLAGS: &[&str] = &[
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
fn container(launcher: &str, args: &[String]) -> Derived {
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
fn env(args: &[String], depth: usize) -> Derived {
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
fn windows_cmd(args: &[String], depth: usize) -> Derived {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &[&str]) -> Vec<String> {
        line.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn real_world_command_lines() {
        let table: &[(&[&str], &str)] = &[
            // npx and friends: the package, without scope or version.
            (
                &[
                    "npx",
                    "-y",
                    "@modelcontextprotocol/server-filesystem@2026.8.31",
                    "/home/bob",
                ],
                "server-filesystem",
            ),
            (
                &["npx", "-y", "@modelcontextprotocol/server-everything"],
                "server-everything",
            ),
            (
                &["npx", "--yes", "@playwright/mcp@latest"],
                "playwright-mcp",
            ),
            (&["npx", "-y", "firecrawl-mcp"], "firecrawl-mcp"),
            (
                &[
                    "npx",
                    "-y",
                    "--package",
                    "@modelcontextprotocol/server-github",
                    "mcp-server-github",
                ],
                "server-github",
            ),
            (&["npx", "--package=@scope/tool@1", "tool-bin"], "tool"),
            (
                &[
                    "npx",
                    "--registry",
                    "https://npm.internal",
                    "-y",
                    "acme-mcp@2.0.0",
                ],
                "acme-mcp",
            ),
            (&["npx", "-y", "github:acme/notes-mcp#main"], "notes-mcp"),
            (
                &["/usr/local/bin/npx", "-y", "@upstash/context7-mcp"],
                "context7-mcp",
            ),
            (
                &[
                    "C:\\Program Files\\nodejs\\npx.cmd",
                    "-y",
                    "@scope/Win-Server",
                ],
                "win-server",
            ),
            (
                &[
                    "npm",
                    "exec",
                    "--yes",
                    "--",
                    "@scope/exec-server@1.0.0",
                    "--flag",
                ],
                "exec-server",
            ),
            (&["npm", "x", "-y", "plain-server"], "plain-server"),
            (&["pnpm", "dlx", "@scope/dlx-server"], "dlx-server"),
            (&["yarn", "dlx", "-p", "yarn-pkg", "bin"], "yarn-pkg"),
            (&["bunx", "--bun", "bun-server@1"], "bun-server"),
            (&["bun", "x", "@s/bx"], "bx"),
            (&["bun", "run", "./servers/kv/index.ts"], "kv"),
            // Python.
            (
                &["uvx", "mcp-server-git", "--repository", "/r"],
                "mcp-server-git",
            ),
            (&["uvx", "mcp-server-fetch==2025.4.7"], "mcp-server-fetch"),
            (
                &[
                    "uvx",
                    "--python",
                    "3.12",
                    "mcp-server-time[extra]>=1",
                    "--local-timezone=UTC",
                ],
                "mcp-server-time",
            ),
            (
                &[
                    "uvx",
                    "--from",
                    "git+https://github.com/oraios/serena@v1",
                    "serena",
                    "start-mcp-server",
                ],
                "serena",
            ),
            (
                &[
                    "uvx",
                    "--from",
                    "git+ssh://git@github.com/acme/repo-mcp.git",
                    "x",
                ],
                "repo-mcp",
            ),
            (
                &[
                    "uvx",
                    "--from",
                    "awslabs.core-mcp-server@latest",
                    "awslabs.core-mcp-server",
                ],
                "awslabs-core-mcp-server",
            ),
            (
                &["uv", "tool", "run", "mcp-server-sqlite"],
                "mcp-server-sqlite",
            ),
            (
                &[
                    "uv",
                    "--directory",
                    "/abs/path/weather",
                    "run",
                    "weather.py",
                ],
                "weather",
            ),
            (
                &[
                    "uv", "run", "--with", "mcp[cli]", "python", "-m", "acme_mcp",
                ],
                "acme_mcp",
            ),
            (&["uv", "run", "-m", "acme.mcp.main"], "mcp"),
            (&["pipx", "run", "mcp-server-x"], "mcp-server-x"),
            (
                &["pipx", "run", "--spec", "mcp-pkg==1.0", "mcp-bin"],
                "mcp-pkg",
            ),
            (&["python3", "-m", "mcp_server_time"], "mcp_server_time"),
            (&["python", "-u", "-m", "acme.tools.server"], "tools"),
            (&["/usr/bin/python3.12", "-mnotes_mcp"], "notes_mcp"),
            (
                &["python", "-W", "ignore", "/opt/mcp/notes_server.py"],
                "notes_server",
            ),
            (&["py", "-3", "C:\\mcp\\weather\\server.py"], "weather"),
            (&["python3", "-uBm", "notes_mcp"], "notes_mcp"),
            (
                &["python3", "-Wignore", "-X", "utf8", "-I", "notes.py"],
                "notes",
            ),
            // Node and other interpreters.
            (
                &[
                    "node",
                    "/srv/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
                ],
                "server-everything",
            ),
            (
                &[
                    "node",
                    "--enable-source-maps",
                    "-r",
                    "dotenv/config",
                    "build/github.js",
                ],
                "github",
            ),
            (&["tsx", "src/weather-server.ts"], "weather-server"),
            (&["deno", "run", "-A", "npm:@scope/deno-npm@1"], "deno-npm"),
            (
                &[
                    "deno",
                    "run",
                    "--allow-net",
                    "https://deno.land/x/mcp_kv/mod.ts",
                ],
                "mcp_kv",
            ),
            // Containers: the image's last path segment, without tag or digest.
            (
                &[
                    "docker",
                    "run",
                    "-i",
                    "--rm",
                    "-e",
                    "GITHUB_TOKEN",
                    "ghcr.io/github/github-mcp-server",
                ],
                "github-mcp-server",
            ),
            (
                &["docker", "run", "-it", "--rm", "mcp/fetch:latest"],
                "fetch",
            ),
            (
                &[
                    "docker",
                    "run",
                    "--rm",
                    "-i",
                    "--network=host",
                    "-v",
                    "/a:/b",
                    "localhost:5000/team/notes:1.2@sha256:abc",
                    "serve",
                ],
                "notes",
            ),
            (
                &["podman", "container", "run", "-i", "quay.io/acme/mcp-db"],
                "mcp-db",
            ),
            // Wrappers are looked through.
            (
                &["env", "FOO=1", "npx", "-y", "@s/env-server"],
                "env-server",
            ),
            (
                &[
                    "cmd",
                    "/c",
                    "npx",
                    "-y",
                    "@modelcontextprotocol/server-memory",
                ],
                "server-memory",
            ),
            (&["bash", "/opt/mcp/start-notes.sh"], "start-notes"),
            // A plain executable: its file stem.
            (
                &["/usr/bin/mcp-server-filesystem", "/tmp"],
                "mcp-server-filesystem",
            ),
            (&["./target/release/my_server"], "my_server"),
            (&["cat"], "cat"),
            (&["github-mcp-server.exe", "stdio"], "github-mcp-server"),
            // The examples of docs/ADAPTERS.md.
            (&["npx", "@playwright/mcp@latest"], "playwright-mcp"),
            (&["npx", "github:acme/notes-mcp"], "notes-mcp"),
            (
                &[
                    "uvx",
                    "--from",
                    "git+https://github.com/oraios/serena",
                    "serena",
                    "start-mcp-server",
                ],
                "serena",
            ),
            (
                &["uv", "--directory", "/srv/weather", "run", "weather.py"],
                "weather",
            ),
            (&["python", "-m", "acme.notes.server"], "notes"),
            (&["deno", "run", "-A", "npm:@acme/kv-mcp"], "kv-mcp"),
            (&["docker", "run", "-i", "mcp/fetch:latest"], "fetch"),
            (
                &["/usr/local/bin/mcp-server-filesystem", "/tmp"],
                "mcp-server-filesystem",
            ),
            // Hostile spellings cannot add levels or globs.
            (&["npx", "-y", "@evil/files.*.write@1"], "files-write"),
            (&["/opt/a.b/Evil*?[x].Name"], "evil-x"),
            (
                &["docker", "run", "-i", "reg/ünïcode-sérver:1"],
                "n-code-s-rver",
            ),
            (&["uvx", "files.read"], "files-read"),
        ];
        for (line, want) in table {
            assert_eq!(derive(&cmd(line)).as_deref(), Ok(*want), "{line:?}");
        }
    }

    #[test]
    fn nothing_sensible_refuses() {
        let table: &[&[&str]] = &[
            &[],
            &[""],
            &["/usr/bin/"],
            &["npx"],
            &["npx", "-y"],
            &["npx", "-y", "--yes"],
            &["npx", "--unknown-option", "pkg"],
            &["npx", "-c", "mcp-server-x"],
            &["npx", "-y", "@scope-only"],
            &["npx", "-p", "a", "-p", "b", "cmd"],
            &["npx", "-y", "mcp-remote", "https://mcp.example.com/sse"],
            &["npx", "-y", "@scope/***"],
            &["uvx"],
            &["uvx", "--from"],
            &["uvx", "--weird", "pkg"],
            &["uv", "run", "--with", "mcp[cli]", "server.py"],
            &["uv", "sync"],
            &["pipx", "install", "x"],
            &["python3"],
            &["python3", "-u"],
            &["python", "-c", "import x"],
            &["python", "-Bc", "import x"],
            &["env", "env", "env", "env", "env", "env", "npx", "-y", "x"],
            &["npm", "\u{1b}[2J"],
            &["python", "-m"],
            &["python", "-m", "server"],
            &["python", "server.py"],
            &["python3", "-"],
            &["node", "index.js"],
            &["node", "dist/index.js"],
            &["node", "-e", "require('x')"],
            &["node", "--"],
            &["sh", "-c", "npx -y @scope/server-x"],
            &["bash", "-lc", "exec server-x"],
            &["docker", "run", "-i", "--rm"],
            &["docker", "exec", "-i", "c", "server"],
            &["docker", "run", "-e", "X"],
            &["deno", "eval", "x"],
            &["env"],
            &["env", "A=1"],
            &["env", "-S", "npx -y x"],
            &["cmd", "/c", "npx -y @scope/server"],
            &["cmd", "/c"],
            &["sudo", "npx", "-y", "@scope/server-x"],
            &["java", "-jar", "server.jar"],
            &["npm", "start"],
            &["bun", "install"],
            &["...."],
            &["файлы"],
            &["*"],
        ];
        for line in table {
            let got = derive(&cmd(line));
            assert!(got.is_err(), "{line:?} gave {got:?}");
        }
    }

    #[test]
    fn explicit_names_win_and_are_sanitised() {
        let npx = cmd(&["npx", "-y", "@modelcontextprotocol/server-filesystem"]);
        assert_eq!(server_name(Some("files"), &npx).as_deref(), Ok("files"));
        assert_eq!(
            server_name(Some("My Files.v2"), &npx).as_deref(),
            Ok("my-files-v2")
        );
        assert_eq!(server_name(None, &npx).as_deref(), Ok("server-filesystem"));
        // `--name` wins even where nothing could be derived.
        assert_eq!(
            server_name(Some("x"), &cmd(&["sh", "-c", "y"])).as_deref(),
            Ok("x")
        );
        let err = server_name(Some("*.*"), &npx).unwrap_err();
        assert!(err.contains("--name"), "{err}");
        let err = server_name(None, &cmd(&["python3", "server.py"])).unwrap_err();
        assert!(err.contains("--name NAME"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        // What the operator wrote is quoted, never replayed raw on the terminal.
        for hostile in [
            cmd(&["npm", "\u{1b}[2J\nx"]),
            cmd(&["npx", "--evil\u{1b}]0;t\u{7}", "x"]),
            cmd(&["uv", "\u{202e}sync"]),
        ] {
            let err = server_name(None, &hostile).unwrap_err();
            assert!(
                !err.contains(['\u{1b}', '\n', '\u{7}', '\u{202e}']),
                "{err:?}"
            );
        }
        let err = server_name(Some("\u{1b}\n.*"), &npx).unwrap_err();
        assert!(!err.contains(['\u{1b}', '\n']), "{err:?}");
    }

    #[test]
    fn policy_names_cannot_add_levels_or_globs() {
        assert_eq!(
            policy_server_name("mcp-servers/everything").as_deref(),
            Some("mcp-servers-everything")
        );
        assert_eq!(
            policy_server_name("Evil.*.Name").as_deref(),
            Some("evil-name")
        );
        assert_eq!(policy_server_name("..."), None);
        assert_eq!(policy_server_name(""), None);
        assert_eq!(
            policy_server_name("x".repeat(200).as_str()).map(|n| n.len()),
            Some(64)
        );
    }
}
