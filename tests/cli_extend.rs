//! `gavel extend ESCALATION --by DURATION --reason TEXT` as a person runs it, against a real
//! server: the deadline moves, the audit log says who and why, and a refusal is one line.

mod common;

use common::{Env, POLICY};
use serde_json::json;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// The standard policy with an `extend` allowance of 30 minutes on bank transfers.
fn policy() -> String {
    format!(
        "{POLICY}\n[[rule]]\nid = \"transfer\"\ntools = [\"bank.transfer\"]\neffect = \"review\"\n\
         reason = \"Transfers need finance\"\napprovers = \"finance\"\ntimeout = \"10m\"\n\
         extend = \"30m\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gavel_extend_moves_the_deadline_and_says_what_is_used() {
    let env = Env::start(&policy()).await;
    let out = env
        .act("refund-bot", "bank.transfer", json!({"to": "x"}), "s")
        .await;
    let id = out.escalation.unwrap();
    let before = env.escalation(&id).await.deadline;

    let run = env
        .run_as(
            "carol",
            &[
                "extend",
                &id,
                "--by",
                "20m",
                "--reason",
                "CFO is in a meeting",
            ],
        )
        .await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let said = text(&run.stdout);
    assert!(
        said.contains("extended") && said.contains("20m of 30m"),
        "{said}"
    );
    let after = env.escalation(&id).await;
    assert_eq!(after.deadline, before + chrono::Duration::minutes(20));

    let records = env
        .client
        .audit(env.key("grace"), "kind=extended")
        .await
        .unwrap();
    let r = records.last().expect("an extended record");
    assert_eq!(r.actor, "carol");
    assert_eq!(r.body["reason"], "CFO is in a meeting");

    // Past the allowance: one line on stderr saying what is left, non-zero exit.
    let run = env
        .run_as("carol", &["extend", &id, "--by", "15m", "--reason", "more"])
        .await;
    assert!(!run.status.success());
    let err = text(&run.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("only 10m of the 30m allowance is left"),
        "{err}"
    );

    // A bad duration never reaches the server.
    let run = env
        .run_as("carol", &["extend", &id, "--by", "soon", "--reason", "x"])
        .await;
    assert!(!run.status.success());
    assert!(text(&run.stderr).contains("--by"), "{}", text(&run.stderr));
}
