//! The actions table against the log: every row an action the log recorded, with the same
//! effect, names, arguments, submission time and grant; every action the log recorded has its
//! row, unless `keep_actions` let it go. The thread holding the connection reads the rows and
//! fingerprints their arguments while a second one compares them, in batches.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};

use chrono::{DateTime, Utc};
use rusqlite::types::{Type, ValueRef};
use rusqlite::Connection;
use serde_json::Value;

use super::batch::Batch;
use super::replay::{args_fingerprint, text_fingerprint, Fingerprint, Implied};

type Check = Result<(), String>;

/// Rows handed to the comparison at once.
const BATCH: usize = 512;
/// Batches read ahead of the comparison.
const AHEAD: usize = 8;

fn sql(e: rusqlite::Error) -> String {
    format!("cannot read the tables: {e}")
}

/// One row as read, its texts in its batch's, with what could not be read kept to be named in
/// its turn.
struct Row {
    id: Range<usize>,
    agent: Range<usize>,
    session: Range<usize>,
    tool: Range<usize>,
    effect: Range<usize>,
    rule: Option<Range<usize>>,
    reason: Range<usize>,
    escalation: Option<Range<usize>>,
    /// The arguments' fingerprint, or why they cannot be read.
    args: Result<Fingerprint, String>,
    /// When it was submitted, or why that cannot be read.
    at: Result<Range<usize>, String>,
    /// The grant it names, where the table has grants (from schema 4).
    grant: Option<Option<Range<usize>>>,
}

pub(super) fn actions(conn: &Connection, implied: &Implied) -> Check {
    let (tx, rx) = sync_channel::<Batch<Row>>(AHEAD);
    let (read, compared) = std::thread::scope(|s| {
        let compared = s.spawn(move || compare_rows(rx, implied));
        let read = read_rows(conn, |batch| tx.send(batch).is_ok());
        drop(tx);
        (read, compared.join())
    });
    // The comparison stops at the first row that differs, and reading then stops too; a row
    // that cannot be read comes after every row compared.
    let seen = compared.map_err(|_| "comparing the actions table failed".to_string())??;
    read?;
    if seen < implied.actions.len() {
        return missing(implied);
    }
    Ok(())
}

/// Reads the table in order, handing the rows to `send` in batches (`false` from it ends the
/// reading).
fn read_rows(conn: &Connection, mut send: impl FnMut(Batch<Row>) -> bool) -> Check {
    // A file verified as it is, not migrated: from before schema version 6 it keeps the
    // whole call in `record` (the arguments are read from it); from before version 4 it has
    // no `grant_id`.
    let column = |name: &str| -> Result<bool, String> {
        conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('actions') WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .map_err(sql)
    };
    let (whole, granted) = (column("record")?, column("grant_id")?);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id, agent, session, tool, effect, rule, reason, escalation, {}, at, {}
             FROM actions ORDER BY seq",
            if whole { "record" } else { "args" },
            if granted { "grant_id" } else { "NULL" },
        ))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut batch = Batch::with_capacity(BATCH);
    while let Some(row) = rows.next().map_err(sql)? {
        match read_row(row, whole, granted, &mut batch) {
            Ok(read) => batch.rows.push(read),
            Err(problem) => {
                // The rows before it are compared first.
                send(batch);
                return Err(problem);
            }
        }
        if batch.rows.len() == BATCH
            && !send(std::mem::replace(&mut batch, Batch::with_capacity(BATCH)))
        {
            return Ok(());
        }
    }
    if !batch.rows.is_empty() {
        send(batch);
    }
    Ok(())
}

/// One row, its texts kept in `batch` and its arguments fingerprinted. `whole`: the arguments
/// are in the stored call (before schema 6); `granted`: the table names grants.
fn read_row(
    row: &rusqlite::Row<'_>,
    whole: bool,
    granted: bool,
    batch: &mut Batch<Row>,
) -> Result<Row, String> {
    let id = required(row, 0, batch)?;
    let effect = required(row, 4, batch)?;
    let (rule, escalation) = (text(row, 5, batch)?, text(row, 7, batch)?);
    let agent = required(row, 1, batch)?;
    let session = required(row, 2, batch)?;
    let tool = required(row, 3, batch)?;
    let reason = required(row, 6, batch)?;
    let at = required(row, 9, batch);
    let grant = if granted {
        Some(text(row, 10, batch)?)
    } else {
        None
    };
    let stored = row.get_ref(8).and_then(|v| Ok(v.as_str()?)).map_err(sql)?;
    let id_text = || batch.text(&id).to_string();
    let args = if whole {
        serde_json::from_str::<Value>(stored)
            .map_err(|e| format!("action {}'s stored record cannot be read: {e}", id_text()))
            .and_then(|record| args_fingerprint(record.get("args").unwrap_or(&Value::Null)))
    } else {
        match text_fingerprint(stored) {
            Some(fingerprint) => Ok(fingerprint),
            None => serde_json::from_str::<Value>(stored)
                .map_err(|e| {
                    format!(
                        "action {}'s stored arguments cannot be read: {e}",
                        id_text()
                    )
                })
                .and_then(|args| args_fingerprint(&args)),
        }
    };
    Ok(Row {
        id,
        agent,
        session,
        tool,
        effect,
        rule,
        reason,
        escalation,
        args,
        at,
        grant,
    })
}

/// Column `i`, a text or null, kept in `batch`.
fn text(
    row: &rusqlite::Row<'_>,
    i: usize,
    batch: &mut Batch<Row>,
) -> Result<Option<Range<usize>>, String> {
    match row.get_ref(i).map_err(sql)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => {
            let t = std::str::from_utf8(t).map_err(|e| sql(rusqlite::Error::Utf8Error(e)))?;
            Ok(Some(batch.push_text(t)))
        }
        other => Err(wrong_type(row, i, other.data_type())),
    }
}

/// Column `i`, a text, kept in `batch`.
fn required(
    row: &rusqlite::Row<'_>,
    i: usize,
    batch: &mut Batch<Row>,
) -> Result<Range<usize>, String> {
    text(row, i, batch)?.ok_or_else(|| wrong_type(row, i, Type::Null))
}

fn wrong_type(row: &rusqlite::Row<'_>, i: usize, found: Type) -> String {
    let name = row.as_ref().column_name(i).unwrap_or("?").to_string();
    sql(rusqlite::Error::InvalidColumnType(i, name, found))
}

/// Compares the rows with the log in order, up to the first that differs; returns how many
/// there were.
fn compare_rows(rx: Receiver<Batch<Row>>, implied: &Implied) -> Result<usize, String> {
    let mut seen = 0;
    for batch in rx {
        for row in &batch.rows {
            compare_row(&batch, row, implied)?;
            seen += 1;
        }
    }
    Ok(seen)
}

fn compare_row(batch: &Batch<Row>, row: &Row, implied: &Implied) -> Check {
    let text = |at: &Range<usize>| batch.text(at);
    let maybe = |at: &Option<Range<usize>>| at.as_ref().map(|at| batch.text(at));
    let id = text(&row.id);
    let Some(log) = implied.actions.get(id) else {
        return Err(format!("action {id} is in the table but not in the log"));
    };
    if log.seen.swap(true, Ordering::Relaxed) {
        return Err(format!("action {id} is in the table twice"));
    }
    let effect = text(&row.effect);
    if effect != log.effect {
        return Err(format!(
            "action {id} is {effect} in the table but the log says {}",
            log.effect
        ));
    }
    for (what, table, logged) in [
        ("agent", &row.agent, &log.agent),
        ("session", &row.session, &log.session),
        ("tool", &row.tool, &log.tool),
        ("reason", &row.reason, &log.reason),
    ] {
        let table = text(table);
        if table != logged {
            return Err(format!(
                "action {id} has {what} {table:?} in the table but the log says {logged:?}"
            ));
        }
    }
    let (rule, escalation) = (maybe(&row.rule), maybe(&row.escalation));
    if rule != log.rule.as_deref() || escalation != log.escalation.as_deref() {
        return Err(format!(
            "action {id} has rule {rule:?} and escalation {escalation:?} in the table but the log says {:?} and {:?}",
            log.rule, log.escalation
        ));
    }
    if *row.args.as_ref()? != log.args {
        return Err(format!(
            "action {id}'s stored arguments differ from the log's"
        ));
    }
    if let Some(at) = log.submitted_at {
        let table_at = text(row.at.as_ref()?);
        if table_at.parse::<DateTime<Utc>>().ok() != Some(at) {
            return Err(format!(
                "action {id} was submitted at {table_at} in the table but the log says {}",
                at.to_rfc3339()
            ));
        }
    }
    if let Some(grant) = row.grant.as_ref().map(maybe) {
        if grant != log.grant.as_deref() {
            return Err(format!(
                "action {id} names grant {grant:?} in the table but the log says {:?}",
                log.grant
            ));
        }
    }
    Ok(())
}

/// Rows the log has that the table lacks, unless `keep_actions` let them go.
fn missing(implied: &Implied) -> Check {
    let mut missing: Vec<&String> = implied
        .actions
        .iter()
        .filter(|(_, a)| !a.seen.load(Ordering::Relaxed) && !a.prunable(implied.pruned_before))
        .map(|(id, _)| id)
        .collect();
    missing.sort_unstable();
    match missing.first() {
        Some(m) => Err(format!("action {m} is in the log but not in the table")),
        None => Ok(()),
    }
}
