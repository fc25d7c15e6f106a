//! The PostgreSQL backend, for several replicas sharing one database: the same tables as
//! SQLite's, one write connection owned by the writer thread, and a few read connections.
//!
//! Replicas write one audit chain: every write transaction first takes one transaction-scoped
//! advisory lock ([`CHAIN_LOCK`]) and reads the chain head from the table, so records from all
//! replicas form one linear sequence whatever order their commits come in. Each audit row
//! carries its `origin` (the replica that wrote it), and each commit notifies [`CHANNEL`] with
//! the new head, so the other replicas re-read what changed (see `server::replicas`).

use std::sync::Arc;

use postgres::{Client, NoTls};

use super::StoreError;
use crate::protocol::PersonKey;

/// The advisory lock every write transaction holds: it orders the audit chain.
pub const CHAIN_LOCK: i64 = 0x6761_7665_6c00_0001;
/// The advisory lock the replica delivering webhooks holds, for its session's lifetime, so one
/// replica pages at a time (see `server::webhooks`).
pub const WEBHOOK_LOCK: i64 = 0x6761_7665_6c00_0003;
/// The channel each commit notifies with its last audit seq.
pub const CHANNEL: &str = "gavel_audit";

mod commit;
pub mod feed;
mod reader;
pub mod schema;

pub use commit::PgWriter;
pub use reader::PgReader;

/// Connects to `url`, creates or migrates the schema, records or checks the server key, and
/// opens the writer's connection and `readers` read connections. `origin` names this replica
/// in the audit rows it writes.
pub fn open(
    url: &str,
    server_key: PersonKey,
    readers: usize,
    origin: &str,
) -> Result<(PgWriter, Vec<PgReader>), StoreError> {
    let mut conn = connect(url)?;
    schema::migrate(&mut conn, &redacted(url))?;
    let _ = (server_key, readers, origin);
    todo!("the PostgreSQL backend")
}

/// A new connection to `url`; one that cannot be made says where it tried, without the
/// password.
pub fn connect(url: &str) -> Result<Client, StoreError> {
    Client::connect(url, NoTls).map_err(|e| StoreError::Unreachable {
        url: redacted(url),
        source: Arc::new(e),
    })
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            redacted("postgres://gavel:s3cret@db:5432/gavel"),
            "postgres://gavel:***@db:5432/gavel"
        );
        assert_eq!(
            redacted("postgres://gavel@db/gavel"),
            "postgres://gavel@db/gavel"
        );
        assert_eq!(redacted("host=db user=gavel"), "host=db user=gavel");
    }
}
