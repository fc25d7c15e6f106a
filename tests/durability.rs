//! The real server binary and its data dir: SIGKILL under load loses nothing acknowledged and
//! the audit log verifies; one server per data dir; the audit log verifies while a server writes
//! it; `/readyz` says when the store cannot write, and storage failures are logged.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{free_port, Process};
use common::{request, Env, POLICY};
use gavel::client::Client;
use gavel::protocol::{EscalationState, Verdict, Vote};
use serde_json::json;

fn serve_command(env: &Env, port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(&env.data)
        .arg("--policy")
        .arg(&env.policy)
        .arg("--roster")
        .arg(&env.roster)
        .stdout(Stdio::null());
    cmd
}

async fn spawn_server(env: &Env) -> (Process, Client) {
    spawn_server_logging(env, Stdio::null()).await
}

/// A server whose log (stderr) goes to `log`, answering `/healthz`.
async fn spawn_server_logging(env: &Env, log: Stdio) -> (Process, Client) {
    let port = free_port();
    let child = Process(serve_command(env, port).stderr(log).spawn().unwrap());
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((s, _)) = client
            .raw::<()>(reqwest::Method::GET, "/healthz", None, None)
            .await
        {
            if s.is_success() {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_nothing_acknowledged() {
    let env = Env::new(POLICY);
    let (child, client) = spawn_server(&env).await;

    // A decision and a flip acknowledged before the load.
    let out = client
        .submit(
            env.token("refund-bot"),
            &request("stripe.refund", json!({"amount": 20000.0}), "s"),
        )
        .await
        .unwrap();
    let esc = client
        .escalation(env.key("alice"), out.escalation.as_deref().unwrap())
        .await
        .unwrap();
    client
        .decide(&Client::sign_decision(
            env.key("bob"),
            &esc,
            Vote::Approve,
            "first of two",
        ))
        .await
        .unwrap();
    client
        .flip(env.key("alice"), "tool:crm.delete", true, "frozen")
        .await
        .unwrap();

    let acked: Arc<Mutex<Vec<(String, String, Verdict)>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (client, acked) = (client.clone(), acked.clone());
        let agent = ["refund-bot", "mailer", "deployer"][w % 3];
        let token = env.token(agent).to_string();
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let (tool, amount) = if i % 5 == 0 {
                    ("stripe.refund", 5000.0)
                } else {
                    ("orders.get", 1.0)
                };
                match client
                    .submit(
                        &token,
                        &request(tool, json!({"amount": amount, "i": i}), &format!("w{w}")),
                    )
                    .await
                {
                    Ok(o) => acked.lock().unwrap().push((token.clone(), o.id, o.verdict)),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Let the load build up, then kill without warning.
    let start = tokio::time::Instant::now();
    while acked.lock().unwrap().len() < 300 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(child); // SIGKILL
    for w in workers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "load reached {} acknowledged actions",
        acked.len()
    );

    // The audit log of a killed server verifies.
    let verify = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--data"])
        .arg(&env.data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let (child, client) = spawn_server(&env).await;
    for (token, id, verdict) in &acked {
        let got = client
            .outcome(token, id, Duration::ZERO)
            .await
            .unwrap_or_else(|e| panic!("{id} lost: {e}"));
        assert_eq!(got.verdict, *verdict, "{id}");
    }
    let kept = client.escalation(env.key("alice"), &esc.id).await.unwrap();
    assert_eq!(
        (kept.state, kept.decisions.len()),
        (EscalationState::Pending, 1)
    );
    let switches = client.killswitches(env.key("alice")).await.unwrap();
    assert!(switches
        .iter()
        .any(|k| k.scope == "tool:crm.delete" && k.on));
    let pending = client.escalations(env.key("alice")).await.unwrap();
    // Every acknowledged escalation is still pending. A few more may exist: calls the server
    // committed but could not answer before it died (at most one per worker in flight).
    let pending_actions: std::collections::HashSet<&str> =
        pending.iter().map(|e| e.action.id.as_str()).collect();
    let acked_pending: Vec<&str> = acked
        .iter()
        .filter(|(_, _, v)| *v == Verdict::Pending)
        .map(|(_, id, _)| id.as_str())
        .collect();
    for id in &acked_pending {
        assert!(
            pending_actions.contains(id),
            "acknowledged escalation for {id} lost"
        );
    }
    assert!(
        pending.len() <= acked_pending.len() + 1 + 8,
        "{} pending",
        pending.len()
    );

    drop(child);
    let verify = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--data"])
        .arg(&env.data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// `gavel ARGS…` to completion, off the async threads.
async fn gavel(args: Vec<std::ffi::OsString>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<std::ffi::OsString> {
    list.iter().map(|a| a.as_ref().to_os_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_exits_naming_the_holder() {
    let env = Env::new(POLICY);
    let (first, client) = spawn_server(&env).await;
    let port = client.base().rsplit(':').next().unwrap().to_string();
    let token = env.token("refund-bot");
    client
        .submit(token, &request("orders.get", json!({}), "s"))
        .await
        .unwrap();

    let mut second = serve_command(&env, free_port())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server on the same data dir kept running");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    for part in [
        env.data.display().to_string(),
        format!("pid {}", first.0.id()),
        format!("listening on http://127.0.0.1:{port}"),
    ] {
        assert!(err.contains(&part), "{part:?} not in {err}");
    }

    // The first server keeps writing, and its log still verifies.
    for i in 0..20 {
        client
            .submit(token, &request("orders.get", json!({"i": i}), "s"))
            .await
            .unwrap();
    }
    let verify = gavel(args(&[&"audit", &"verify", &"--data", &env.data])).await;
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    drop(first);
    // Once it is gone (SIGKILL: the OS releases its lock), the data dir can be served again.
    let (_again, client) = spawn_server(&env).await;
    client
        .submit(token, &request("orders.get", json!({}), "s"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_verifies_and_exports_an_anchor_while_the_server_writes_it() {
    let env = Env::new(POLICY);
    let (_server, client) = spawn_server(&env).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, stop) = (client.clone(), stop.clone());
        let token = env.token(["refund-bot", "mailer"][w % 2]).to_string();
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (tool, amount) = if i % 4 == 0 {
                    ("stripe.refund", 500.0)
                } else {
                    ("orders.get", 1.0)
                };
                client
                    .submit(
                        &token,
                        &request(tool, json!({"amount": amount, "i": i}), "s"),
                    )
                    .await
                    .unwrap();
                i += 1;
            }
        }));
    }
    let anchor = env.dir.path().join("anchor.json");
    for _ in 0..6 {
        let out = gavel(args(&[&"audit", &"checkpoint", &"--data", &env.data])).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&anchor, &out.stdout).unwrap();
        let out = gavel(args(&[
            &"audit",
            &"verify",
            &"--data",
            &env.data,
            &"--anchor",
            &anchor,
        ]))
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_the_store_cannot_write_and_the_failure_is_logged() {
    let env = Env::new(POLICY);
    let log_path = env.dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (_server, client) = spawn_server_logging(&env, Stdio::from(log)).await;
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            client
                .raw::<()>(reqwest::Method::GET, path, None, None)
                .await
                .unwrap()
        }
    };
    let (status, body) = get("/readyz").await;
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (200, Some("ready"))
    );

    // Another process holds SQLite's write lock on gavel.db: the server cannot write.
    let holder = rusqlite::Connection::open(gavel::server::store::db_path(&env.data)).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    // Answers share a probe for a second: wait for one made under the lock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = get("/readyz").await;
        if status.as_u16() == 503 {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz stayed 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("the store cannot write") && reason.contains("locked"),
        "{reason}"
    );
    let (status, body) = get("/healthz").await;
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (200, Some("ok"))
    );
    let token = env.token("refund-bot");
    let e = client
        .submit(token, &request("orders.get", json!({}), "s"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage_unavailable");
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.lines().any(|l| l.contains("ERROR")
            && l.contains("store write failed")
            && l.contains("an action")
            && l.contains("locked")),
        "{logged}"
    );

    holder.execute_batch("ROLLBACK").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = get("/readyz").await;
        if status.is_success() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz stayed 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
        .submit(token, &request("orders.get", json!({}), "s"))
        .await
        .unwrap();
}
