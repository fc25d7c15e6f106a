//! One `gavel.toml` for every command: person commands read `[console]`, adapters `[adapter]`,
//! `gavel serve --config` the top-level keys; a mistake anywhere is one line naming the file,
//! the line and the table. And what person commands print is inert.

mod common;

use std::process::{Command, Output, Stdio};

use common::{Env, POLICY};
use gavel::protocol::sanitize::is_dangerous;
use serde_json::json;

fn gavel(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .env("GAVEL_CONFIG", config)
        .env_remove("GAVEL_SERVER")
        .env_remove("GAVEL_KEY")
        .env_remove("GAVEL_CA_CERT")
        .env_remove("GAVEL_AGENT_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

async fn run(args: &[&str], config: &std::path::Path) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        gavel(&a, &config)
    })
    .await
    .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_commands_read_the_console_table() {
    let env = Env::start(POLICY).await;
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0}),
            "s",
        )
        .await;
    let esc = out.escalation.unwrap();
    let config = env.dir.path().join("gavel.toml");
    let key = env.key_file("carol");
    std::fs::write(
        &config,
        format!(
            "[console]\nserver = \"{}\"\nkey = \"{}\"\n",
            env.url(),
            key.display()
        ),
    )
    .unwrap();

    // No --server, no --key: both come from the file.
    let listed = run(&["pending"], &config).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&esc));
    let decided = run(&["decide", &esc, "approve", "--reason", "ok"], &config).await;
    assert!(decided.status.success(), "{}", stderr(&decided));
    let flipped = run(&["kill", "tool:x.y", "--on", "--reason", "r"], &config).await;
    assert!(!flipped.status.success(), "carol is no operator");
    assert!(
        stderr(&flipped).contains("not_operator"),
        "{}",
        stderr(&flipped)
    );

    // A key relative to the file is found next to it.
    std::fs::write(
        &config,
        format!(
            "[console]\nserver = \"{}\"\nkey = \"carol.key\"\n",
            env.url()
        ),
    )
    .unwrap();
    let listed = run(&["pending"], &config).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_anywhere_in_the_file_is_one_line_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gavel.toml");
    let name = config.display().to_string();
    std::fs::write(
        &config,
        "[console]\nserver = \"http://127.0.0.1:9\"\n\n[adapter]\nagent_tokn = \"t\"\n",
    )
    .unwrap();
    for args in [
        &["pending"][..],
        &["decide", "esc_x", "approve"],
        &["kill", "global", "--on", "--reason", "r"],
        &["console"],
        &["gate", "--", "true"],
    ] {
        let out = run(args, &config).await;
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(&format!("{name}:5:1"))
                && err.contains("[adapter]")
                && err.contains("agent_tokn"),
            "{args:?}: {err}"
        );
    }

    // The hook answers with a deny naming the same place (Claude Code shows the reason).
    let mut hook = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["hook", "claude-code", "--timeout", "10"])
        .env("GAVEL_CONFIG", &config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(hook.stdin.take());
    let out = hook.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"deny\"") && text.contains("agent_tokn"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_the_same_file_and_refuses_unknown_keys() {
    let env = Env::new(POLICY);
    let config = env.dir.path().join("gavel.toml");
    let name = config.display().to_string();
    // A [console] table beside the server's keys is fine: it is one schema.
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\ndata = \"data\"\npolicy = \"policy.toml\"\nroster = \"roster.toml\"\n\
         lisen = \"127.0.0.1:1\"\n[console]\nserver = \"http://127.0.0.1:7878\"\n",
    )
    .unwrap();
    let out = run(&["serve", "--config", &name], &config).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{name}:5:1")) && err.contains("lisen"),
        "{err}"
    );

    // A retention shorter than the day an Idempotency-Key names its row: from the file, and
    // from the flag, which wins over it.
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\ndata = \"data\"\npolicy = \"policy.toml\"\nroster = \"roster.toml\"\n\
         keep_actions = \"1h\"\n",
    )
    .unwrap();
    let out = run(&["serve", "--config", &name], &config).await;
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.contains(&format!("{name}:5:16"))
            && err.contains("at least 1d1h"),
        "{err}"
    );
    let out = run(
        &["serve", "--config", &name, "--keep-actions", "2h"],
        &config,
    )
    .await;
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("--keep-actions") && err.contains("at least 1d1h"),
        "{err}"
    );

    // Without the typo it starts (relative paths are the file's) and serves.
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\ndata = \"data\"\npolicy = \"policy.toml\"\nroster = \"roster.toml\"\n\
         keep_actions = \"90d\"\n[console]\nserver = \"http://127.0.0.1:7878\"\n[adapter]\nhook_timeout = 30\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--config", &name])
        .current_dir("/")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("gavel serving on ") {
                return line;
            }
        }
        panic!("the server exited before serving");
    })
    .await
    .unwrap();
    assert!(
        serving.contains(&env.dir.path().join("data").display().to_string())
            && serving.ends_with("action rows kept 90d)"),
        "{serving}"
    );
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_prints_agent_text_inert_in_lines_and_json() {
    let env = Env::start(POLICY).await;
    let hostile = "stripe.refund\u{9b}31m\u{202e}\u{200b}\u{e0041}";
    let out = env
        .submit(
            "refund-bot",
            common::request(
                "email.send",
                json!({"to": hostile, "note": "\u{1b}]0;x\u{7}"}),
                "s",
            ),
        )
        .await;
    assert!(out.escalation.is_some());
    let key = env.key_file("bob").display().to_string();
    let config = env.dir.path().join("none.toml");
    std::fs::write(&config, "").unwrap();
    for args in [vec!["pending"], vec!["pending", "--json"]] {
        let mut all = args.clone();
        let url = env.url();
        all.extend(["--server", url.as_str(), "--key", key.as_str()]);
        let out = run(&all, &config).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && c != '\t' && is_dangerous(c)),
            "{args:?} printed a raw control, format or bidi character: {text:?}"
        );
        if args.len() == 2 {
            // Still JSON that decodes to exactly what the agent sent.
            let list: Vec<gavel::protocol::Escalation> = serde_json::from_str(&text).unwrap();
            assert_eq!(list[0].action.args["to"], hostile);
        }
    }
}
