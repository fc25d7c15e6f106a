//! Shutdown of the real server binary: long-polls end at once with "ask again", streams close,
//! the process exits; a second signal exits at once even when the shutdown is slow.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{stream_as, Env, POLICY};
use futures_util::StreamExt;
use gavel::client::Client;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Generous bounds: far below the 60 s a poll would otherwise wait, far above any honest
/// shutdown. Nothing here measures speed.
const WITHIN: Duration = Duration::from_secs(20);

/// The server process; killed if the test fails half-way. Its stderr is collected line by line.
struct Server {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    client: Client,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(env: &Env) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(&env.data)
            .arg("--policy")
            .arg(&env.policy)
            .arg("--roster")
            .arg(&env.roster)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr: Arc<Mutex<Vec<String>>> = Arc::default();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let server = Server {
            child,
            stderr,
            client: Client::new(&format!("http://127.0.0.1:{port}")),
            port,
        };
        server
            .until("the server answers /healthz", || async {
                server
                    .client
                    .raw::<()>(reqwest::Method::GET, "/healthz", None, None)
                    .await
                    .is_ok_and(|(s, _)| s.is_success())
            })
            .await;
        server
    }

    /// Polls `check` until it holds, failing the test after `WITHIN`.
    async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + WITHIN;
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {WITHIN:?}; stderr: {:?}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Requests the server is handling now, from its own metrics (this scrape included).
    async fn in_flight(&self) -> u64 {
        let Ok(resp) = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port)).await else {
            return 0;
        };
        let text = resp.text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("gavel_http_requests_in_flight "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    fn said(&self, text: &str) -> bool {
        self.stderr.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// Waits for the process to exit, failing the test after `WITHIN`.
    async fn exited(&mut self) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not exit within {WITHIN:?}; stderr: {:?}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_long_polls_and_streams_and_the_server_exits() {
    let env = Env::new(POLICY);
    let mut server = Server::start(&env).await;
    let out = server
        .client
        .submit(
            env.token("refund-bot"),
            &common::request("stripe.refund", json!({"amount": 2000.0}), "s"),
        )
        .await
        .unwrap();
    assert_eq!(out.verdict, gavel::protocol::Verdict::Pending);
    let (mut ws, _, _) = stream_as(
        &format!("http://127.0.0.1:{}", server.port),
        env.key("carol"),
    )
    .await;

    // An agent long-polls for a minute.
    let url = format!(
        "http://127.0.0.1:{}/v1/actions/{}?wait=60",
        server.port, out.id
    );
    let token = env.token("refund-bot").to_string();
    let poll = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body: serde_json::Value = resp.json().await.unwrap();
        (status, retry, body)
    });
    server
        .until("the long-poll is in flight", || async {
            server.in_flight().await >= 2
        })
        .await;

    server.signal("TERM");
    let (status, retry, body) = tokio::time::timeout(WITHIN, poll)
        .await
        .expect("the long-poll ended well before its 60 s")
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("shutting_down")),
        "{body}"
    );
    assert!(body.get("verdict").is_none(), "never an outcome: {body}");
    assert_eq!(retry.as_deref(), Some("1"));

    // The console's stream is closed by the server (1001 going away).
    let closed = tokio::time::timeout(WITHIN, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the stream closed");
    assert_eq!(closed, Some(1001));

    let status = server.exited().await;
    assert!(status.success(), "a clean shutdown exits 0: {status:?}");
    assert!(server.said("shutting down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_while_the_shutdown_waits() {
    let env = Env::new(POLICY);
    let mut server = Server::start(&env).await;

    // A request that stays in flight: its body never finishes arriving, so a graceful shutdown
    // waits for it.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        slow,
        "POST /v1/actions HTTP/1.1\r\nhost: gavel\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"tool\": ",
        env.token("refund-bot")
    )
    .unwrap();
    slow.flush().unwrap();
    server
        .until("the slow request is in flight", || async {
            server.in_flight().await >= 2
        })
        .await;

    server.signal("TERM");
    server
        .until("the server says it is shutting down", || async {
            server.said("shutting down")
        })
        .await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the shutdown waits for the request in flight"
    );

    server.signal("TERM");
    let status = server.exited().await;
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert!(server.said("SIGTERM: exiting at once"));
    drop(slow);
}
