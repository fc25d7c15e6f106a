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
