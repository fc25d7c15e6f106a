//! Replays the audit log into the state it implies: which actions were recorded with what
//! effect, each escalation's decisions, hand-overs and final state, kill switches, flagged
//! actions and their reviews, and the signatures used once. [`super::tables`] compares it with
//! the state tables.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::Connection;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::event::{ActionTaken, AuditEvent};
use super::jcs;
use super::VerifyError;

mod handling;

#[derive(Debug, Default)]
pub(super) struct Implied {
    /// By id; a hash map, as a log holds mostly actions (where order matters, sort the ids).
    pub actions: HashMap<String, ImpliedAction>,
    pub escalations: BTreeMap<String, ImpliedEscalation>,
    pub killswitches: BTreeMap<String, ImpliedSwitch>,
    /// Flagged actions, with their review once one is recorded.
    pub flagged: BTreeMap<String, Option<ImpliedReview>>,
    /// Signature → the record that used it.
    pub used_signatures: BTreeMap<String, u64>,
    /// (agent, `Idempotency-Key`, action) as the log names them: an action's own key, or a
    /// retry's key answered with an earlier action.
    pub keys: HashSet<(String, String, String)>,
    /// Standing grants: as created, revoked, and how often used.
    pub grants: BTreeMap<String, super::grant_table::ImpliedGrant>,
    /// The latest `actions_pruned` horizon: rows of allowed and denied calls submitted before
    /// it may be gone from the actions table.
    pub pruned_before: Option<crate::protocol::Timestamp>,
}

#[derive(Debug)]
pub(super) struct ImpliedAction {
    pub agent: String,
    pub session: String,
    pub tool: String,
    pub effect: String,
    pub rule: Option<String>,
    pub reason: String,
    pub escalation: Option<String>,
    /// Fingerprint of the call's arguments, see [`args_fingerprint`].
    pub args: Fingerprint,
    pub submitted_at: Option<crate::protocol::Timestamp>,
    /// The standing grant that allowed it.
    pub grant: Option<String>,
    /// Whether the actions table's pass met its row.
    pub seen: std::sync::atomic::AtomicBool,
}

impl ImpliedAction {
    /// Whether its row may have been pruned by `before`: an allowed or denied call that raised
    /// no escalation, submitted before it (a record too old to say when it was submitted keeps
    /// its row).
    pub fn prunable(&self, before: Option<crate::protocol::Timestamp>) -> bool {
        let (Some(before), Some(at)) = (before, self.submitted_at) else {
            return false;
        };
        (self.effect == "allow" || self.effect == "deny")
            && self.escalation.is_none()
            && at < before
    }
}

#[derive(Debug)]
pub(super) struct ImpliedEscalation {
    pub action: String,
    pub digest: String,
    pub group: String,
    pub approvals_required: u64,
    pub deadline: String,
    pub handed_over: bool,
    /// How far approvers moved the deadline (`extended` records).
    pub extended_secs: u64,
    /// The table's state name: pending, approved, denied, expired, cancelled or unreadable.
    pub state: String,
    pub decisions: Vec<ImpliedDecision>,
}

#[derive(Debug, PartialEq)]
pub(super) struct ImpliedDecision {
    pub approver: String,
    pub verdict: Value,
    pub reason: String,
    pub digest: String,
    pub issued_at: String,
    pub signature: String,
}

#[derive(Debug)]
pub(super) struct ImpliedSwitch {
    pub on: bool,
    pub reason: String,
    pub by: String,
}

#[derive(Debug, PartialEq)]
pub(super) struct ImpliedReview {
    pub reviewer: String,
    pub review: Value,
    pub note: String,
    pub signature: String,
}

/// SHA-256 over the canonical JSON of a call's arguments, so the verifier keeps 32 bytes per
/// action instead of the arguments themselves.
pub(super) type Fingerprint = [u8; 32];

/// The fingerprint of `args`.
pub(super) fn args_fingerprint(args: &Value) -> Result<Fingerprint, String> {
    let mut bytes = Vec::with_capacity(128);
    jcs::write_value(args, &mut bytes).map_err(|e| e.to_string())?;
    Ok(Sha256::digest(&bytes).into())
}

/// The fingerprint of the arguments `text` holds, straight from the text where it is canonical
/// JSON (as the server writes it); `None` where it is not, to be parsed.
pub(super) fn text_fingerprint(text: &str) -> Option<Fingerprint> {
    jcs::is_canonical(text).then(|| Sha256::digest(text.as_bytes()).into())
}

#[derive(Default)]
pub(super) struct Replay {
    implied: Implied,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

impl Replay {
    /// A replay with room for `records` actions and keys.
    pub fn with_capacity(records: usize) -> Replay {
        let mut replay = Replay::default();
        replay.implied.actions.reserve(records);
        replay.implied.keys.reserve(records);
        replay
    }

    pub(super) fn implied_mut(&mut self) -> &mut Implied {
        &mut self.implied
    }

    pub fn finish(self) -> Implied {
        self.implied
    }

    fn escalation(&mut self, kind: &str, id: &str) -> Result<&mut ImpliedEscalation, String> {
        self.implied.escalations.get_mut(id).ok_or_else(|| {
            format!("a `{kind}` record for escalation {id}, which the log never created")
        })
    }

    pub(super) fn use_signature(
        &mut self,
        seq: u64,
        kind: &str,
        signature: &str,
    ) -> Result<(), String> {
        if let Some(first) = self
            .implied
            .used_signatures
            .insert(signature.to_string(), seq)
        {
            return Err(format!(
                "a `{kind}` record reuses the signature record {first} used"
            ));
        }
        Ok(())
    }

    /// Applies one record, in chain order.
    pub fn record(&mut self, seq: u64, event: AuditEvent) -> Result<(), String> {
        let kind = event.kind();
        if self.handling(seq, &event)? {
            return Ok(());
        }
        match event {
            AuditEvent::Extended(_)
            | AuditEvent::Claimed(_)
            | AuditEvent::Unclaimed(_)
            | AuditEvent::Snoozed(_)
            | AuditEvent::Reassigned(_) => Ok(()),
            AuditEvent::ServerStart(_) | AuditEvent::Refused(_) | AuditEvent::Refusals(_) => Ok(()),
            AuditEvent::ActionsPruned(p) => {
                let latest = self.implied.pruned_before.get_or_insert(p.before);
                *latest = (*latest).max(p.before);
                Ok(())
            }
            // Governance records change no state table the log implies: the limit's use is
            // rebuilt from the calls, and a reported cost changes only `actions.cost`.
            AuditEvent::LimitExceeded(_) | AuditEvent::GraceGranted(_) => Ok(()),
            AuditEvent::CostReported(c) => {
                if self.implied.actions.contains_key(&c.action) {
                    Ok(())
                } else {
                    Err(format!(
                        "a `{kind}` record for action {}, which the log never recorded",
                        c.action
                    ))
                }
            }
            // Breaker state lives in memory, rebuilt from these records; no table to compare.
            AuditEvent::BreakerTripped(_) | AuditEvent::BreakerClosed(_) => Ok(()),
            AuditEvent::BreakerReset(b) => self.use_signature(seq, kind, &b.signature),
            AuditEvent::Action(a) => self.action(*a),
            AuditEvent::EscalationCreated(e) => {
                let id = e.escalation.clone();
                let a = self.implied.actions.get_mut(&e.action).ok_or_else(|| {
                    format!(
                        "escalation {id} is created for action {}, which the log never recorded",
                        e.action
                    )
                })?;
                a.escalation = Some(id.clone());
                let esc = ImpliedEscalation {
                    action: e.action.clone(),
                    digest: e.digest.clone(),
                    group: e.group.clone(),
                    approvals_required: u64::from(e.approvals_required),
                    deadline: e.deadline.to_rfc3339(),
                    handed_over: false,
                    extended_secs: 0,
                    state: "pending".into(),
                    decisions: Vec::new(),
                };
                if self.implied.escalations.insert(id.clone(), esc).is_some() {
                    return Err(format!("escalation {id} is created twice"));
                }
                Ok(())
            }
            AuditEvent::Decision(d) => {
                let decision = ImpliedDecision {
                    approver: d.approver.clone(),
                    verdict: to_json(&d.verdict)?,
                    reason: d.reason.clone(),
                    digest: d.digest.clone(),
                    issued_at: d.issued_at.clone(),
                    signature: d.signature.clone(),
                };
                self.escalation(kind, &d.escalation)?
                    .decisions
                    .push(decision);
                Ok(())
            }
            AuditEvent::EscalationHandedOver(h) => {
                let esc = self.escalation(kind, &h.escalation)?;
                esc.group = h.to.clone();
                esc.deadline = h.deadline.to_rfc3339();
                esc.handed_over = true;
                Ok(())
            }
            AuditEvent::EscalationResolved(r) => {
                let resolution = match r.resolution {
                    Some(res) => to_json(&res)?
                        .as_str()
                        .map(str::to_string)
                        .ok_or("a resolution that is not text")?,
                    None => {
                        return Err(format!(
                            "resolves escalation {} without a resolution",
                            r.escalation
                        ))
                    }
                };
                let esc = self.escalation(kind, &r.escalation)?;
                if esc.state != "pending" {
                    return Err(format!(
                        "resolves an escalation the log already closed as {}",
                        esc.state
                    ));
                }
                esc.state = resolution;
                Ok(())
            }
            AuditEvent::EscalationUnreadable(u) => {
                self.escalation(kind, &u.escalation)?.state = "unreadable".into();
                Ok(())
            }
            AuditEvent::Withdrawn(w) => self.escalation(kind, &w.escalation).map(|_| ()),
            AuditEvent::Retried(r) => {
                let Some(a) = self.implied.actions.get(&r.action) else {
                    return Err(format!(
                        "a retry answered with action {}, which the log never recorded",
                        r.action
                    ));
                };
                if let Some(key) = &r.idempotency_key {
                    let named = (r.agent.clone(), key.clone(), r.action.clone());
                    self.implied.keys.insert(named);
                }
                if a.agent != r.agent {
                    return Err(format!(
                        "a retry by {} answered with action {} of {}",
                        r.agent, r.action, a.agent
                    ));
                }
                match &r.escalation {
                    Some(e) => self.escalation(kind, e).map(|_| ()),
                    None => Ok(()),
                }
            }
            AuditEvent::Killswitch(k) => {
                self.use_signature(seq, kind, &k.signature)?;
                let switch = ImpliedSwitch {
                    on: k.on,
                    reason: k.reason.clone(),
                    by: k.operator.clone(),
                };
                self.implied.killswitches.insert(k.scope.clone(), switch);
                Ok(())
            }
            AuditEvent::GrantCreated(g) => super::grant_table::created(self, seq, &g),
            AuditEvent::GrantRevoked(g) => super::grant_table::revoked(self, seq, &g),
            AuditEvent::GrantUsed(g) => super::grant_table::used(self, &g),
            AuditEvent::FlagReview(f) => {
                self.use_signature(seq, kind, &f.signature)?;
                let review = ImpliedReview {
                    reviewer: f.reviewer.clone(),
                    review: to_json(&f.review)?,
                    note: f.note.clone(),
                    signature: f.signature.clone(),
                };
                let action = &f.action;
                let slot = self.implied.flagged.get_mut(action).ok_or_else(|| {
                    format!("reviews action {action}, which the log never flagged")
                })?;
                if slot.is_some() {
                    return Err(format!("reviews action {action} a second time"));
                }
                *slot = Some(review);
                Ok(())
            }
        }
    }

    fn action(&mut self, a: ActionTaken) -> Result<(), String> {
        let args = args_fingerprint(&a.args)?;
        let id = a.action;
        let action = ImpliedAction {
            effect: a.effect.as_str().to_string(),
            session: a.session,
            tool: a.tool,
            rule: a.rule,
            reason: a.reason,
            escalation: None,
            args,
            submitted_at: a.submitted_at,
            grant: a.grant,
            agent: a.agent,
            seen: Default::default(),
        };
        if let Some(key) = a.idempotency_key {
            let named = (action.agent.clone(), key, id.clone());
            self.implied.keys.insert(named);
        }
        if action.effect == "flag" {
            self.implied.flagged.insert(id.clone(), None);
        }
        match self.implied.actions.entry(id) {
            Entry::Occupied(e) => Err(format!("action {} is recorded twice", e.key())),
            Entry::Vacant(e) => {
                e.insert(action);
                Ok(())
            }
        }
    }
}

/// Whether the audit table stores the typed columns queries filter on, which may then have
/// been edited apart from the body: schemas 2 to 6 (an older data dir is verified before the
/// server has migrated it; from schema 7 they are computed from the body, never stored).
pub(super) fn has_index_columns(conn: &Connection) -> Result<bool, rusqlite::Error> {
    has_column(conn, "tool")
}

/// Whether the audit table stores `column` (computed columns are not listed).
pub(super) fn has_column(conn: &Connection, column: &str) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('audit') WHERE name = ?1",
        [column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The typed columns of one stored record.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct StoredIndex {
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub action: Option<String>,
    pub escalation: Option<String>,
    pub verdict: Option<String>,
}

impl StoredIndex {
    fn of(event: &AuditEvent) -> StoredIndex {
        let i = event.index();
        let own = |v: Option<&str>| v.map(str::to_string);
        StoredIndex {
            agent: own(i.agent),
            tool: own(i.tool),
            action: own(i.action),
            escalation: own(i.escalation),
            verdict: own(i.verdict),
        }
    }
}

/// Checks a chained record's typed columns against its event (or the reason its body is no
/// event) and replays it.
pub(super) fn replay_record(
    replay: &mut Replay,
    seq: u64,
    event: Result<AuditEvent, super::EventError>,
    index: Option<&StoredIndex>,
) -> Result<(), VerifyError> {
    let event = event.map_err(|problem| VerifyError::BadEvent { seq, problem })?;
    let bad = |problem: String| VerifyError::BadRecord { seq, problem };
    if let Some(stored) = index {
        let derived = StoredIndex::of(&event);
        if *stored != derived {
            return Err(bad(format!(
                "its index columns {stored:?} differ from its body's {derived:?}: they were edited"
            )));
        }
    }
    replay.record(seq, event).map_err(bad)
}
