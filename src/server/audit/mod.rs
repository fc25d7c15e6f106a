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

mod action_table;
mod anchor;
mod batch;
mod event;
mod grant_table;
mod jcs;
mod key_table;
mod replay;
mod tables;
mod walk;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde_json::Value;

use crate::protocol::canonical::{canonical_bytes, sha256_hex, CanonicalError};
use crate::protocol::signing::Purpose;
use crate::protocol::PublicKey;

pub use anchor::{latest_anchor, Anchor};
/// One event of every kind, with the actor and body the server writes for it (for tests).
#[cfg(test)]
pub(crate) use event::tests::today as every_kind_of_event;
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
    let mut bytes = Vec::with_capacity(512);
    bytes.extend_from_slice(prev_hash.as_bytes());
    bytes.push(b'\n');
    if seq < jcs::PLAIN_INTEGERS {
        hashed_fields(&mut bytes, seq, time, kind, actor, |out| {
            jcs::write_value(body, out)
        })?;
    } else {
        bytes.extend(canonical_bytes(&Hashed {
            seq,
            time,
            kind,
            actor,
            body,
        })?);
    }
    Ok(sha256_hex(&bytes))
}

/// [`record_hash`] of a record whose stored body text is already canonical JSON (as the server
/// writes them), hashed as it is; `None` when it is not (or may not be) canonical, and the
/// body must be parsed and canonicalised.
fn stored_record_hash(
    prev_hash: &str,
    seq: u64,
    time: &str,
    kind: &str,
    actor: &str,
    body_text: &str,
) -> Option<String> {
    if seq >= jcs::PLAIN_INTEGERS || !jcs::is_canonical(body_text) {
        return None;
    }
    let mut bytes = Vec::with_capacity(prev_hash.len() + body_text.len() + 160);
    bytes.extend_from_slice(prev_hash.as_bytes());
    bytes.push(b'\n');
    hashed_fields(&mut bytes, seq, time, kind, actor, |out| {
        out.extend_from_slice(body_text.as_bytes());
        Ok(())
    })
    .ok()?;
    Some(sha256_hex(&bytes))
}

/// The canonical JSON of [`Hashed`], its keys in RFC 8785 order, the body written by `body`.
fn hashed_fields(
    out: &mut Vec<u8>,
    seq: u64,
    time: &str,
    kind: &str,
    actor: &str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), CanonicalError>,
) -> Result<(), CanonicalError> {
    out.extend_from_slice(b"{\"actor\":");
    jcs::write_str(actor, out);
    out.extend_from_slice(b",\"body\":");
    body(out)?;
    out.extend_from_slice(b",\"kind\":");
    jcs::write_str(kind, out);
    out.extend_from_slice(b",\"seq\":");
    jcs::write_u64(seq, out);
    out.extend_from_slice(b",\"time\":");
    jcs::write_str(time, out);
    out.push(b'}');
    Ok(())
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
    /// The latest `actions_pruned` horizon: allowed and denied calls submitted before it may
    /// have no row, as the log records.
    pub pruned_before: Option<crate::protocol::Timestamp>,
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
    // One thread uses the connection at a time: without SQLite's own lock around every call,
    // which took a tenth of the time.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db_path, flags).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    // Read the file through memory mapping rather than a system call per page.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)
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

    let stored = stored_checkpoints(&snapshot)?;
    // Room for every record at once, not grown (and rehashed) as they come.
    let last_seq: Option<i64> = snapshot
        .query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0))
        .map_err(|e| VerifyError::Open(e.to_string()))?;
    let mut replay =
        replay::Replay::with_capacity(last_seq.unwrap_or(0).clamp(0, 1 << 24) as usize);
    // The signatures are checked on a core of their own while the chain is walked.
    let (walked, signed) = std::thread::scope(|s| {
        let signed = s.spawn(|| signatures_hold(&key, &stored));
        (
            walk::walk_chain(&snapshot, &key_text, &mut replay),
            signed.join(),
        )
    });
    let walk::Walked {
        heads,
        replay_problem,
    } = walked?;
    let signed = signed.map_err(|_| VerifyError::Open("checking the signatures failed".into()))?;
    let records = heads.len() as u64;
    let checkpoints = check_checkpoints(&stored, &signed, &heads)?;
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
    let implied = replay.finish();
    tables::compare(&snapshot, &implied).map_err(VerifyError::State)?;
    let head = heads.last().cloned().unwrap_or_else(|| GENESIS.into());
    let pruned_before = implied.pruned_before;
    // Freeing a large log's replay takes a while; nothing needs to wait for it.
    std::thread::spawn(move || drop((implied, heads)));
    Ok(VerifyReport {
        records,
        head,
        checkpoints,
        anchored_at,
        pruned_before,
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

/// One row of the checkpoints table.
struct StoredCheckpoint {
    seq: u64,
    head: String,
    signature: String,
}

/// The checkpoints table, in order.
fn stored_checkpoints(conn: &Connection) -> Result<Vec<StoredCheckpoint>, VerifyError> {
    let open_err = |e: rusqlite::Error| VerifyError::Open(e.to_string());
    let mut stmt = conn
        .prepare("SELECT seq, head, signature FROM checkpoints ORDER BY seq")
        .map_err(open_err)?;
    let mut rows = stmt.query([]).map_err(open_err)?;
    let mut stored = Vec::new();
    while let Some(row) = rows.next().map_err(open_err)? {
        stored.push(StoredCheckpoint {
            seq: row.get::<_, i64>(0).map_err(open_err)? as u64,
            head: row.get(1).map_err(open_err)?,
            signature: row.get(2).map_err(open_err)?,
        });
    }
    Ok(stored)
}

/// Whether each checkpoint's signature verifies with the server key.
fn signatures_hold(key: &PublicKey, stored: &[StoredCheckpoint]) -> Vec<bool> {
    stored
        .iter()
        .map(|c| {
            let body = CheckpointBody {
                seq: c.seq,
                head: &c.head,
            };
            key.verify(Purpose::Checkpoint, &body, &c.signature).is_ok()
        })
        .collect()
}

/// Every checkpoint verifies (`signed`, one answer each) and matches the chain, and together
/// they cover every record.
fn check_checkpoints(
    stored: &[StoredCheckpoint],
    signed: &[bool],
    heads: &[String],
) -> Result<u64, VerifyError> {
    let records = heads.len() as u64;
    let mut checkpoints = 0u64;
    let mut covered = 0u64;
    for (c, &holds) in stored.iter().zip(signed) {
        let (seq, head) = (c.seq, &c.head);
        let bad = |problem: String| VerifyError::BadCheckpoint { seq, problem };
        if !holds {
            return Err(bad("signature does not verify with the server key".into()));
        }
        match heads.get((seq as usize).wrapping_sub(1)) {
            None => {
                return Err(VerifyError::BadRecord {
                    seq: records + 1,
                    problem: format!("missing: a signed checkpoint covers records up to {seq}; the log was truncated"),
                })
            }
            Some(h) if h != head => {
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
