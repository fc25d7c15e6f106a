//! The database unreachable at start, a connection lost while idle, and the database gone for
//! a while and back: the writer fails what it cannot commit, and works again by itself.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gavel::protocol::PersonKey;
use gavel::server::store::postgres as postgres_store;
use gavel::server::store::{Op, StoreError};

use super::{linear_chain, open, pg, refused};
use crate::common::postgres::fresh_database;
use crate::common::{Env, POLICY};

#[test]
fn serve_with_an_unreachable_store_exits_with_one_line_naming_it_without_the_password() {
    let env = Env::new(POLICY);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&env.data)
        .args(["--store", "postgres://gavel:s3cret@127.0.0.1:1/gavel"])
        .arg("--policy")
        .arg(&env.policy)
        .arg("--roster")
        .arg(&env.roster)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach PostgreSQL at postgres://gavel:***@127.0.0.1:1/gavel"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn a_store_another_key_signed_is_refused() {
    let url = fresh_database();
    let (writer, _) = postgres_store::open(&url, super::server_key(), 0, "replica-a").unwrap();
    drop(writer);
    let e = postgres_store::open(&url, PersonKey::generate("server"), 0, "replica-b")
        .err()
        .expect("another key is refused");
    assert!(matches!(e, StoreError::WrongKey(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_database_closed_while_idle_is_made_again_for_the_next_write() {
    let url = fresh_database();
    let store = open(&url, "replica-a");
    store.write(Op::Audit, refused("/v1/1")).await.unwrap();
    let killed = pg(&url, |c| {
        c.query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
    });
    assert!(killed >= 1, "the writer's connection, at least");
    store
        .write(Op::Audit, refused("/v1/2"))
        .await
        .expect("the write goes through on a new connection");
    store.ready().await.expect("ready");
    assert_eq!(linear_chain(&url).len(), 2);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_unreachable_writes_fail_and_afterwards_they_work_again() {
    let url = fresh_database();
    let proxy = Proxy::start(&url);
    let store = open(&proxy.url, "replica-a");
    store.write(Op::Audit, refused("/v1/1")).await.unwrap();

    proxy.cut();
    for i in 0..2 {
        let started = Instant::now();
        let e = store
            .write(Op::Audit, refused("/v1/down"))
            .await
            .err()
            .expect("no write commits while the database is unreachable");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "failed at once ({i})"
        );
        assert!(e.to_string().contains("PostgreSQL"), "{e}");
    }
    assert!(store.ready().await.is_err(), "not ready");

    proxy.restore();
    store
        .write(Op::Audit, refused("/v1/2"))
        .await
        .expect("writes work again without a restart");
    // Readiness answers are shared for a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store.ready().await.expect("ready again");
    assert_eq!(
        linear_chain(&url).len(),
        2,
        "the failed writes left nothing"
    );
    store.shutdown().await;
}

/// A TCP relay to the test database that can be cut (every connection closed, new ones closed
/// at once) and restored: the database unreachable, as the store sees it, without stopping it.
struct Proxy {
    url: String,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(url: &str) -> Proxy {
        let config: postgres::Config = url.parse().unwrap();
        let host = match &config.get_hosts()[0] {
            postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("the relay needs a TCP host, not {other:?}"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let upstream = format!("{host}:{port}");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, o) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                o.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                relay(client.try_clone().unwrap(), server.try_clone().unwrap());
                relay(server, client);
            }
        });
        Proxy {
            url: through(url, addr),
            down,
            open,
        }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

fn relay(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    match authority.rsplit_once('@') {
        Some((user, _)) => format!("{scheme}://{user}@{addr}/{path}"),
        None => format!("{scheme}://{addr}/{path}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_a_lock_held_elsewhere_only_so_long_then_fails_closed() {
    let env = Env::start_postgres(POLICY).await;
    let lock = env.hold_write_lock();
    let sent = Instant::now();
    let e = env
        .client
        .submit(
            env.token("refund-bot"),
            &crate::common::request("orders.get", serde_json::json!({}), "s"),
        )
        .await
        .expect_err("refused while another holds the chain lock");
    // Answered (a 503 the agent's adapter turns into a deny), not left hanging for the
    // client's own minute-long timeout.
    assert_eq!(e.code(), "storage_unavailable", "{e}");
    assert!(
        sent.elapsed() < Duration::from_secs(30),
        "{:?}",
        sent.elapsed()
    );
    drop(lock);
    let out = env
        .act("refund-bot", "orders.get", serde_json::json!({}), "s")
        .await;
    assert_eq!(out.verdict, gavel::protocol::Verdict::Allow);
}

#[test]
fn replicas_starting_together_migrate_once_and_a_newer_schema_is_refused_untouched() {
    let url = fresh_database();
    let openers: Vec<_> = (0..3)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                postgres_store::open(&url, PersonKey::generate("server"), 1, &format!("r{i}"))
                    .map(|_| ())
            })
        })
        .collect();
    // One key is recorded; the replicas that lost that race are refused for their other key,
    // never for a half-made schema.
    let results: Vec<_> = openers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(r, StoreError::WrongKey(_)), "{r}");
    }
    let version: String = pg(&url, |c| {
        c.query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
            .unwrap()
            .get(0)
    });
    assert_eq!(version, postgres_store::schema::VERSION.to_string());

    pg(&url, |c| {
        c.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            &[],
        )
        .unwrap()
    });
    let e = postgres_store::open(&url, PersonKey::generate("server"), 1, "late")
        .err()
        .expect("a newer schema is refused");
    assert!(
        matches!(e, StoreError::NewerSchema { found: 99, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("newer"), "{e}");
}
