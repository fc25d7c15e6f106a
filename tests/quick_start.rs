//! The README's quick start, as a new user follows it: copies of the example files, a key from
//! `gavel keygen` pasted into the roster, the server started with the README's flags, the agent's
//! call taken verbatim from the README, then `gavel pending` and `gavel decide` with nothing but
//! the defaults. If the README and the examples drift apart, this fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{ActionRequest, Verdict};
use tokio::io::AsyncBufReadExt;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The quick start section of the README.
fn quick_start() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("## Quick start")
        .expect("a quick start section");
    let rest = &readme[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end].to_string()
}

/// The JSON body of the README's `curl … /v1/actions -d '…'`.
fn readme_action(text: &str) -> ActionRequest {
    let at = text
        .find("/v1/actions -d '")
        .expect("the curl that submits an action");
    let body = &text[at + "/v1/actions -d '".len()..];
    let body = &body[..body.find('\'').expect("the end of the body")];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("the README's body is not JSON: {e}"))
}

/// What the README says the call returns: `"verdict":"…","rule":"…"`.
fn readme_expects(text: &str) -> (String, String) {
    let line = text
        .lines()
        .find(|l| l.contains("# → {"))
        .expect("the expected answer");
    let field = |name: &str| {
        let at = line.find(&format!("\"{name}\":\"")).unwrap() + name.len() + 4;
        line[at..at + line[at..].find('"').unwrap()].to_string()
    };
    (field("verdict"), field("rule"))
}

struct User {
    home: tempfile::TempDir,
    cwd: PathBuf,
}

impl User {
    fn gavel(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gavel"));
        c.args(args)
            .current_dir(&self.cwd)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("XDG_STATE_HOME", self.home.path().join(".local/state"))
            .env_remove("GAVEL_SERVER")
            .env_remove("GAVEL_KEY")
            .env_remove("GAVEL_CONFIG")
            .env_remove("GAVEL_CA_CERT");
        c
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_works_as_written() {
    let text = quick_start();
    assert!(text.contains("cp assets/policy.toml assets/roster.toml ."));
    let home = tempfile::tempdir().unwrap();
    let cwd = home.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    for f in ["policy.toml", "roster.toml"] {
        std::fs::copy(root().join("assets").join(f), cwd.join(f)).unwrap();
    }
    let user = User { home, cwd };

    // 1. A key for alice, pasted into the roster in place of the example key.
    let public = ok(&user.gavel(&["keygen", "--id", "alice"]))
        .trim()
        .to_string();
    let roster = std::fs::read_to_string(user.cwd.join("roster.toml")).unwrap();
    let example_key = roster
        .split("id = \"alice\"")
        .nth(1)
        .and_then(|r| r.lines().find(|l| l.starts_with("key = ")))
        .expect("alice's key line")
        .to_string();
    let roster = roster.replacen(&example_key, &format!("key = \"{public}\""), 1);
    std::fs::write(user.cwd.join("roster.toml"), roster).unwrap();

    // 2. The server, with the README's flags (on a free port instead of 7878).
    assert!(text.contains(
        "gavel serve --listen 127.0.0.1:7878 --data ./gavel-data --policy policy.toml --roster roster.toml"
    ));
    let mut serve = tokio::process::Command::from(user.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        "./gavel-data",
        "--policy",
        "policy.toml",
        "--roster",
        "roster.toml",
    ]));
    let mut child = serve
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("gavel serving on ") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("the server exited before serving");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // 3. The agent's call, exactly as the README writes it, with the README's token.
    assert!(text.contains("TOKEN=gvl_example_refund-bot"));
    let client = Client::new(&url);
    let action = readme_action(&text);
    let out = client
        .submit("gvl_example_refund-bot", &action)
        .await
        .unwrap();
    let (verdict, rule) = readme_expects(&text);
    assert_eq!(
        (serde_json::to_value(out.verdict).unwrap(), out.rule.clone()),
        (serde_json::json!(verdict), Some(rule)),
        "the README promises this answer: {out:?}"
    );
    let esc = out.escalation.clone().expect("an escalation");

    // 4. `gavel pending` and `gavel decide` with the defaults: the key in the config dir, the
    //    server on the default URL — here given as GAVEL_SERVER, the one thing that differs.
    let with_server = |args: &[&str]| {
        let mut c = user.command(args);
        c.env("GAVEL_SERVER", &url);
        c.output().unwrap()
    };
    let listed = ok(&tokio::task::block_in_place(|| with_server(&["pending"])));
    assert!(listed.contains(&esc), "{listed}");
    ok(&tokio::task::block_in_place(|| {
        with_server(&[
            "decide",
            &esc,
            "approve",
            "--reason",
            "verified the double charge",
        ])
    }));
    let done = client
        .outcome("gvl_example_refund-bot", &out.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.verdict, Verdict::Allow, "{done:?}");
    assert!(Path::new(&user.cwd.join("gavel-data/gavel.db")).exists());
    child.kill().await.unwrap();
}
