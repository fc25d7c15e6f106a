//! A database of its own on the test PostgreSQL (`GAVEL_TEST_POSTGRES`, else the local one on
//! 127.0.0.1:5432), with gavel's schema, dropped afterwards.

use postgres::{Client, NoTls};

use crate::server::store::postgres::schema;

pub struct TestDb {
    server: String,
    name: String,
    pub url: String,
}

fn server() -> String {
    std::env::var("GAVEL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

impl TestDb {
    pub fn fresh() -> TestDb {
        let server = server();
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).expect("random");
        let name = format!("gavel_test_{}", hex::encode(tag));
        let mut c = Client::connect(&server, NoTls).unwrap_or_else(|e| {
            panic!("the tests need PostgreSQL at {server} (set GAVEL_TEST_POSTGRES): {e}")
        });
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        let (base, query) = match server.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (server.as_str(), String::new()),
        };
        let host = base.rsplit_once('/').map_or(base, |(h, _)| h);
        let url = format!("{host}/{name}{query}");
        TestDb { server, name, url }
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
        if let Ok(mut c) = Client::connect(&self.server, NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
