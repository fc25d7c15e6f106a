//! Standing grants in the log and in the `grants` table: each grant as created (signature used
//! once), its revocation, and every use — a use of a grant the log never created, or after its
//! revocation or expiry, or of an action the grant did not allow, is a named failure. Then the
//! table (and each action's `grant_id`) must be what the log says.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::event::{GrantCreated, GrantRevoked, GrantUsed};
use super::replay::{Implied, Replay};
use crate::protocol::{Grant, Timestamp};

#[derive(Debug)]
pub(super) struct ImpliedGrant {
    pub agent: String,
    pub tool: String,
    pub when: Option<String>,
    pub by: String,
    pub expires_at: Timestamp,
    /// (by, reason) once revoked.
    pub revoked: Option<(String, String)>,
    pub uses: u64,
}

pub(super) fn created(replay: &mut Replay, seq: u64, g: &GrantCreated) -> Result<(), String> {
    replay.use_signature(seq, "grant_created", &g.signature)?;
    let grant = ImpliedGrant {
        agent: g.agent.clone(),
        tool: g.tool.clone(),
        when: g.when.clone(),
        by: g.approver.clone(),
        expires_at: g.expires_at,
        revoked: None,
        uses: 0,
    };
    if replay
        .implied_mut()
        .grants
        .insert(g.grant.clone(), grant)
        .is_some()
    {
        return Err(format!("grant {} is created twice", g.grant));
    }
    Ok(())
}

pub(super) fn revoked(replay: &mut Replay, seq: u64, g: &GrantRevoked) -> Result<(), String> {
    replay.use_signature(seq, "grant_revoked", &g.signature)?;
    let grant = known(&mut replay.implied_mut().grants, &g.grant, "revokes")?;
    if grant.revoked.is_some() {
        return Err(format!("revokes grant {} a second time", g.grant));
    }
    grant.revoked = Some((g.revoker.clone(), g.reason.clone()));
    Ok(())
}

pub(super) fn used(replay: &mut Replay, g: &GrantUsed) -> Result<(), String> {
    let implied = replay.implied_mut();
    let Some(action) = implied.actions.get(&g.action) else {
        return Err(format!(
            "grant {} allowed action {}, which the log never recorded",
            g.grant, g.action
        ));
    };
    if action.grant.as_deref() != Some(g.grant.as_str()) || action.effect != "allow" {
        return Err(format!(
            "grant {} is used for action {}, which the log records as {} without that grant",
            g.grant, g.action, action.effect
        ));
    }
    let at = action.submitted_at;
    let grant = known(&mut implied.grants, &g.grant, "uses")?;
    if grant.revoked.is_some() {
        return Err(format!("uses grant {} after its revocation", g.grant));
    }
    let expired = at.is_some_and(|t| t >= grant.expires_at);
    if expired || grant.agent != g.agent || grant.by != g.by {
        return Err(format!(
            "uses grant {} for a call it does not cover (expired, another agent or signer)",
            g.grant
        ));
    }
    grant.uses += 1;
    Ok(())
}

fn known<'a>(
    grants: &'a mut BTreeMap<String, ImpliedGrant>,
    id: &str,
    what: &str,
) -> Result<&'a mut ImpliedGrant, String> {
    grants
        .get_mut(id)
        .ok_or_else(|| format!("{what} grant {id}, which the log never created"))
}

fn sql(e: rusqlite::Error) -> String {
    format!("cannot read the tables: {e}")
}

fn has(conn: &Connection, what: &str) -> Result<bool, String> {
    conn.query_row(what, [], |r| r.get::<_, i64>(0))
        .map(|n| n > 0)
        .map_err(sql)
}

/// The `grants` table against the log (each action's `grant_id` is checked with the action).
/// A data dir from before grants (verified before the server migrated it) has none.
pub(super) fn grants(conn: &Connection, implied: &Implied) -> Result<(), String> {
    if !has(
        conn,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'grants'",
    )? {
        return Ok(());
    }
    let mut stmt = conn
        .prepare("SELECT id, body, revoked_at, uses FROM grants ORDER BY id")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        let id: String = row.get(0).map_err(sql)?;
        let body: String = row.get(1).map_err(sql)?;
        let revoked_at: Option<String> = row.get(2).map_err(sql)?;
        let uses: i64 = row.get(3).map_err(sql)?;
        let Some(log) = implied.grants.get(&id) else {
            return Err(format!(
                "grant {id} is in the table but the log never created it"
            ));
        };
        seen += 1;
        let g: Grant = serde_json::from_str(&body)
            .map_err(|e| format!("grant {id}'s stored body cannot be read: {e}"))?;
        if g.id != id
            || g.agent != log.agent
            || g.tool != log.tool
            || g.when != log.when
            || g.by != log.by
            || g.expires_at != log.expires_at
        {
            return Err(format!(
                "grant {id} in the table (agent {}, tool {}, when {:?}, by {}, expires {}) is not the one the log created",
                g.agent, g.tool, g.when, g.by, g.expires_at
            ));
        }
        let table_revoked = g.revoked.as_ref().map(|r| (r.by.clone(), r.reason.clone()));
        if table_revoked != log.revoked || revoked_at.is_some() != log.revoked.is_some() {
            return Err(format!(
                "grant {id}'s revocation in the table differs from the log's ({:?})",
                log.revoked
            ));
        }
        if u64::try_from(uses).ok() != Some(log.uses) {
            return Err(format!(
                "grant {id} was used {uses} times in the table but {} times in the log",
                log.uses
            ));
        }
    }
    if seen < implied.grants.len() {
        return Err("a grant in the log is missing from the table".into());
    }
    Ok(())
}
