//! Python launchers: `uvx`, `uv run`, `pipx run`, `python -m`.

use super::options::*;
use super::*;

pub(super) const UVX: Options<'static> = Options {
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
pub(super) fn uvx(args: &[String]) -> Derived {
    let parsed = options("uvx", args, &UVX, &["--from"])?;
    package_or_operand("uvx", &parsed, python_package)
}

pub(super) const UV_RUN_VALUED: &[&str] = &[
    "--group",
    "--extra",
    "--package",
    "--only-group",
    "--script",
    "-m",
    "--module",
];
pub(super) const UV_RUN_FLAGS: &[&str] = &[
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
pub(super) fn uv(args: &[String], depth: usize) -> Derived {
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
pub(super) fn pipx(args: &[String]) -> Derived {
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
pub(super) fn python(args: &[String]) -> Derived {
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
pub(super) fn python_module(module: &str) -> Derived {
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
