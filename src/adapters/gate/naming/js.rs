//! JavaScript launchers: `npx` and its kin, `node` and other script runners, `deno`.

use super::options::*;
use super::*;

pub(super) const NPX: Options<'static> = Options {
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
pub(super) fn js_runner(launcher: &str, args: &[String]) -> Derived {
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
pub(super) fn js_subcommand(launcher: &str, args: &[String]) -> Derived {
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

/// `node [options] FILE …` and the like; `-e`/`-p` code is refused.
pub(super) fn script_runner(launcher: &str, args: &[String]) -> Derived {
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

/// `deno run [options] FILE|URL|npm:PKG|jsr:PKG …`.
pub(super) fn deno(args: &[String]) -> Derived {
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
