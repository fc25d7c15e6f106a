//! The PostgreSQL backend, for several replicas sharing one database: the same tables as
//! SQLite's, one write connection owned by the writer thread, and a few read connections.
//!
//! Replicas write one audit chain: every write transaction first takes one transaction-scoped
//! advisory lock ([`CHAIN_LOCK`]) and reads the chain head from the table, so records from all
//! replicas form one linear sequence whatever order their commits come in. Each audit row
//! carries its `origin` (the replica that wrote it), and each commit notifies [`CHANNEL`] with
//! the new head, so the other replicas re-read what changed (see `server::replicas`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::chain::Chain;
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
pub mod export;
pub mod feed;
mod op_rows;
mod ops;
mod prior_calls;
mod prune;
mod reader;
pub mod schema;
mod sql;
#[cfg(test)]
pub mod test_db;

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
    check_key(&mut conn, &server_key, url)?;
    let readers = (0..readers)
        .map(|_| PgReader::connect(url))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let writer = PgWriter::new(url, conn, Chain::new(server_key), origin)?;
    Ok((writer, readers))
}

/// How long making a connection may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long sent data may go unacknowledged before the connection counts as lost: a database
/// that vanished fails a write in seconds, not after the system's default (about 15 minutes).
const LOST_AFTER: Duration = Duration::from_secs(10);
/// An idle connection (the change feed's, waiting for a notification) is probed after this
/// long, then every [`KEEPALIVE_INTERVAL`], and counts as lost after [`KEEPALIVE_RETRIES`]
/// unanswered probes: about ten seconds, instead of the system's two hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(4);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_RETRIES: u32 = 3;

/// A new connection to `url`; one that cannot be made says where it tried, without the
/// password. Timeouts the URL does not set are set to fail within seconds.
pub fn connect(url: &str) -> Result<Client, StoreError> {
    let unreachable = |e| StoreError::Unreachable {
        url: redacted(url),
        source: Arc::new(e),
    };
    let mut config: Config = url.parse().map_err(unreachable)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(LOST_AFTER);
    }
    if config.get_keepalives_interval().is_none() && config.get_keepalives_retries().is_none() {
        config
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
    }
    if config.get_application_name().is_none() {
        config.application_name("gavel");
    }
    config.connect(NoTls).map_err(unreachable)
}

/// Records the server's public key on first open; later, refuses another key. Replicas
/// starting together on an empty database record one key: the first insert wins, and each
/// compares with what was recorded.
fn check_key(conn: &mut Client, key: &PersonKey, url: &str) -> Result<(), StoreError> {
    let public = key.public().to_string();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('server_public_key', $1)
         ON CONFLICT (key) DO NOTHING",
        &[&public],
    )?;
    let recorded: String = conn
        .query_one(
            "SELECT value FROM meta WHERE key = 'server_public_key'",
            &[],
        )?
        .get(0);
    if recorded != public {
        return Err(StoreError::WrongKey(PathBuf::from(redacted(url))));
    }
    Ok(())
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
