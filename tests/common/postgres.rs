//! A real PostgreSQL for the tests: the server `GAVEL_TEST_POSTGRES` names (`.ci/postgres`
//! provides one on a fresh machine), or the local one on 127.0.0.1:5432. Each test gets a
//! database of its own, made here and left for the cluster to discard.

use postgres::{Client, NoTls};

/// The server's URL (its `postgres` database).
pub fn server_url() -> String {
    std::env::var("GAVEL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A new, empty database: its URL.
pub fn fresh_database() -> String {
    let server = server_url();
    let mut tag = [0u8; 8];
    getrandom::fill(&mut tag).unwrap();
    let name = format!("gavel_test_{}", hex::encode(tag));
    let create = format!("CREATE DATABASE {name}");
    // The synchronous client runs its own runtime: keep it off the test's.
    let url = server.clone();
    std::thread::spawn(move || {
        let mut c = Client::connect(&url, NoTls).unwrap_or_else(|e| {
            panic!("the tests need PostgreSQL at {url} (set GAVEL_TEST_POSTGRES, or run .ci/postgres): {e}")
        });
        c.batch_execute(&create).expect("CREATE DATABASE");
    })
    .join()
    .expect("creating a test database");
    with_database(&server, &name)
}

/// `url` naming database `name` instead.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host = base.rsplit_once('/').map(|(h, _)| h).unwrap_or(base);
    format!("{host}/{name}{query}")
}

/// The store the test harness's servers use: a fresh PostgreSQL database when
/// `GAVEL_TEST_STORE=postgres` (to run the whole suite on that backend), else SQLite.
pub fn harness_store() -> Option<String> {
    match std::env::var("GAVEL_TEST_STORE").as_deref() {
        Ok("postgres") => Some(fresh_database()),
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("GAVEL_TEST_STORE={other}: use postgres or sqlite"),
    }
}

/// Runs `f` on a connection to `url`, on a plain thread (the synchronous client runs a runtime
/// of its own, which cannot start on a test's async task).
pub fn with_client<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut Client) -> T + Send + 'static,
) -> T {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = Client::connect(&url, NoTls).expect("connect to the test database");
        f(&mut c)
    })
    .join()
    .expect("a query on the test database")
}

/// The host and port `url` connects to.
pub fn address(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split(['/', '?']).next().unwrap_or(host);
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    host.parse()
        .expect("a numeric host:port in the test PostgreSQL URL")
}
