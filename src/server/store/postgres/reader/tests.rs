//! The PostgreSQL reader against SQLite's on the same rows (the fixture, written by SQLite's
//! real writer and copied over), against expected answers, and across a lost connection.

mod db;
mod fixture;
mod healing;
mod same_audit;
mod same_calls;
mod same_escalations;
mod schema_v4;
mod unreadable;

use std::fmt::Debug;

use self::db::Pair;
use self::fixture::Clock;
use crate::server::store::StoreError;

/// A pair of stores holding the fixture.
fn fixture() -> (Pair, Clock) {
    let mut pair = Pair::new();
    let clock = Clock::new();
    fixture::write(&mut pair.writer, &clock);
    let conn = pair.sqlite_conn();
    fixture::unreadable(&mut pair.writer, &conn, &clock);
    pair.copy();
    (pair, clock)
}

/// SQLite and PostgreSQL gave the same answer; the answer.
#[track_caller]
fn same<T: Debug>(what: &str, sqlite: Result<T, StoreError>, pg: Result<T, StoreError>) -> T {
    match (sqlite, pg) {
        (Ok(s), Ok(p)) => {
            assert_eq!(format!("{s:#?}"), format!("{p:#?}"), "{what}");
            p
        }
        (s, p) => panic!("{what}: SQLite answered {s:?}, PostgreSQL {p:?}"),
    }
}

/// Both failed on an unreadable row, with the same error; the error.
#[track_caller]
fn same_error<T: Debug>(
    what: &str,
    sqlite: Result<T, StoreError>,
    pg: Result<T, StoreError>,
) -> String {
    match (sqlite, pg) {
        (Err(s @ StoreError::Unreadable { .. }), Err(p @ StoreError::Unreadable { .. })) => {
            assert_eq!(s.to_string(), p.to_string(), "{what}");
            p.to_string()
        }
        (s, p) => panic!("{what}: expected the same unreadable row, got {s:?} and {p:?}"),
    }
}

/// The same answers in some order: `key` orders both first.
#[track_caller]
fn same_unordered<T: Debug, K: Ord>(
    what: &str,
    sqlite: Result<Vec<T>, StoreError>,
    pg: Result<Vec<T>, StoreError>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let sort = |r: Result<Vec<T>, StoreError>| {
        r.map(|mut v| {
            v.sort_by_key(|x| key(x));
            v
        })
    };
    same(what, sort(sqlite), sort(pg))
}
