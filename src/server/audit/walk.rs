//! Walks the chain in order on the thread that holds the connection (reading each record and
//! checking its hash against the one before), while a second thread reads each record's event
//! and replays it. The two meet in batches of records, whose text travels in one buffer.

use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver};

use rusqlite::Connection;
use serde_json::Value;

use super::batch;
use super::replay::{self, Replay, StoredIndex};
use super::{record_hash, stored_record_hash, AuditEvent, EventError, VerifyError, GENESIS};

/// Records handed to the replay at once.
const BATCH: usize = 512;
/// Batches read ahead of the replay.
const AHEAD: usize = 8;

/// What the walk found: every record's hash in order, and the first record the replay could
/// not apply.
pub(super) struct Walked {
    pub heads: Vec<String>,
    pub replay_problem: Option<VerifyError>,
}

/// Records read off the chain, for the replay.
type Batch = batch::Batch<Chained>;

/// One record whose hash holds, for the replay.
struct Chained {
    seq: u64,
    kind: Range<usize>,
    actor: Range<usize>,
    body: Range<usize>,
    /// Whether the body text is canonical JSON, so its event is read straight from it.
    canonical: bool,
    index: Option<StoredIndex>,
}

/// Walks the chain, replaying each record into `replay`. A broken chain ends the walk with its
/// error, as does a `server_start` record naming another key than `key_text`, whichever comes
/// first in the chain; a record the replay cannot apply is returned to be reported later.
pub(super) fn walk_chain(
    conn: &Connection,
    key_text: &str,
    replay: &mut Replay,
) -> Result<Walked, VerifyError> {
    let (tx, rx) = sync_channel::<Batch>(AHEAD);
    std::thread::scope(|s| {
        let replayed = s.spawn(move || replay_batches(rx, key_text, replay));
        let walked = read_chain(conn, |batch| tx.send(batch).is_ok());
        drop(tx);
        let (key_problem, replay_problem) = replayed
            .join()
            .map_err(|_| VerifyError::Open("replaying the log failed".into()))?;
        // The replay saw only records before the walk's own failure, if any: a key problem
        // it found comes first in the chain.
        if let Some(problem) = key_problem {
            return Err(problem);
        }
        Ok(Walked {
            heads: walked?,
            replay_problem,
        })
    })
}

/// Reads the chain in order and checks every hash, handing the records to `send` in batches
/// (`false` from it ends the walk). Returns the hashes.
fn read_chain(
    conn: &Connection,
    mut send: impl FnMut(Batch) -> bool,
) -> Result<Vec<String>, VerifyError> {
    let open_err = |e: rusqlite::Error| VerifyError::Open(e.to_string());
    let indexed = replay::has_index_columns(conn).map_err(open_err)?;
    let columns = if indexed {
        "agent, tool, action, escalation, verdict"
    } else {
        "NULL, NULL, NULL, NULL, NULL"
    };
    // Before schema 7 each record also stored the hash it links to, and its own hash as hex.
    let linked = replay::has_column(conn, "prev_hash").map_err(open_err)?;
    let prev = if linked { "prev_hash" } else { "NULL" };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT seq, time, kind, actor, body, {prev}, hash, {columns} FROM audit ORDER BY seq"
        ))
        .map_err(open_err)?;
    let mut rows = stmt.query([]).map_err(open_err)?;
    let mut heads: Vec<String> = Vec::new();
    let mut batch = Batch::with_capacity(BATCH);
    while let Some(row) = rows.next().map_err(open_err)? {
        let layout = Layout { indexed, linked };
        let hash = match check_record(row, layout, &heads, &mut batch) {
            Ok(hash) => hash,
            Err(problem) => {
                // The records before it are replayed first: a replaced key among them is
                // named instead, as it comes first in the chain.
                send(batch);
                return Err(problem);
            }
        };
        heads.push(hash);
        if batch.rows.len() == BATCH
            && !send(std::mem::replace(&mut batch, Batch::with_capacity(BATCH)))
        {
            break;
        }
    }
    if !batch.rows.is_empty() {
        send(batch);
    }
    Ok(heads)
}

/// Which columns the audit table stores.
#[derive(Clone, Copy)]
struct Layout {
    /// The typed columns (schemas 2 to 6).
    indexed: bool,
    /// The hash each record links to (before schema 7).
    linked: bool,
}

/// Checks one record's place in the chain and its hash, and adds it to `batch`. Returns its
/// hash as hex.
fn check_record(
    row: &rusqlite::Row<'_>,
    layout: Layout,
    heads: &[String],
    batch: &mut Batch,
) -> Result<String, VerifyError> {
    let open_err = |e: rusqlite::Error| VerifyError::Open(e.to_string());
    let seq: i64 = row.get(0).map_err(open_err)?;
    let seq = seq as u64;
    let text = |i: usize| column_text(row, i).map_err(open_err);
    let (time, kind, actor, body_text) = (text(1)?, text(2)?, text(3)?, text(4)?);
    let stored_hex = stored_hash(row, 6).map_err(open_err)?;
    let index = if layout.indexed {
        let text = |i: usize| row.get::<_, Option<String>>(i);
        Some(StoredIndex {
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
    let expected_seq = heads.len() as u64 + 1;
    if seq != expected_seq {
        return Err(VerifyError::BadRecord {
            seq: expected_seq,
            problem: format!("missing (the next record is {seq}): deleted"),
        });
    }
    let prev_hash = heads.last().map_or(GENESIS, String::as_str);
    if layout.linked && text(5)? != prev_hash {
        return Err(bad(format!(
            "prev_hash does not match record {}'s hash: a record was inserted, deleted or reordered",
            seq - 1
        )));
    }
    // The server writes bodies in canonical form: such a body is hashed as it is; any other is
    // parsed and canonicalised.
    let stored = stored_record_hash(prev_hash, seq, time, kind, actor, body_text);
    let canonical = stored.is_some();
    let computed = match stored {
        Some(h) => h,
        None => {
            let body: Value = serde_json::from_str(body_text)
                .map_err(|e| bad(format!("body is not JSON: {e}")))?;
            record_hash(prev_hash, seq, time, kind, actor, &body)
                .map_err(|e| bad(format!("body {e}")))?
        }
    };
    if computed != stored_hex.as_ref() {
        // Without a stored link, the record before is hashed in as the link: a record
        // inserted, deleted or moved before this one breaks its hash too.
        let problem = if layout.linked {
            "hash does not match its content: the record was edited"
        } else {
            "hash does not match its content after the record before it: the record was edited, or one was inserted, deleted or reordered"
        };
        return Err(bad(problem.into()));
    }
    let chained = Chained {
        seq,
        kind: batch.push_text(kind),
        actor: batch.push_text(actor),
        body: batch.push_text(body_text),
        canonical,
        index,
    };
    batch.rows.push(chained);
    // A hash read as bytes is already an owned text: kept, not copied again.
    Ok(stored_hex.into_owned())
}

/// Reads and replays every record it is handed, in order. Returns the first `server_start`
/// record naming another key than `key_text` (after which it reads no further), and the first
/// record the replay could not apply (after which it reads only `server_start` records).
fn replay_batches(
    rx: Receiver<Batch>,
    key_text: &str,
    replay: &mut Replay,
) -> (Option<VerifyError>, Option<VerifyError>) {
    let mut replay_problem = None;
    for batch in rx {
        for r in &batch.rows {
            let text = |range: &Range<usize>| batch.text(range);
            let (seq, kind, actor, body) = (r.seq, text(&r.kind), text(&r.actor), text(&r.body));
            let wanted = kind == "server_start" || replay_problem.is_none();
            if !wanted {
                continue;
            }
            let event = read_event(kind, actor, body, r.canonical);
            if let Ok(AuditEvent::ServerStart(start)) = &event {
                let started_with = &start.server_public_key;
                if started_with != key_text {
                    let problem = VerifyError::Key(format!(
                        "record {seq}: the server started with {started_with}, but the log is signed with {key_text}: the key was replaced"
                    ));
                    return (Some(problem), replay_problem);
                }
            }
            if replay_problem.is_none() {
                let index = r.index.as_ref();
                if let Err(problem) = replay::replay_record(replay, seq, event, index) {
                    replay_problem = Some(problem);
                }
            }
        }
    }
    (None, replay_problem)
}

/// A record's stored hash as hex: its 32 bytes (schema 7), or the hex text stored before.
/// Anything else reads as what it is, which then matches no hash.
fn stored_hash<'r>(
    row: &'r rusqlite::Row<'_>,
    i: usize,
) -> Result<std::borrow::Cow<'r, str>, rusqlite::Error> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(i)? {
        ValueRef::Blob(bytes) => match <&[u8; 32]>::try_from(bytes) {
            Ok(hash) => crate::protocol::canonical::hash_hex(hash).into(),
            Err(_) => hex::encode(bytes).into(),
        },
        ValueRef::Text(_) => column_text(row, i)?.into(),
        other => format!("{other:?}").into(),
    })
}

/// A text column read in place, not copied out of the row; anything else is the error reading
/// it as a `String` gives.
fn column_text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, rusqlite::Error> {
    match row.get_ref(i)?.as_str() {
        Ok(text) => Ok(text),
        Err(_) => row.get::<_, String>(i).map(|_| ""),
    }
}

/// A record's event: read straight from its body text when that is canonical (as the server
/// writes them), else through the parsed body, which also names any problem exactly.
fn read_event(
    kind: &str,
    actor: &str,
    body_text: &str,
    canonical: bool,
) -> Result<AuditEvent, EventError> {
    if canonical {
        if let Some(event) = AuditEvent::parse_canonical(kind, actor, body_text) {
            return Ok(event);
        }
    }
    // The walk parsed every body that is not canonical; a canonical one always parses. Were
    // either not to, no kind fits a null body.
    let body = serde_json::from_str(body_text).unwrap_or(Value::Null);
    AuditEvent::parse(kind, actor, &body)
}
