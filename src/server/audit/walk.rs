//! The walk along the chain, on two threads: this one reads each record in order and checks
//! its place in the chain and its hash; a second reads each record's event and replays it. The
//! walk stops at the first broken link; the replay notes the first record it cannot apply (or
//! the first server start with another key, which stops everything, as it came first).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use rusqlite::Connection;
use serde_json::Value;

use super::replay::{self, Replay, StoredIndex};
use super::{record_hash, stored_record_hash, AuditEvent, EventError, VerifyError, GENESIS};

/// The first record the replay could not apply.
pub(super) type ReplayProblem = Option<VerifyError>;

/// Records handed to the replay at a time.
const BATCH: usize = 256;

/// One record on its way from the walk to the replay.
struct Walked {
    seq: u64,
    kind: String,
    actor: String,
    body: String,
    /// The body parsed, when it was not canonical (and so was parsed to be hashed).
    parsed: Option<Value>,
    index: Option<StoredIndex>,
}

/// Walks the chain in order, the replay following on a second thread; returns the heads and
/// the first record the replay could not apply.
pub(super) fn walk_chain(
    conn: &Connection,
    key_text: &str,
    replay: &mut Replay,
) -> Result<(Vec<String>, ReplayProblem), VerifyError> {
    let (tx, rx) = sync_channel::<Vec<Walked>>(16);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let replayed = s.spawn(|| replay_all(rx, key_text, replay, &stop));
        let walked = walk(conn, tx, &stop);
        let (key_problem, replay_problem) = replayed
            .join()
            .map_err(|_| VerifyError::Open("replaying the log failed".into()))?;
        // A server start with another key precedes any later broken link: the walk reports
        // only links after every record it handed over.
        if let Some(e) = key_problem {
            return Err(e);
        }
        Ok((walked?, replay_problem))
    })
}

/// The chain itself: seqs without gaps, each record linked to the one before and hashed as
/// stored. Each record then goes to the replay.
fn walk(
    conn: &Connection,
    tx: SyncSender<Vec<Walked>>,
    stop: &AtomicBool,
) -> Result<Vec<String>, VerifyError> {
    let mut batch = Vec::with_capacity(BATCH);
    let walked = walk_into(conn, &tx, &mut batch, stop);
    // What came before a broken link is replayed too: a server start with another key there
    // is what is reported.
    let _ = tx.send(batch);
    walked
}

fn walk_into(
    conn: &Connection,
    tx: &SyncSender<Vec<Walked>>,
    batch: &mut Vec<Walked>,
    stop: &AtomicBool,
) -> Result<Vec<String>, VerifyError> {
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
    let mut heads: Vec<String> = Vec::new();
    while let Some(row) = rows.next().map_err(open_err)? {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let seq: i64 = row.get(0).map_err(open_err)?;
        let seq = seq as u64;
        let text = |i: usize| column_text(row, i).map_err(open_err);
        let (time, kind, actor) = (text(1)?, text(2)?, text(3)?);
        let (body_text, prev_hash, hash) = (text(4)?, text(5)?, text(6)?);
        let index = if indexed {
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
        if seq != expected_seq {
            return Err(VerifyError::BadRecord {
                seq: expected_seq,
                problem: format!("missing (the next record is {seq}): deleted"),
            });
        }
        if prev_hash != heads.last().map_or(GENESIS, String::as_str) {
            return Err(bad(format!(
                "prev_hash does not match record {}'s hash: a record was inserted, deleted or reordered",
                seq - 1
            )));
        }
        // The server writes bodies in canonical form: such a body is hashed and read as it
        // is; any other is parsed and canonicalised, and read through the parsed value.
        let mut parsed: Option<Value> = None;
        let computed = match stored_record_hash(prev_hash, seq, time, kind, actor, body_text) {
            Some(h) => h,
            None => {
                let body: &Value = parsed.insert(
                    serde_json::from_str(body_text)
                        .map_err(|e| bad(format!("body is not JSON: {e}")))?,
                );
                record_hash(prev_hash, seq, time, kind, actor, body)
                    .map_err(|e| bad(format!("body {e}")))?
            }
        };
        if computed != hash {
            return Err(bad(
                "hash does not match its content: the record was edited".into(),
            ));
        }
        batch.push(Walked {
            seq,
            kind: kind.to_string(),
            actor: actor.to_string(),
            body: body_text.to_string(),
            parsed,
            index,
        });
        if batch.len() == BATCH {
            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
            if tx.send(full).is_err() {
                break;
            }
        }
        heads.push(hash.to_string());
        expected_seq += 1;
    }
    Ok(heads)
}

/// Reads and replays each record the walk hands over, in order, until one cannot be applied;
/// after that only server starts are read, for their key. Returns a server start with
/// another key than the log's (which stops the walk), and the first record not applied.
fn replay_all(
    rx: Receiver<Vec<Walked>>,
    key_text: &str,
    replay: &mut Replay,
    stop: &AtomicBool,
) -> (Option<VerifyError>, ReplayProblem) {
    let mut replay_problem = None;
    for batch in rx {
        for w in batch {
            let server_start = w.kind == "server_start";
            if !server_start && replay_problem.is_some() {
                continue;
            }
            let event = read_event(&w.kind, &w.actor, &w.body, w.parsed.as_ref());
            if let Ok(AuditEvent::ServerStart(start)) = &event {
                let started_with = &start.server_public_key;
                if started_with != key_text {
                    stop.store(true, Ordering::Relaxed);
                    let seq = w.seq;
                    return (
                        Some(VerifyError::Key(format!(
                            "record {seq}: the server started with {started_with}, but the log is signed with {key_text}: the key was replaced"
                        ))),
                        replay_problem,
                    );
                }
            }
            if replay_problem.is_none() {
                if let Err(problem) = replay::replay_record(replay, w.seq, event, w.index) {
                    replay_problem = Some(problem);
                }
            }
        }
    }
    (None, replay_problem)
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
    parsed: Option<&Value>,
) -> Result<AuditEvent, EventError> {
    let owned;
    let body = match parsed {
        Some(body) => body,
        None => {
            if let Some(event) = AuditEvent::parse_canonical(kind, actor, body_text) {
                return Ok(event);
            }
            // A canonical text always parses; were it not to, no kind fits a null body.
            owned = serde_json::from_str(body_text).unwrap_or(Value::Null);
            &owned
        }
    };
    AuditEvent::parse(kind, actor, body)
}
