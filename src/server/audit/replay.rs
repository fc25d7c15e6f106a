//! Replays the audit log into the state it implies: which actions were recorded with what
//! effect, each escalation's decisions, hand-overs and final state, kill switches, flagged
//! actions and their reviews, and the signatures used once. [`super::tables`] compares it with
//! the state tables.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::protocol::canonical::{canonical_bytes, sha256_hex};

#[derive(Debug, Default)]
pub(super) struct Implied {
    pub actions: BTreeMap<String, ImpliedAction>,
    pub escalations: BTreeMap<String, ImpliedEscalation>,
    pub killswitches: BTreeMap<String, ImpliedSwitch>,
    /// Flagged actions, with their review once one is recorded.
    pub flagged: BTreeMap<String, Option<ImpliedReview>>,
    /// Signature → the record that used it.
    pub used_signatures: BTreeMap<String, u64>,
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
    /// Fingerprint of what the agent sent (args, context, …), see [`call_fingerprint`].
    pub call: String,
    pub submitted_at: Option<String>,
}

#[derive(Debug)]
pub(super) struct ImpliedEscalation {
    pub action: String,
    pub digest: String,
    pub group: String,
    pub approvals_required: u64,
    pub deadline: String,
    pub handed_over: bool,
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

/// SHA-256 over the canonical JSON of the call's content, so the verifier keeps 64 bytes per
/// action instead of its arguments.
pub(super) fn call_fingerprint(
    args: &Value,
    on_behalf_of: &Value,
    rationale: &Value,
    cost: &Value,
    parent: &Value,
    context: &Value,
    policy_version: &Value,
) -> Result<String, String> {
    let call = json!({
        "args": args, "on_behalf_of": on_behalf_of, "rationale": rationale, "cost": cost,
        "parent": parent, "context": context, "policy_version": policy_version,
    });
    canonical_bytes(&call)
        .map(|b| sha256_hex(&b))
        .map_err(|e| e.to_string())
}

#[derive(Default)]
pub(super) struct Replay {
    implied: Implied,
}

fn text(body: &Value, kind: &str, field: &str) -> Result<String, String> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("a `{kind}` record without `{field}`"))
}

fn optional_text(body: &Value, kind: &str, field: &str) -> Result<Option<String>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("a `{kind}` record whose `{field}` is not text")),
    }
}

fn field<'a>(body: &'a Value, kind: &str, field: &str) -> Result<&'a Value, String> {
    body.get(field)
        .ok_or_else(|| format!("a `{kind}` record without `{field}`"))
}

impl Replay {
    pub fn finish(self) -> Implied {
        self.implied
    }

    fn escalation(&mut self, kind: &str, body: &Value) -> Result<&mut ImpliedEscalation, String> {
        let id = text(body, kind, "escalation")?;
        self.implied.escalations.get_mut(&id).ok_or_else(|| {
            format!("a `{kind}` record for escalation {id}, which the log never created")
        })
    }

    fn use_signature(&mut self, seq: u64, kind: &str, body: &Value) -> Result<(), String> {
        let signature = text(body, kind, "signature")?;
        if let Some(first) = self.implied.used_signatures.insert(signature, seq) {
            return Err(format!(
                "a `{kind}` record reuses the signature record {first} used"
            ));
        }
        Ok(())
    }

    /// Applies one record, in chain order. A record of an unknown kind is an error: the
    /// verifier cannot tell what it changed.
    pub fn record(
        &mut self,
        seq: u64,
        kind: &str,
        _actor: &str,
        body: &Value,
    ) -> Result<(), String> {
        match kind {
            "server_start" | "refused" | "refusals" => Ok(()),
            "action" => self.action(body),
            "escalation_created" => {
                let id = text(body, kind, "escalation")?;
                let action = text(body, kind, "action")?;
                let a = self.implied.actions.get_mut(&action).ok_or_else(|| {
                    format!("escalation {id} is created for action {action}, which the log never recorded")
                })?;
                a.escalation = Some(id.clone());
                let esc = ImpliedEscalation {
                    action,
                    digest: text(body, kind, "digest")?,
                    group: text(body, kind, "group")?,
                    approvals_required: field(body, kind, "approvals_required")?
                        .as_u64()
                        .ok_or("an `escalation_created` record whose approvals_required is not a count")?,
                    deadline: text(body, kind, "deadline")?,
                    handed_over: false,
                    state: "pending".into(),
                    decisions: Vec::new(),
                };
                if self.implied.escalations.insert(id.clone(), esc).is_some() {
                    return Err(format!("escalation {id} is created twice"));
                }
                Ok(())
            }
            "decision" => {
                let decision = ImpliedDecision {
                    approver: text(body, kind, "approver")?,
                    verdict: field(body, kind, "verdict")?.clone(),
                    reason: text(body, kind, "reason")?,
                    digest: text(body, kind, "digest")?,
                    issued_at: text(body, kind, "issued_at")?,
                    signature: text(body, kind, "signature")?,
                };
                self.escalation(kind, body)?.decisions.push(decision);
                Ok(())
            }
            "escalation_handed_over" => {
                let to = text(body, kind, "to")?;
                let deadline = text(body, kind, "deadline")?;
                let esc = self.escalation(kind, body)?;
                esc.group = to;
                esc.deadline = deadline;
                esc.handed_over = true;
                Ok(())
            }
            "escalation_resolved" => {
                let resolution = text(body, kind, "resolution")?;
                let esc = self.escalation(kind, body)?;
                if esc.state != "pending" {
                    return Err(format!(
                        "resolves an escalation the log already closed as {}",
                        esc.state
                    ));
                }
                esc.state = resolution;
                Ok(())
            }
            "escalation_unreadable" => {
                self.escalation(kind, body)?.state = "unreadable".into();
                Ok(())
            }
            "withdrawn" => self.escalation(kind, body).map(|_| ()),
            "killswitch" => {
                self.use_signature(seq, kind, body)?;
                let scope = text(body, kind, "scope")?;
                let switch = ImpliedSwitch {
                    on: field(body, kind, "on")?
                        .as_bool()
                        .ok_or("a `killswitch` record whose `on` is not true or false")?,
                    reason: text(body, kind, "reason")?,
                    by: text(body, kind, "operator")?,
                };
                self.implied.killswitches.insert(scope, switch);
                Ok(())
            }
            "flag_review" => {
                self.use_signature(seq, kind, body)?;
                let action = text(body, kind, "action")?;
                let review = ImpliedReview {
                    reviewer: text(body, kind, "reviewer")?,
                    review: field(body, kind, "review")?.clone(),
                    note: text(body, kind, "note")?,
                    signature: text(body, kind, "signature")?,
                };
                let slot = self.implied.flagged.get_mut(&action).ok_or_else(|| {
                    format!("reviews action {action}, which the log never flagged")
                })?;
                if slot.is_some() {
                    return Err(format!("reviews action {action} a second time"));
                }
                *slot = Some(review);
                Ok(())
            }
            other => Err(format!(
                "kind `{other}` is not one this verifier knows, so the state it implies cannot be checked"
            )),
        }
    }

    fn action(&mut self, body: &Value) -> Result<(), String> {
        let kind = "action";
        let id = text(body, kind, "action")?;
        let null = Value::Null;
        let get = |f: &str| body.get(f).unwrap_or(&null);
        let action = ImpliedAction {
            agent: text(body, kind, "agent")?,
            session: text(body, kind, "session")?,
            tool: text(body, kind, "tool")?,
            effect: text(body, kind, "effect")?,
            rule: optional_text(body, kind, "rule")?,
            reason: text(body, kind, "reason")?,
            escalation: None,
            call: call_fingerprint(
                get("args"),
                get("on_behalf_of"),
                get("rationale"),
                get("cost"),
                get("parent"),
                get("context"),
                get("policy_version"),
            )?,
            submitted_at: optional_text(body, kind, "submitted_at")?,
        };
        if action.effect == "flag" {
            self.implied.flagged.insert(id.clone(), None);
        }
        if self.implied.actions.insert(id.clone(), action).is_some() {
            return Err(format!("action {id} is recorded twice"));
        }
        Ok(())
    }
}
