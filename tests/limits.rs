//! Bounded under abuse: idle, slow and flooding connections can neither exhaust the server's
//! file descriptors nor keep agents and `/healthz` out, and an agent's request in flight is never
//! cut to make room.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use common::{request, Env, POLICY};
use gavel::client::Client;
use gavel::protocol::Verdict;
use gavel::server::Limits;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(15);

/// The harness's server with `limits`.
async fn serve_with(limits: Limits) -> (Env, gavel::server::RunningServer, Client) {
    let env = Env::new(POLICY);
    let mut cfg = env.config();
    cfg.limits = limits;
    let server = gavel::server::start(cfg).await.expect("server starts");
    let client = Client::new(&server.url());
    (env, server, client)
}

/// Reads until the server closes the connection; true if it did within `within`.
async fn closed_by_server(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a response (say, 408) before the close
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed() {
    let (_env, server, _) = serve_with(Limits {
        header_read: Duration::from_secs(1),
        body_read: Duration::from_secs(1),
        ..Limits::default()
    })
    .await;
    let addr = server.addr();

    // Says nothing at all.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Sends half a header, then stalls (slowloris).
    let mut slow_header = TcpStream::connect(addr).await.unwrap();
    slow_header
        .write_all(b"POST /v1/actions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Sends a whole header and a promise of a body that never comes.
    let mut slow_body = TcpStream::connect(addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/actions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Authorization: Bearer nobody\r\nContent-Length: 100\r\n\r\n{\"tool\":",
        )
        .await
        .unwrap();
    // Keeps a connection open after its request, idle.
    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    for (name, conn) in [
        ("silent", &mut silent),
        ("slow header", &mut slow_header),
        ("slow body", &mut slow_body),
        ("idle keep-alive", &mut keep_alive),
    ] {
        assert!(
            closed_by_server(conn, WAIT).await,
            "the {name} connection is still open"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_makes_room_but_never_cuts_a_waiting_agent() {
    let (env, server, client) = serve_with(Limits {
        max_connections: Some(8),
        ..Limits::default()
    })
    .await;
    let token = env.token("refund-bot").to_string();
    let pending = client
        .submit(
            &token,
            &request("stripe.refund", json!({"amount": 2000.0}), "s"),
        )
        .await
        .unwrap();
    assert_eq!(pending.verdict, Verdict::Pending);
    // The agent waits on its own connection.
    let waiting = {
        let (client, token, id) = (client.clone(), token.clone(), pending.id.clone());
        tokio::spawn(async move { client.outcome(&token, &id, Duration::from_secs(30)).await })
    };
    // Ten times the limit of idle connections arrive while it waits.
    let mut idle = Vec::new();
    for _ in 0..80 {
        idle.push(TcpStream::connect(server.addr()).await.unwrap());
    }
    // The server still answers a fresh connection...
    let health = reqwest::get(format!("{}/healthz", server.url()))
        .await
        .expect("healthz answers");
    assert!(health.status().is_success());
    // ...and the waiting agent gets its decision on the connection it kept.
    let esc = pending.escalation.unwrap();
    let decision = Client::sign_decision(
        env.key("carol"),
        &client.escalation(env.key("alice"), &esc).await.unwrap(),
        gavel::protocol::Vote::Approve,
        "ok",
    );
    Client::new(&server.url()).decide(&decision).await.unwrap();
    let out = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("the long poll ends")
        .unwrap()
        .expect("the waiting agent's connection was never cut");
    assert_eq!(out.verdict, Verdict::Allow);
    drop(idle);
    server.shutdown().await;
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The reported attack: thousands of idle connections against a server with a small
/// file-descriptor limit, through the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_cannot_exhaust_descriptors_or_lock_agents_out() {
    const FD_LIMIT: u64 = 256;
    let env = Env::new(POLICY);
    let data = env.dir.path().join("data").display().to_string();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data", &data])
        .args(["--policy", env.policy.to_str().unwrap()])
        .args(["--roster", env.roster.to_str().unwrap()])
        .env_remove("GAVEL_CONFIG")
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's own limit.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: FD_LIMIT,
                rlim_max: FD_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(WAIT, async {
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
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();

    // Eight times the descriptors the server has: idle ones and half-sent headers.
    let mut flood = Vec::new();
    for i in 0..(FD_LIMIT * 8) {
        let mut c = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        }
        flood.push(c);
    }
    assert!(
        open_fds(pid) as u64 <= FD_LIMIT,
        "the server holds {} descriptors",
        open_fds(pid)
    );

    // While the flood holds on, agents and probes are still answered.
    let client = Client::new(&url);
    for i in 0..5 {
        let health = tokio::time::timeout(WAIT, reqwest::get(format!("{url}/healthz")))
            .await
            .expect("healthz answers during the flood")
            .unwrap();
        assert!(health.status().is_success());
        let out = tokio::time::timeout(
            WAIT,
            client.submit(
                env.token("refund-bot"),
                &request("orders.get", json!({}), &format!("s{i}")),
            ),
        )
        .await
        .expect("an agent is answered during the flood")
        .unwrap();
        assert_eq!(out.verdict, Verdict::Allow);
    }
    assert!(child.try_wait().unwrap().is_none(), "the server is alive");
    drop(flood);
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approvers_console_stream_survives_a_flood() {
    let (env, server, client) = serve_with(Limits {
        max_connections: Some(8),
        ..Limits::default()
    })
    .await;
    let (mut ws, _welcome, _snapshot) = common::stream_as(&server.url(), env.key("carol")).await;
    let mut flood = Vec::new();
    for _ in 0..80 {
        flood.push(TcpStream::connect(server.addr()).await.unwrap());
    }
    let out = client
        .submit(
            env.token("refund-bot"),
            &request("orders.get", json!({}), "s-flood"),
        )
        .await
        .unwrap();
    // The console still hears what happens: its connection was not the one closed for room.
    common::wait_for(
        &mut ws,
        |m| matches!(m, gavel::protocol::ServerMessage::Action { action } if action.id == out.id),
    )
    .await;
    drop(flood);
    server.shutdown().await;
}
