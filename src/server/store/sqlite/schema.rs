//! The schema and its versions. The version is SQLite's `user_version` (0 in a new file and in
//! one written before versions were recorded). Each migration runs in one transaction with the
//! version it reaches, so a crash leaves the file at one version or the next, never between.
//!
//! - 1: the schema as first released (before versions were recorded).
//! - 2: the audit table's typed columns (agent, tool, action, escalation, verdict), written at
//!   append time from the event and backfilled from the bodies, so audit queries filter on
//!   columns instead of JSON.
//! - 3: `idempotency_keys`: an agent's `Idempotency-Key` and the action it named, written in the
//!   same transaction as the action, kept for a day.
//! - 4: `grants` (standing grants, their revocation and use count) and `actions.grant_id`, the
//!   grant that allowed a call.
//! - 5: `actions.cost` (the call's cost: its estimate, replaced by the actual cost when the
//!   agent reports it) and `actions.governed` (the breaker or limit that decided the call), and
//!   an index by time, so governance is rebuilt at start from the calls of its windows.
//! - 6: smaller rows and fewer pages written per call. `actions.record` (the whole call, which
//!   the call's audit record holds already) becomes `actions.args` (its arguments, which the
//!   history beside an escalation shows); the table is rebuilt without AUTOINCREMENT, whose
//!   counter row was one more page in every commit (actions are never deleted, so the rowid
//!   alone is as monotonic); and the audit table loses `audit_by_agent` and
//!   `audit_by_escalation`, which no query used (the audit filters are read in seq order), so
//!   each record adds one index entry (by kind) instead of three.
//! - 7: smaller audit records. The hash is stored as its 32 bytes, not 64 hex digits; the
//!   `prev_hash` column goes, since it is always the hash of the record before (which the chain
//!   hashes in, so a verifier reads it from there); `tool`, `action` and `escalation`, which no
//!   query reads, go; and `agent` and `verdict`, which the audit filters read, are computed from
//!   the body when read instead of stored, so they can neither take room nor disagree with it.
//!   The index by kind leaves out actions, most of the log, which no query finds by kind (the
//!   queries that use it say `kind <> 'action'`, as SQLite requires to use a partial index).
//! - 8: action rows are pruned past `keep_actions` (the log keeps every call's record), and
//!   `tools_called` keeps the (agent, tool) pairs of the calls whose rows went, so the anomaly
//!   baseline still knows every tool an agent has called. The rowid stays monotonic: the newest
//!   row is never pruned, so SQLite's next rowid never falls back.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::server::store::StoreError;

/// The version this code writes.
pub const VERSION: u32 = 8;

/// Version 1. `IF NOT EXISTS`: a file written before versions were recorded has these tables
/// already, and is recognised as version 1 by having them.
const V1: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    tool TEXT NOT NULL,
    effect TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    escalation TEXT,
    record TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_by_session ON actions (agent, session, seq);
CREATE TABLE IF NOT EXISTS escalations (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    plan TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS escalations_by_state ON escalations (state, resolved_at);
CREATE TABLE IF NOT EXISTS killswitches (scope TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flagged (
    action TEXT PRIMARY KEY,
    reviewed INTEGER NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS used_signatures (signature TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY,
    head TEXT NOT NULL,
    signature TEXT NOT NULL,
    time TEXT NOT NULL
);
"#;

/// Version 2. The backfill reads what the queries used to: a body that is not JSON (which
/// `gavel audit verify` reports) gets no columns rather than stopping the server.
const V2: &str = r#"
ALTER TABLE audit ADD COLUMN agent TEXT;
ALTER TABLE audit ADD COLUMN tool TEXT;
ALTER TABLE audit ADD COLUMN action TEXT;
ALTER TABLE audit ADD COLUMN escalation TEXT;
ALTER TABLE audit ADD COLUMN verdict TEXT;
UPDATE audit SET
    agent = json_extract(body, '$.agent'),
    tool = json_extract(body, '$.tool'),
    action = json_extract(body, '$.action'),
    escalation = json_extract(body, '$.escalation'),
    verdict = COALESCE(json_extract(body, '$.effect'), json_extract(body, '$.resolution'),
                       json_extract(body, '$.verdict'))
WHERE json_valid(body);
CREATE INDEX audit_by_agent ON audit (agent, seq);
CREATE INDEX audit_by_kind ON audit (kind, seq);
CREATE INDEX audit_by_escalation ON audit (escalation, seq);
"#;

/// Version 3. `fingerprint` is the SHA-256 of the canonical JSON of the body the key first came
/// with; `created_at` (RFC 3339 UTC, so text order is time order) says when it expires.
const V3: &str = r#"
CREATE TABLE idempotency_keys (
    agent TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    action TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (agent, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
"#;

/// Version 4. `body` is the grant as created (and, once revoked, with its revocation);
/// `uses` and `last_used_at` change with every call it allows, in that call's transaction.
const V4: &str = r#"
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    uses INTEGER NOT NULL DEFAULT 0,
    last_used_at TEXT
);
ALTER TABLE actions ADD COLUMN grant_id TEXT;
"#;

/// Version 5. The cost is backfilled from the records; earlier calls were decided by no
/// breaker or limit.
const V5: &str = r#"
ALTER TABLE actions ADD COLUMN cost REAL;
ALTER TABLE actions ADD COLUMN governed TEXT;
UPDATE actions SET cost = json_extract(record, '$.cost') WHERE json_valid(record);
CREATE INDEX actions_by_time ON actions (at);
"#;

/// Version 6. A record that is not JSON keeps a null `args`, which `gavel audit verify` then
/// reports as it reported the record.
const V6: &str = r#"
CREATE TABLE actions_v6 (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    tool TEXT NOT NULL,
    effect TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    escalation TEXT,
    args TEXT NOT NULL,
    at TEXT NOT NULL,
    grant_id TEXT,
    cost REAL,
    governed TEXT
);
INSERT INTO actions_v6
    SELECT seq, id, agent, session, tool, effect, rule, reason, escalation,
           CASE WHEN json_valid(record) THEN COALESCE(record -> '$.args', 'null') ELSE 'null' END,
           at, grant_id, cost, governed
    FROM actions ORDER BY seq;
DROP TABLE actions;
ALTER TABLE actions_v6 RENAME TO actions;
DELETE FROM sqlite_sequence WHERE name = 'actions';
CREATE INDEX actions_by_session ON actions (agent, session, seq);
CREATE INDEX actions_by_time ON actions (at);
DROP INDEX audit_by_agent;
DROP INDEX audit_by_escalation;
"#;

/// Version 7. `agent` and `verdict` are read from the body as the server has always written
/// them (`AuditEvent::index`): the agent of any record that names one, except the records of
/// the server itself and of refused requests; the verdict of an action (its effect), a decision
/// (its vote) or a resolution. A body that is not JSON (which `gavel audit verify` reports) has
/// neither. A hash that is not hex (which no server wrote, and verify reports as not matching)
/// is kept as its bytes.
const V7: &str = r#"
CREATE TABLE audit_v7 (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    hash BLOB NOT NULL,
    agent TEXT GENERATED ALWAYS AS (
        CASE WHEN kind NOT IN ('server_start', 'refused', 'refusals') AND json_valid(body)
             THEN body ->> '$.agent' END) VIRTUAL,
    verdict TEXT GENERATED ALWAYS AS (
        CASE WHEN json_valid(body) THEN
            CASE kind WHEN 'action' THEN body ->> '$.effect'
                      WHEN 'decision' THEN body ->> '$.verdict'
                      WHEN 'escalation_resolved' THEN body ->> '$.resolution'
                      WHEN 'escalation_unreadable' THEN body ->> '$.resolution' END
        END) VIRTUAL
);
INSERT INTO audit_v7 (seq, time, kind, actor, body, hash)
    SELECT seq, time, kind, actor, body, COALESCE(unhex(hash), CAST(hash AS BLOB))
    FROM audit ORDER BY seq;
DROP TABLE audit;
ALTER TABLE audit_v7 RENAME TO audit;
CREATE INDEX audit_by_kind ON audit (kind, seq) WHERE kind <> 'action';
"#;

/// The audit table's columns from version 2 to 6: the link and the hash as hex, and the typed
/// columns stored. A PostgreSQL store kept its audit table so before its schema 4, and the copy
/// `gavel audit verify` makes of such a store (`postgres::export`) has this layout.
pub const LINKED_AUDIT_COLUMNS: &str = "
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    agent TEXT,
    tool TEXT,
    action TEXT,
    escalation TEXT,
    verdict TEXT
";

/// Version 8.
const V8: &str = r#"
CREATE TABLE tools_called (
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    PRIMARY KEY (agent, tool)
) WITHOUT ROWID;
"#;

/// The migration that reaches each version, in order: `MIGRATIONS[i]` reaches version `i + 1`.
const MIGRATIONS: [&str; VERSION as usize] = [V1, V2, V3, V4, V5, V6, V7, V8];

pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the file at `path` to [`VERSION`]; a file from a newer gavel is refused untouched.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: VERSION,
        });
    }
    for (reaches, sql) in (1..=VERSION).zip(MIGRATIONS).skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another server may have migrated while this one waited for the lock.
        if version(&tx)? >= reaches {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", reaches)?;
        tx.commit()?;
        tracing::info!("{}: schema version {reaches}", path.display());
    }
    Ok(())
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "schema_v6_tests.rs"]
mod v6_tests;

#[cfg(test)]
#[path = "schema_v7_tests.rs"]
mod v7_tests;
