//! The schema and its versions, recorded in `meta` as `schema_version`. Each migration runs in
//! one transaction holding [`MIGRATION_LOCK`], so replicas starting together migrate once and
//! a crash leaves the database at one version or the next.
//!
//! - 1: the tables of SQLite's version 5, with the audit rows' `origin` (the replica that
//!   wrote each). Times are RFC 3339 UTC text in the "C" collation, so text order is time
//!   order, exactly as in SQLite. And `webhook_cursors`: how far each webhook got, one JSON
//!   body per webhook id, kept here rather than in a replica's data dir so whichever replica
//!   delivers webhooks next goes on from there.
//! - 2: as SQLite's version 6: `actions.record` becomes `actions.args`, and the audit table
//!   loses the indexes by agent and by escalation, which no query used.
//! - 3: as SQLite's version 8: `tools_called`, the (agent, tool) pairs of the calls whose rows
//!   were pruned past `keep_actions`.
//! - 4: smaller audit records, as SQLite's version 7: the hash as its 32 bytes, no `prev_hash`
//!   (the hash of the record before, which each hash covers), and no typed columns: `agent`
//!   and `verdict`, which the audit filters read, are read from the body by the functions
//!   `audit_agent(kind, body)` and `audit_verdict(kind, body)`, as SQLite's generated columns
//!   read them. The index by kind leaves out actions, most of the log, which no query finds by
//!   kind. The table is rebuilt rather than altered: PostgreSQL keeps a dropped column in every
//!   row written after as a null, whose bitmap costs each row 8 bytes.

use postgres::Client;

use crate::server::store::StoreError;

/// The version this code writes.
pub const VERSION: u32 = 4;

/// Held by the transaction that migrates.
const MIGRATION_LOCK: i64 = 0x6761_7665_6c00_0002;

const V1: &str = r#"
CREATE TABLE actions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    tool TEXT NOT NULL,
    effect TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    escalation TEXT,
    record TEXT NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    grant_id TEXT,
    cost DOUBLE PRECISION,
    governed TEXT
);
CREATE INDEX actions_by_session ON actions (agent, session, seq);
CREATE INDEX actions_by_time ON actions (at);
CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    plan TEXT NOT NULL,
    resolved_at TEXT COLLATE "C"
);
CREATE INDEX escalations_by_state ON escalations (state, resolved_at);
CREATE TABLE killswitches (scope TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE flagged (
    action TEXT PRIMARY KEY,
    reviewed BIGINT NOT NULL,
    body TEXT NOT NULL,
    at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE used_signatures (signature TEXT PRIMARY KEY);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    time TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    agent TEXT,
    tool TEXT,
    action TEXT,
    escalation TEXT,
    verdict TEXT,
    origin TEXT NOT NULL
);
CREATE INDEX audit_by_agent ON audit (agent, seq);
CREATE INDEX audit_by_kind ON audit (kind, seq);
CREATE INDEX audit_by_escalation ON audit (escalation, seq);
CREATE TABLE checkpoints (
    seq BIGINT PRIMARY KEY,
    head TEXT NOT NULL,
    signature TEXT NOT NULL,
    time TEXT COLLATE "C" NOT NULL
);
CREATE TABLE idempotency_keys (
    agent TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    action TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (agent, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    revoked_at TEXT COLLATE "C",
    uses BIGINT NOT NULL DEFAULT 0,
    last_used_at TEXT COLLATE "C"
);
CREATE TABLE webhook_cursors (webhook TEXT PRIMARY KEY, body TEXT NOT NULL);
"#;

/// Version 2. A record that is not JSON keeps a null `args`, which `gavel audit verify` then
/// reports as it reported the record.
const V2: &str = r#"
CREATE FUNCTION pg_temp.args_of(record TEXT) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
    RETURN COALESCE(record::json -> 'args', 'null')::text;
EXCEPTION WHEN others THEN
    RETURN 'null';
END $$;
ALTER TABLE actions ADD COLUMN args TEXT;
UPDATE actions SET args = pg_temp.args_of(record);
ALTER TABLE actions ALTER COLUMN args SET NOT NULL;
ALTER TABLE actions DROP COLUMN record;
DROP INDEX audit_by_agent;
DROP INDEX audit_by_escalation;
"#;

/// Version 3.
const V3: &str = r#"
CREATE TABLE tools_called (
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    PRIMARY KEY (agent, tool)
);
"#;

/// Version 4. A hash that is not hex (which no server wrote, and verify reports as not
/// matching) is kept as its bytes. `audit_json` is a body as JSON, or null for one that is not
/// (which verify reports), so one such record fails no query. It catches the error in a
/// subtransaction, which a parallel worker cannot start: the functions are not parallel safe,
/// so a query that reads them runs in one process.
const V4: &str = r#"
CREATE FUNCTION audit_json(body TEXT) RETURNS json
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN body::json;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;
CREATE FUNCTION audit_agent(kind TEXT, body TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN kind NOT IN ('server_start', 'refused', 'refusals')
                THEN audit_json(body) ->> 'agent' END
$$;
CREATE FUNCTION audit_verdict(kind TEXT, body TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind WHEN 'action' THEN audit_json(body) ->> 'effect'
                     WHEN 'decision' THEN audit_json(body) ->> 'verdict'
                     WHEN 'escalation_resolved' THEN audit_json(body) ->> 'resolution'
                     WHEN 'escalation_unreadable' THEN audit_json(body) ->> 'resolution' END
$$;
CREATE TABLE audit_v4 (
    seq BIGINT PRIMARY KEY,
    time TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    hash BYTEA NOT NULL,
    origin TEXT NOT NULL
);
INSERT INTO audit_v4 (seq, time, kind, actor, body, hash, origin)
    SELECT seq, time, kind, actor, body,
           CASE WHEN hash ~ '^([0-9a-fA-F]{2})*$' THEN decode(hash, 'hex')
                ELSE convert_to(hash, 'UTF8') END,
           origin
    FROM audit ORDER BY seq;
DROP TABLE audit;
ALTER TABLE audit_v4 RENAME TO audit;
ALTER INDEX audit_v4_pkey RENAME TO audit_pkey;
CREATE INDEX audit_by_kind ON audit (kind, seq) WHERE kind <> 'action';
"#;

/// The migration that reaches each version, in order: `MIGRATIONS[i]` reaches version `i + 1`.
const MIGRATIONS: [&str; VERSION as usize] = [V1, V2, V3, V4];

/// The recorded version; 0 for an empty database.
fn version(c: &mut impl postgres::GenericClient) -> Result<u32, StoreError> {
    c.batch_execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")?;
    let row = c.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?;
    match row {
        None => Ok(0),
        Some(r) => {
            let v: String = r.get(0);
            v.parse()
                .map_err(|_| crate::server::store::error::unreadable("meta", "schema_version", v))
        }
    }
}

/// Brings the database to [`VERSION`]; one from a newer gavel is refused untouched. `name` is
/// how errors name the database (its URL without a password).
pub fn migrate(c: &mut Client, name: &str) -> Result<(), StoreError> {
    for (reaches, sql) in (1..=VERSION).zip(MIGRATIONS) {
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        let found = version(&mut tx)?;
        if found > VERSION {
            return Err(StoreError::NewerSchema {
                path: name.into(),
                found,
                supported: VERSION,
            });
        }
        // Another replica may have migrated while this one waited for the lock.
        if found >= reaches {
            continue;
        }
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&reaches.to_string()],
        )?;
        tx.commit()?;
        tracing::info!("{name}: schema version {reaches}");
    }
    Ok(())
}
