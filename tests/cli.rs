//! The command line as people and scripts use it, against a real server.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use common::{Env, POLICY};
use gavel::protocol::{EscalationState, PublicKey};
use serde_json::json;

fn gavel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .env_remove("GAVEL_SERVER")
        .env_remove("GAVEL_KEY")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn keygen_writes_a_private_key_and_prints_the_public_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/zoe.key");
    let out = gavel(&["keygen", "--id", "zoe", "--out", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let public = String::from_utf8(out.stdout).unwrap();
    let public = PublicKey::parse(public.trim()).expect("prints ed25519:<base64>");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        gavel::protocol::PersonKey::read(&path).unwrap().public(),
        public
    );
    // Never overwrites.
    let again = gavel(&["keygen", "--id", "zoe", "--out", path.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn agent_token_prints_a_token_and_its_sha256() {
    let out = gavel(&["agent-token"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].len() >= 40);
    assert_eq!(
        lines[1],
        gavel::protocol::canonical::sha256_hex(lines[0].as_bytes())
    );
    assert_ne!(
        gavel(&["agent-token"]).stdout,
        text.as_bytes(),
        "tokens are random"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_decide_and_kill_from_the_command_line() {
    let env = Env::start(POLICY).await;
    let url = env.url();
    let large = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 2000.0, "note": "\u{1b}[31mred"}),
            "s",
        )
        .await;
    let esc_id = large.escalation.clone().unwrap();
    let carol = env.key_file("carol");
    let alice = env.key_file("alice");
    let dave = env.key_file("dave");
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            gavel(&a)
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // The command, then --server and --key: how a person runs it.
    let with = |key: &std::path::Path, v: &[&str]| {
        let mut args = s(v);
        args.extend([
            "--server".into(),
            url.clone(),
            "--key".into(),
            key.display().to_string(),
        ]);
        args
    };

    let out = run(with(&carol, &["pending"])).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next().unwrap();
    assert!(line.starts_with(&esc_id), "{line}");
    assert!(
        line.contains("refund-bot")
            && line.contains("stripe.refund")
            && line.contains("refund-large"),
        "{line}"
    );
    let out = run(with(&carol, &["pending", "--json"])).await.unwrap();
    let list: Vec<gavel::protocol::Escalation> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1);

    // Refused: deny without a reason (caught locally), then dave is outside the group.
    let out = run(with(&carol, &["decide", &esc_id, "deny"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--reason"), "{}", stderr(&out));
    let out = run(with(&dave, &["decide", &esc_id, "approve"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.lines().last().unwrap().contains("outside_group"),
        "{err}"
    );

    // Accepted: shows what it signs (inert), then the result.
    let out = run(with(
        &carol,
        &["decide", &esc_id, "approve", "--reason", "verified"],
    ))
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stderr(&out);
    assert!(
        shown.contains(&esc_id) && shown.contains("digest") && shown.contains("[31mred"),
        "{shown}"
    );
    assert!(!shown.contains('\u{1b}'));
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved"));
    assert_eq!(
        env.escalation(&esc_id).await.state,
        EscalationState::Approved
    );

    // Kill switch: carol is no operator; alice is.
    let out = run(with(
        &carol,
        &["kill", "agent:mailer", "--on", "--reason", "spam"],
    ))
    .await
    .unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("not_operator"),
        "{}",
        stderr(&out)
    );
    let out = run(with(
        &alice,
        &["kill", "agent:mailer", "--on", "--reason", "spam"],
    ))
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.act("mailer", "orders.get", json!({}), "s")
            .await
            .verdict,
        gavel::protocol::Verdict::Deny
    );
    let out = run(with(
        &alice,
        &["kill", "agent:mailer", "--off", "--reason", "ok"],
    ))
    .await
    .unwrap();
    assert!(out.status.success());
    assert_eq!(
        env.act("mailer", "orders.get", json!({}), "s")
            .await
            .verdict,
        gavel::protocol::Verdict::Allow
    );
    let out = run(with(
        &alice,
        &["kill", "everything", "--on", "--reason", "x"],
    ))
    .await
    .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("scope must be"));

    // A group-readable key is refused before anything is sent.
    std::fs::set_permissions(&alice, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(with(&alice, &["pending"])).await.unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));

    // Server down: one clear line.
    let out = run(s(&[
        "pending",
        "--server",
        "http://127.0.0.1:9",
        "--key",
        carol.to_str().unwrap(),
    ]))
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach gavel"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_refuses_a_typo_and_says_what_it_will_cancel_and_did() {
    let env = Env::start(POLICY).await;
    let mut ids = Vec::new();
    for amount in [2000.0, 3000.0] {
        let out = env
            .act(
                "refund-bot",
                "stripe.refund",
                json!({"amount": amount}),
                "s",
            )
            .await;
        ids.push(out.escalation.unwrap());
    }
    let spared = env
        .act("mailer", "email.send", json!({"to": "a@b.c"}), "s")
        .await;
    let alice = env.key_file("alice");
    let url = env.url();
    let kill = |scope: &str| {
        let args: Vec<String> = [
            "kill",
            scope,
            "--on",
            "--reason",
            "runaway",
            "--server",
            &url,
            "--key",
            alice.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            gavel(&a)
        })
    };

    // A typo: refused with one line, exit non-zero, and nothing is switched on or cancelled.
    let out = kill("agent:refund-bto").await.unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("unknown_agent_scope") && err.contains("refund-bot"),
        "{err}"
    );
    assert!(env
        .client
        .killswitches(env.key("alice"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        env.client
            .escalations(env.key("alice"))
            .await
            .unwrap()
            .len(),
        3
    );

    // The real thing: it says how many it will cancel, flips, and says which it cancelled.
    let out = kill("agent:refund-bot").await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "turning agent:refund-bot on will cancel 2 pending escalations",
        "{text}"
    );
    assert!(
        lines[1].starts_with("kill switch agent:refund-bot is ON"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("cancelled 2 pending escalations: ")
            && ids.iter().all(|id| lines[2].contains(id.as_str())),
        "{text}"
    );
    let left = env.client.escalations(env.key("alice")).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [spared.escalation.unwrap()]
    );
}
