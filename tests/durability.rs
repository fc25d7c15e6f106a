//! Kill the real server binary with SIGKILL under load, restart it: nothing acknowledged is lost
//! and the audit log verifies.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{request, Env, POLICY};
use gavel::client::Client;
use gavel::protocol::{EscalationState, Verdict, Vote};
use serde_json::json;

/// Kills the server if the test fails half-way, so no `gavel serve` outlives it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn_server(env: &Env) -> (Server, Client) {
    let port = free_port();
    let child = Server(
        Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(&env.data)
            .arg("--policy")
            .arg(&env.policy)
            .arg("--roster")
            .arg(&env.roster)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
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
