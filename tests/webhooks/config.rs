//! `gavel serve --config` refuses a bad `[[webhook]]` table with one line naming the file, the
//! line and the webhook, before it writes anything.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, POLICY};
use crate::SECRET;

/// Runs `gavel serve --config` with `tables` after the server's own keys; its one-line error.
fn refused(tables: &str) -> String {
    let env = Env::new(POLICY);
    let path = env.dir.path().join("gavel.toml");
    let head = "listen = \"127.0.0.1:0\"\ndata = \"data\"\npolicy = \"policy.toml\"\nroster = \"roster.toml\"\n\n";
    std::fs::write(&path, format!("{head}{tables}")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("GAVEL_TEST_UNSET_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the server started with a bad webhook: {tables}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!env.data.exists(), "nothing written: {err}");
    err
}

#[test]
fn bad_webhook_tables_are_refused_with_file_and_line() {
    let hook = |extra: &str| {
        format!("[[webhook]]\nid = \"pager\"\nurl = \"https://hooks.example/x\"\nsecret = \"{SECRET}\"\n{extra}")
    };
    // Line 6 is `[[webhook]]`; the extra key is on line 10.
    for (extra, what) in [
        ("events = [\"escalation.opened\"]\n", "escalation.opened"),
        ("retries = 3\n", "retries"),
        ("format = \"teams\"\n", "teams"),
        ("near_deadline = \"5 min\"\n", "near_deadline"),
        ("format = \"pagerduty\"\n", "routing_key"),
    ] {
        let e = refused(&hook(extra));
        assert!(e.contains("gavel.toml:10:"), "{extra}: {e}");
        assert!(
            e.contains("webhook \"pager\"") && e.contains(what),
            "{extra}: {e}"
        );
    }
    // A secret from an environment variable that is not set: the line that names it.
    let e = refused(
        "[[webhook]]\nid = \"pager\"\nurl = \"https://hooks.example/x\"\n\
         secret_env = \"GAVEL_TEST_UNSET_SECRET\"\n",
    );
    assert!(
        e.contains("gavel.toml:9:") && e.contains("GAVEL_TEST_UNSET_SECRET"),
        "{e}"
    );
}
