//! For the lib's tests: a database of its own on the test PostgreSQL (`GAVEL_TEST_POSTGRES`,
//! else the local one on 127.0.0.1:5432, as `tests/common/postgres.rs`), dropped afterwards.

use postgres::{Client, NoTls};

use super::schema;

/// The test server's URL (its `postgres` database).
pub fn server_url() -> String {
    std::env::var("GAVEL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `url` naming database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host = base.rsplit_once('/').map_or(base, |(h, _)| h);
    format!("{host}/{name}{query}")
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A new, empty database.
    pub fn fresh() -> TestDb {
        TestDb::create(|_| None)
    }

    /// A new, empty database collating by ICU `en-US` where the server has ICU (there `B` sorts
    /// after `a`, unlike SQLite, so an order that forgot the "C" collation shows), else as the
    /// server does.
    pub fn fresh_icu() -> TestDb {
        TestDb::create(|name| {
            Some(format!(
                "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            ))
        })
    }

    fn create(special: impl Fn(&str) -> Option<String>) -> TestDb {
        let server = server_url();
        let mut c = Client::connect(&server, NoTls).unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {server} (set GAVEL_TEST_POSTGRES): {e}")
        });
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).expect("random");
        let name = format!("gavel_test_{}", hex::encode(tag));
        let made = special(&name).is_some_and(|sql| match c.batch_execute(&sql) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("{sql} failed ({e}); the database collates as the server does");
                false
            }
        });
        if !made {
            c.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("CREATE DATABASE");
        }
        let url = with_database(&server, &name);
        TestDb { name, url }
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test database")
    }

    /// A connection to the database with gavel's schema in it.
    pub fn migrated(&self) -> Client {
        let mut c = self.connect();
        schema::migrate(&mut c, &self.name).expect("migrate");
        c
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&server_url(), NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
