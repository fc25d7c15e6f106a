//! Three replicas as real `gavel serve` processes on one real PostgreSQL, agents and approvers
//! on every one of them: one is SIGKILLed under load. Nothing any replica acknowledged is lost,
//! the survivors keep serving, the killed one rejoins when restarted, and the one audit chain
//! verifies.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{EscalationState, PersonKey, Verdict, Vote};
use serde_json::json;

use common::postgres::fresh_database;
use common::process::{free_port, Process};
use common::{request, Env, POLICY};

/// Three running replicas on `store`: their data dirs and ports (to restart one as it was),
/// their processes (drop one to SIGKILL it) and clients.
struct Three {
    dirs: Vec<std::path::PathBuf>,
    ports: Vec<u16>,
    replicas: Vec<Option<(Process, Client)>>,
    clients: Vec<Client>,
}

async fn start_three(env: &Env, store: &str) -> Three {
    let dirs = data_dirs(env);
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(Some(spawn(env, &dirs[i], store, ports[i]).await));
    }
    let clients = replicas
        .iter()
        .map(|r| r.as_ref().unwrap().1.clone())
        .collect();
    Three {
        dirs,
        ports,
        replicas,
        clients,
    }
}

/// Three replica data dirs holding one server key.
fn data_dirs(env: &Env) -> Vec<std::path::PathBuf> {
    let key = PersonKey::generate("server");
    (0..3)
        .map(|i| {
            let dir = env.dir.path().join(format!("replica-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            key.write_new(&dir.join("server.key")).unwrap();
            dir
        })
        .collect()
}

async fn spawn(env: &Env, data: &Path, store: &str, port: u16) -> (Process, Client) {
    let child = Process(
        Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--store",
                store,
            ])
            .arg("--data")
            .arg(data)
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
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((s, _)) = client
            .raw::<()>(reqwest::Method::GET, "/readyz", None, None)
            .await
        {
            if s.is_success() {
                return (child, client);
            }
        }
        assert!(tokio::time::Instant::now() < until, "replica never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `gavel audit verify --store` passes on the shared log.
fn assert_verifies(store: &str) {
    let verify = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--store", store])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

type Acked = Arc<Mutex<Vec<(String, String, Verdict)>>>;

/// Agents submitting on `client` until it stops answering; each answer is recorded.
fn agents(
    env: &Env,
    client: &Client,
    replica: usize,
    acked: &Acked,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..3)
        .map(|w| {
            let (client, acked) = (client.clone(), acked.clone());
            let agent = ["refund-bot", "mailer", "deployer"][w % 3];
            let token = env.token(agent).to_string();
            tokio::spawn(async move {
                for i in 0.. {
                    let (tool, amount) = if i % 4 == 0 {
                        ("stripe.refund", 5000.0)
                    } else {
                        ("orders.get", 1.0)
                    };
                    let session = format!("r{replica}w{w}");
                    let req = request(tool, json!({"amount": amount, "i": i}), &session);
                    match client.submit(&token, &req).await {
                        Ok(o) => acked.lock().unwrap().push((token.clone(), o.id, o.verdict)),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_loses_nothing_acknowledged_and_rejoins() {
    let env = Env::new(POLICY);
    let store = fresh_database();
    let Three {
        dirs,
        ports,
        mut replicas,
        clients,
    } = start_three(&env, &store).await;

    let acked: Acked = Arc::default();
    let mut load = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        load.push(agents(&env, client, i, &acked));
    }
    // Approvers on every replica approve what they see pending; each acknowledged vote is kept.
    let votes: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut approvers = Vec::new();
    for client in clients.clone() {
        let votes = votes.clone();
        let key = PersonKey::read(&env.key_file("carol")).unwrap();
        approvers.push(tokio::spawn(async move {
            loop {
                let Ok(pending) = client.escalations(&key).await else {
                    break;
                };
                for esc in pending
                    .iter()
                    .filter(|e| e.rule.id == "refund-large")
                    .take(3)
                {
                    let vote = Client::sign_decision(&key, esc, Vote::Approve, "ok");
                    match client.decide(&vote).await {
                        Ok(ack) if ack.recorded => votes.lock().unwrap().push(esc.id.clone()),
                        Ok(_) => {}
                        Err(e) if e.code() == "unreachable" => return,
                        Err(_) => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    let wait_for = |n: usize| {
        let acked = acked.clone();
        async move {
            let until = tokio::time::Instant::now() + Duration::from_secs(60);
            while acked.lock().unwrap().len() < n {
                assert!(tokio::time::Instant::now() < until, "load stalled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(300).await;
    drop(replicas[1].take()); // SIGKILL mid-load
    for w in load.remove(1) {
        let _ = w.await;
    }
    // The survivors keep serving.
    let at_kill = acked.lock().unwrap().len();
    wait_for(at_kill + 200).await;

    // The killed replica rejoins on its data dir and port.
    replicas[1] = Some(spawn(&env, &dirs[1], &store, ports[1]).await);
    let rejoined = replicas[1].as_ref().unwrap().1.clone();
    let ok = rejoined
        .submit(
            env.token("mailer"),
            &request("orders.get", json!({}), "after"),
        )
        .await
        .unwrap();
    assert_eq!(ok.verdict, Verdict::Allow);

    for a in approvers {
        a.abort();
    }
    for group in load {
        for w in group {
            w.abort();
        }
    }
    // Every acknowledged answer is there, the same, on every replica (the rejoined one too).
    let acked = acked.lock().unwrap().clone();
    let votes = votes.lock().unwrap().clone();
    assert!(!votes.is_empty(), "approvers voted under load");
    for client in [&clients[0], &clients[2], &rejoined] {
        for (token, id, verdict) in &acked {
            let got = client
                .outcome(token, id, Duration::ZERO)
                .await
                .unwrap_or_else(|e| panic!("{id} lost: {e}"));
            if *verdict == Verdict::Pending {
                // Approved since, or still pending: never lost, never denied by the kill.
                assert_ne!(got.verdict, Verdict::Deny, "{id}");
            } else {
                assert_eq!(got.verdict, *verdict, "{id}");
            }
        }
        for id in &votes {
            let esc = client.escalation(env.key("alice"), id).await.unwrap();
            assert_eq!(esc.state, EscalationState::Approved, "{id}");
        }
    }
    drop(replicas);
    assert_verifies(&store);
}

const DEADLINES: &str = r#"
[[rule]]
id = "deploy-fast"
tools = ["deploy.release"]
effect = "review"
reason = "Deploys need ops"
approvers = "ops"
timeout = "2s"
"#;

/// How many `escalation_resolved` records name each of `ids`, and its state in the table.
fn resolutions(store: &str, ids: &[String]) -> Vec<(String, i64, String)> {
    let ids = ids.to_vec();
    common::postgres::with_client(store, move |c| {
        ids.iter()
            .map(|id| {
                let n: i64 = c
                    .query_one(
                        "SELECT count(*) FROM audit
                         WHERE kind = 'escalation_resolved' AND body::jsonb ->> 'escalation' = $1",
                        &[id],
                    )
                    .unwrap()
                    .get(0);
                let state: String = c
                    .query_one("SELECT state FROM escalations WHERE id = $1", &[id])
                    .unwrap()
                    .get(0);
                (id.clone(), n, state)
            })
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_fire_once_when_a_replica_dies_mid_expiry_and_when_all_were_down() {
    let env = Env::new(DEADLINES);
    let store = fresh_database();
    let Three {
        dirs,
        ports,
        mut replicas,
        clients,
    } = start_three(&env, &store).await;
    let submit = |i: usize, n: usize| {
        let client = clients[i].clone();
        let token = env.token("deployer").to_string();
        async move {
            let req = request("deploy.release", json!({"n": n}), &format!("s{n}"));
            client
                .submit(&token, &req)
                .await
                .unwrap()
                .escalation
                .unwrap()
        }
    };
    // Every replica times these; replica 0 is killed as they come due.
    let mut due = Vec::new();
    for n in 0..12 {
        due.push(submit(n % 3, n).await);
    }
    tokio::time::sleep(Duration::from_millis(1900)).await;
    drop(replicas[0].take());
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = resolutions(&store, &due);
        if r.iter().all(|(_, n, state)| *n >= 1 && state == "expired") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not all expired: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Held, then every replica down past the deadlines: the first to start denies them.
    let mut down = Vec::new();
    for n in 100..106 {
        down.push(submit(1 + n % 2, n).await);
    }
    drop(replicas);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_back, client) = spawn(&env, &dirs[2], &store, ports[2]).await;
    for id in &down {
        let esc = client.escalation(env.key("dave"), id).await.unwrap();
        assert_eq!(esc.state, EscalationState::Expired, "{id}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (id, n, state) in resolutions(&store, &due)
        .into_iter()
        .chain(resolutions(&store, &down))
    {
        assert_eq!((n, state.as_str()), (1, "expired"), "{id}");
    }
    assert_verifies(&store);
}
