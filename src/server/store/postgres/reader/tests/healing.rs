//! A read connection that loses the database: it reads again as soon as the database is back,
//! and fails with the reason while it is not.

use postgres::{Client, NoTls};

use super::db::{fresh_database, server_url};
use crate::server::store::backend::Reads;
use crate::server::store::postgres::PgReader;
use crate::server::store::StoreError;

/// Ends every other connection to `db`; how many it ended.
fn cut(admin: &mut Client, db: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_lost_connection_heals_and_a_missing_database_is_an_error() {
    let test_db = fresh_database();
    let (url, db) = (&test_db.url, &test_db.name);
    let reader = PgReader::connect(url).unwrap();
    assert!(reader.killswitches().unwrap().is_empty());
    let mut admin = Client::connect(&server_url(), NoTls).unwrap();

    assert!(cut(&mut admin, db) >= 1, "the reader's connection");
    assert!(
        reader.killswitches().unwrap().is_empty(),
        "read on a new connection"
    );
    assert_eq!(cut(&mut admin, db), 1, "the reader connected anew");
    assert!(reader.killswitches().unwrap().is_empty(), "and again");

    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .unwrap();
    cut(&mut admin, db);
    for _ in 0..2 {
        match reader.killswitches() {
            Err(StoreError::Unreachable { url: u, .. }) => assert_eq!(&u, url),
            other => panic!("the database refuses connections, yet: {other:?}"),
        }
    }
    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .unwrap();
    assert!(
        reader.killswitches().unwrap().is_empty(),
        "back with the database"
    );
}

#[test]
fn a_reader_dropped_on_an_async_task_closes_its_connection_elsewhere() {
    let test_db = fresh_database();
    let reader = PgReader::connect(&test_db.url).unwrap();
    assert!(reader.killswitches().unwrap().is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Closing it right there would block on the client's runtime inside this one: a panic.
    runtime.block_on(async move { drop(reader) });
    let mut admin = Client::connect(&server_url(), NoTls).unwrap();
    let connections = |admin: &mut Client| -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&test_db.name],
            )
            .unwrap()
            .get(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while connections(&mut admin) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection stays open"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
