//! The actions table against the log: every row an action the log recorded, with the same
//! effect, names, arguments, submission time and grant; every action the log recorded has its
//! row, unless `keep_actions` let it go. The thread holding the connection reads the rows and
//! fingerprints their arguments while a second one compares them, in batches.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::Value;

use super::replay::{args_fingerprint, Implied};

type Check = Result<(), String>;

/// Rows handed to the comparison at once.
const BATCH: usize = 512;
/// Batches read ahead of the comparison.
const AHEAD: usize = 8;

fn sql(e: rusqlite::Error) -> String {
    format!("cannot read the tables: {e}")
}

/// One row as read, with what could not be read kept to be named in its turn.
struct Row {
    id: String,
    agent: String,
    session: String,
    tool: String,
    effect: String,
    rule: Option<String>,
    reason: String,
    escalation: Option<String>,
    /// The arguments' fingerprint, or why they cannot be read.
    args: Result<String, String>,
    /// When it was submitted, or why that cannot be read.
    at: Result<String, String>,
    /// The grant it names, where the table has grants (from schema 4).
    grant: Option<Option<String>>,
}

pub(super) fn actions(conn: &Connection, implied: &Implied) -> Check {
    let (tx, rx) = sync_channel::<Vec<Row>>(AHEAD);
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
fn read_rows(conn: &Connection, mut send: impl FnMut(Vec<Row>) -> bool) -> Check {
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
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(row) = rows.next().map_err(sql)? {
        match read_row(row, whole, granted) {
            Ok(read) => batch.push(read),
            Err(problem) => {
                // The rows before it are compared first.
                send(batch);
                return Err(problem);
            }
        }
        if batch.len() == BATCH && !send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))) {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        send(batch);
    }
    Ok(())
}

/// One row, its arguments fingerprinted. `whole`: the arguments are in the stored call
/// (before schema 6); `granted`: the table names grants.
fn read_row(row: &rusqlite::Row<'_>, whole: bool, granted: bool) -> Result<Row, String> {
    let text = |i: usize| row.get::<_, String>(i).map_err(sql);
    let id = text(0)?;
    let effect = text(4)?;
    let rule = row.get(5).map_err(sql)?;
    let escalation = row.get(7).map_err(sql)?;
    let (agent, session, tool, reason) = (text(1)?, text(2)?, text(3)?, text(6)?);
    let stored = text(8)?;
    let args = if whole {
        serde_json::from_str::<Value>(&stored)
            .map_err(|e| format!("action {id}'s stored record cannot be read: {e}"))
            .map(|record| record.get("args").cloned().unwrap_or(Value::Null))
    } else {
        serde_json::from_str::<Value>(&stored)
            .map_err(|e| format!("action {id}'s stored arguments cannot be read: {e}"))
    };
    Ok(Row {
        agent,
        session,
        tool,
        effect,
        rule,
        reason,
        escalation,
        args: args.and_then(|a| args_fingerprint(&a)),
        at: text(9),
        grant: if granted {
            Some(row.get(10).map_err(sql)?)
        } else {
            None
        },
        id,
    })
}

/// Compares the rows with the log in order, up to the first that differs; returns how many
/// there were.
fn compare_rows(rx: Receiver<Vec<Row>>, implied: &Implied) -> Result<usize, String> {
    let mut seen = 0;
    for batch in rx {
        for row in batch {
            compare_row(&row, implied)?;
            seen += 1;
        }
    }
    Ok(seen)
}

fn compare_row(row: &Row, implied: &Implied) -> Check {
    let id = &row.id;
    let Some(log) = implied.actions.get(id) else {
        return Err(format!("action {id} is in the table but not in the log"));
    };
    if log.seen.swap(true, Ordering::Relaxed) {
        return Err(format!("action {id} is in the table twice"));
    }
    if row.effect != log.effect {
        return Err(format!(
            "action {id} is {} in the table but the log says {}",
            row.effect, log.effect
        ));
    }
    for (what, table, logged) in [
        ("agent", &row.agent, &log.agent),
        ("session", &row.session, &log.session),
        ("tool", &row.tool, &log.tool),
        ("reason", &row.reason, &log.reason),
    ] {
        if table != logged {
            return Err(format!(
                "action {id} has {what} {table:?} in the table but the log says {logged:?}"
            ));
        }
    }
    if row.rule != log.rule || row.escalation != log.escalation {
        return Err(format!(
            "action {id} has rule {:?} and escalation {:?} in the table but the log says {:?} and {:?}",
            row.rule, row.escalation, log.rule, log.escalation
        ));
    }
    if *row.args.as_ref()? != log.args {
        return Err(format!(
            "action {id}'s stored arguments differ from the log's"
        ));
    }
    if let Some(at) = log.submitted_at {
        let table_at = row.at.as_ref()?;
        if table_at.parse::<DateTime<Utc>>().ok() != Some(at) {
            return Err(format!(
                "action {id} was submitted at {table_at} in the table but the log says {}",
                at.to_rfc3339()
            ));
        }
    }
    if let Some(grant) = row.grant.as_ref().filter(|g| **g != log.grant) {
        return Err(format!(
            "action {id} names grant {grant:?} in the table but the log says {:?}",
            log.grant
        ));
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
