//! The audit log: an append-only SHA-256 chain of records with server-signed checkpoints.
//!
//! `hash = sha256(prev_hash ‖ "\n" ‖ canonical_json({seq, time, kind, actor, body}))`. Every
//! write transaction ends with a checkpoint (seq, head hash) signed by the server's Ed25519 key,
//! so every committed record is covered by a signature: an edited, deleted, inserted, reordered
//! or appended record breaks either the chain or a checkpoint. Cutting the tail together with its
//! checkpoints, or replacing the key and re-signing, is caught only against an [`Anchor`] (a
//! checkpoint kept elsewhere) or the server's public key given from outside. The state tables
//! are checked against what the log says happened ([`tables`]).
//!
//! What a record may say is [`AuditEvent`] (the schema, in [`event`]); the store appends only
//! events, and the verifier reads every body back through it, so a body that does not fit its
//! kind is a named failure ([`VerifyError::BadEvent`]). The typed columns the store indexes a
//! record by are checked against its body, so editing them to hide a record is caught too.

mod anchor;
mod event;
mod grant_table;
mod key_table;
mod replay;
mod tables;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde_json::Value;

use crate::protocol::canonical::{canonical_bytes, sha256_hex, CanonicalError};
use crate::protocol::signing::Purpose;
use crate::protocol::PublicKey;

pub use anchor::{latest_anchor, Anchor};
pub use event::*;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    time: &'a str,
    kind: &'a str,
    actor: &'a str,
    body: &'a Value,
}

pub fn record_hash(
    prev_hash: &str,
    seq: u64,
    time: &str,
    kind: &str,
    actor: &str,
    body: &Value,
) -> Result<String, CanonicalError> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(prev_hash.as_bytes());
    bytes.push(b'\n');
    bytes.extend(canonical_bytes(&Hashed {
        seq,
        time,
        kind,
        actor,
        body,
    })?);
    Ok(sha256_hex(&bytes))
}

/// What a checkpoint signature covers (purpose `checkpoint`).
#[derive(Serialize)]
pub struct CheckpointBody<'a> {
    pub seq: u64,
    pub head: &'a str,
}

/// What the log is checked against beyond itself.
#[derive(Debug, Default, Clone)]
pub struct Expect {
    /// A checkpoint exported earlier and kept elsewhere.
    pub anchor: Option<Anchor>,
    /// The server's public key, known from outside the data dir.
    pub server_key: Option<PublicKey>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    pub head: String,
    pub checkpoints: u64,
    /// The anchor's seq, when one was given and the log extends it.
    pub anchored_at: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("cannot open the audit log: {0}")]
    Open(String),
    #[error("record {seq}: {problem}")]
    BadRecord { seq: u64, problem: String },
    /// A record the server signed whose body does not fit the audit schema ([`AuditEvent`]).
    #[error("record {seq}: {problem}")]
    BadEvent { seq: u64, problem: EventError },
    #[error("checkpoint at record {seq}: {problem}")]
    BadCheckpoint { seq: u64, problem: String },
    #[error("server key: {0}")]
    Key(String),
    #[error("anchor: {0}")]
    Anchor(String),
    #[error("state tables: {0}")]
    State(String),
}

/// Checks the whole chain and every checkpoint, the log against `expect`, and the state tables
/// against the log. Opens the database read-only and reads one consistent snapshot, so a live
/// server's data dir can be verified while it writes.
pub fn verify(db_path: &Path, expect: &Expect) -> Result<VerifyReport, VerifyError> {
    let open_err = |e: rusqlite::Error| VerifyError::Open(e.to_string());
    if !db_path.exists() {
        return Err(VerifyError::Open(format!(
            "{} does not exist",
            db_path.display()
        )));
    }
    let conn =
        Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    // One read transaction: the records, checkpoints and tables all come from the same commit.
    let snapshot = conn.unchecked_transaction().map_err(open_err)?;
    let key_text: String = snapshot
        .query_row(
            "SELECT value FROM meta WHERE key = 'server_public_key'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| VerifyError::Open(format!("no server public key recorded: {e}")))?;
    let key = PublicKey::parse(&key_text).map_err(|e| VerifyError::Open(e.to_string()))?;
    check_keys(&key, expect)?;

    let mut replay = replay::Replay::default();
    let (heads, replay_problem) = walk_chain(&snapshot, &key_text, &mut replay)?;
    let records = heads.len() as u64;
    let checkpoints = check_checkpoints(&snapshot, &key, &heads)?;
    let anchored_at = match &expect.anchor {
        Some(anchor) => Some(anchor.check_against(&heads)?),
        None => None,
    };
    if records == 0 {
        return Err(VerifyError::BadRecord {
            seq: 1,
            problem: "missing: the log is empty, yet a server records its every start: the log was deleted".into(),
        });
    }
    // A record the server signed but the replay cannot apply: reported once the chain, the
    // checkpoints and the anchor hold, since they say more about a forged one.
    if let Some(problem) = replay_problem {
        return Err(problem);
    }
    tables::compare(&snapshot, &replay.finish()).map_err(VerifyError::State)?;
    Ok(VerifyReport {
        records,
        head: heads.last().cloned().unwrap_or_else(|| GENESIS.into()),
        checkpoints,
        anchored_at,
    })
}

/// The log's key against the key given from outside and the anchor's key and signature.
fn check_keys(log_key: &PublicKey, expect: &Expect) -> Result<(), VerifyError> {
    if let Some(expected) = &expect.server_key {
        if expected != log_key {
            return Err(VerifyError::Key(format!(
                "the log is signed with {log_key}, not the expected {expected}: the key was replaced"
            )));
        }
    }
    if let Some(anchor) = &expect.anchor {
        anchor.check_key(expect.server_key.as_ref(), log_key)?;
    }
    Ok(())
}

/// The first record the replay could not apply.
type ReplayProblem = Option<VerifyError>;

/// Walks the chain in order, feeding each record to the replay until one cannot be applied;
/// returns the heads and the first record the replay could not apply.
fn walk_chain(
    conn: &Connection,
    key_text: &str,
    replay: &mut replay::Replay,
) -> Result<(Vec<String>, ReplayProblem), VerifyError> {
    let open_err = |e: rusqlite::Error| VerifyError::Open(e.to_string());
    let indexed = replay::has_index_columns(conn).map_err(open_err)?;
    let columns = if indexed {
        "agent, tool, action, escalation, verdict"
    } else {
        "NULL, NULL, NULL, NULL, NULL"
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT seq, time, kind, actor, body, prev_hash, hash, {columns} FROM audit ORDER BY seq"
        ))
        .map_err(open_err)?;
    let mut rows = stmt.query([]).map_err(open_err)?;
    let mut expected_seq = 1u64;
    let mut prev = GENESIS.to_string();
    let mut heads: Vec<String> = Vec::new();
    let mut replay_problem = None;
    while let Some(row) = rows.next().map_err(open_err)? {
        let seq: i64 = row.get(0).map_err(open_err)?;
        let seq = seq as u64;
        let time: String = row.get(1).map_err(open_err)?;
        let kind: String = row.get(2).map_err(open_err)?;
        let actor: String = row.get(3).map_err(open_err)?;
        let body_text: String = row.get(4).map_err(open_err)?;
        let prev_hash: String = row.get(5).map_err(open_err)?;
        let hash: String = row.get(6).map_err(open_err)?;
        let index = if indexed {
            let text = |i: usize| row.get::<_, Option<String>>(i);
            Some(replay::StoredIndex {
                agent: text(7).map_err(open_err)?,
                tool: text(8).map_err(open_err)?,
                action: text(9).map_err(open_err)?,
                escalation: text(10).map_err(open_err)?,
                verdict: text(11).map_err(open_err)?,
            })
        } else {
            None
        };
        let bad = |problem: String| VerifyError::BadRecord { seq, problem };
        if seq != expected_seq {
            return Err(VerifyError::BadRecord {
                seq: expected_seq,
                problem: format!("missing (the next record is {seq}): deleted"),
            });
        }
        if prev_hash != prev {
            return Err(bad(format!(
                "prev_hash does not match record {}'s hash: a record was inserted, deleted or reordered",
                seq - 1
            )));
        }
        let body: Value =
            serde_json::from_str(&body_text).map_err(|e| bad(format!("body is not JSON: {e}")))?;
        let computed = record_hash(&prev_hash, seq, &time, &kind, &actor, &body)
            .map_err(|e| bad(format!("body {e}")))?;
        if computed != hash {
            return Err(bad(
                "hash does not match its content: the record was edited".into(),
            ));
        }
        if kind == "server_start" {
            if let Ok(AuditEvent::ServerStart(start)) = AuditEvent::parse(&kind, &actor, &body) {
                let started_with = start.server_public_key;
                if started_with != key_text {
                    return Err(VerifyError::Key(format!(
                        "record {seq}: the server started with {started_with}, but the log is signed with {key_text}: the key was replaced"
                    )));
                }
            }
        }
        if replay_problem.is_none() {
            if let Err(problem) = replay::replay_record(replay, seq, (&kind, &actor, &body), index)
            {
                replay_problem = Some(problem);
            }
        }
        heads.push(hash.clone());
        prev = hash;
        expected_seq += 1;
    }
    Ok((heads, replay_problem))
}

/// Every checkpoint verifies and matches the chain, and together they cover every record.
fn check_checkpoints(
    conn: &Connection,
    key: &PublicKey,
    heads: &[String],
) -> Result<u64, VerifyError> {
    let open_err = |e: rusqlite::Error| VerifyError::Open(e.to_string());
    let records = heads.len() as u64;
    let mut stmt = conn
        .prepare("SELECT seq, head, signature FROM checkpoints ORDER BY seq")
        .map_err(open_err)?;
    let mut rows = stmt.query([]).map_err(open_err)?;
    let mut checkpoints = 0u64;
    let mut covered = 0u64;
    while let Some(row) = rows.next().map_err(open_err)? {
        let seq: i64 = row.get(0).map_err(open_err)?;
        let seq = seq as u64;
        let head: String = row.get(1).map_err(open_err)?;
        let signature: String = row.get(2).map_err(open_err)?;
        let bad = |problem: String| VerifyError::BadCheckpoint { seq, problem };
        key.verify(
            Purpose::Checkpoint,
            &CheckpointBody { seq, head: &head },
            &signature,
        )
        .map_err(|_| bad("signature does not verify with the server key".into()))?;
        match heads.get((seq as usize).wrapping_sub(1)) {
            None => {
                return Err(VerifyError::BadRecord {
                    seq: records + 1,
                    problem: format!("missing: a signed checkpoint covers records up to {seq}; the log was truncated"),
                })
            }
            Some(h) if *h != head => {
                return Err(VerifyError::BadRecord {
                    seq,
                    problem: "differs from the head the server signed: the chain was rewritten".into(),
                })
            }
            Some(_) => {}
        }
        covered = covered.max(seq);
        checkpoints += 1;
    }
    if covered < records {
        return Err(VerifyError::BadRecord {
            seq: covered + 1,
            problem: "is not covered by any signed checkpoint: appended outside the server".into(),
        });
    }
    Ok(checkpoints)
}
