//! Standing grants: the registry the enforcement point consults, and the signed requests that
//! create and revoke grants (`create`, `revoke`).
//!
//! A grant is consulted only for a call the policy sends to review under a grantable,
//! single-approval rule (`Policy::grantable_review`), and covers it only when its signer could
//! approve that very call (`protocol::may_approve`, with the call's `on_behalf_of` and the
//! agent's owner): a grant stands for one approval, never for more. Expiry is judged at use.
//!
//! Concurrency: a call a grant covers holds the gate shared from the match until its use is
//! durable; a revocation holds it exclusively, so no call is allowed by a grant after its
//! revocation is acknowledged, and the log never shows a use after a revocation.

mod create;
mod revoke;

use std::collections::BTreeMap;
use std::sync::RwLock;

use tokio::sync::{broadcast, Mutex, RwLockReadGuard};

use super::policy::glob::NameGlob;
use super::policy::{EvalInput, GrantCondition, Policy, Review, Rule};
use super::roster::{Agent, Roster};
use super::signed::SignedBody;
use super::store::Store;
use crate::protocol::signing::Purpose;
use crate::protocol::{
    may_approve, ActionRecord, ApprovalTerms, Grant, PublicKey, ServerMessage, SignedGrant,
    SignedGrantRevoke, Timestamp,
};

impl SignedBody for SignedGrant {
    fn signer(&self) -> &str {
        &self.body.approver
    }
    fn signature(&self) -> &str {
        &self.signature
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::Grant, &self.body, &self.signature)
            .is_ok()
    }
}

impl SignedBody for SignedGrantRevoke {
    fn signer(&self) -> &str {
        &self.body.revoker
    }
    fn signature(&self) -> &str {
        &self.signature
    }
    fn verifies(&self, key: &PublicKey) -> bool {
        key.verify(Purpose::GrantRevoke, &self.body, &self.signature)
            .is_ok()
    }
}

/// A grant with its tool glob and condition compiled. A stored grant whose glob or condition no
/// longer compiles (a newer gavel wrote it) matches nothing.
struct Entry {
    grant: Grant,
    matcher: Option<(NameGlob, Option<GrantCondition>)>,
}

impl Entry {
    fn new(grant: Grant) -> Entry {
        let matcher = NameGlob::new(&grant.tool).ok().and_then(|tool| {
            match grant.when.as_deref().map(GrantCondition::compile) {
                None => Some((tool, None)),
                Some(Ok(c)) => Some((tool, Some(c))),
                Some(Err(_)) => None,
            }
        });
        Entry { grant, matcher }
    }

    fn covers(&self, input: &EvalInput<'_>) -> bool {
        let Some((tool, when)) = &self.matcher else {
            return false;
        };
        self.grant.agent == input.agent
            && tool.matches(input.tool)
            && when.as_ref().is_none_or(|c| c.holds(input))
    }
}

pub(crate) struct Grants {
    entries: RwLock<BTreeMap<String, Entry>>,
    gate: tokio::sync::RwLock<()>,
    /// Creations and revocations one at a time: the replay check holds until the write.
    writes: Mutex<()>,
    store: Store,
    bus: broadcast::Sender<ServerMessage>,
}

/// A grant that covers a call, with the rule whose review it replaces; `gate` keeps the grant
/// from being revoked until the call's use is written (drop it after).
pub(crate) struct Covered<'a, 'p> {
    pub grant: Grant,
    pub rule: &'p Rule,
    pub gate: RwLockReadGuard<'a, ()>,
}

impl Grants {
    pub fn new(grants: Vec<Grant>, store: Store, bus: broadcast::Sender<ServerMessage>) -> Self {
        Grants {
            entries: RwLock::new(
                grants
                    .into_iter()
                    .map(|g| (g.id.clone(), Entry::new(g)))
                    .collect(),
            ),
            gate: tokio::sync::RwLock::new(()),
            writes: Mutex::new(()),
            store,
            bus,
        }
    }

    /// Every grant (`all`) or the live ones at `now`, soonest to expire first.
    pub fn list(&self, all: bool, now: Timestamp) -> Vec<Grant> {
        let mut v: Vec<Grant> = self
            .read()
            .values()
            .map(|e| e.grant.clone())
            .filter(|g| all || g.is_live(now))
            .collect();
        v.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.id.cmp(&b.id)));
        v
    }

    /// The live grant that covers a call the policy sends to `review`, if any: the review is
    /// grantable, and the grant's agent, tool glob and condition match the call, and its signer
    /// may approve this very call now (role, group, not the requester, not a separated owner).
    pub async fn cover<'a, 'p>(
        &'a self,
        policy: &'p Policy,
        roster: &Roster,
        agent: &Agent,
        record: &ActionRecord,
        input: &EvalInput<'_>,
        review: &Review,
    ) -> Option<Covered<'a, 'p>> {
        let rule = policy.grantable_review(review)?;
        let gate = self.gate.read().await;
        let terms = ApprovalTerms {
            group: &review.spec.group,
            on_behalf_of: record.on_behalf_of.as_deref(),
            agent_owner: agent.owner.as_deref(),
            separate_owner: review.spec.separate_owner,
        };
        let now = record.submitted_at;
        let grant = self
            .read()
            .values()
            .filter(|e| e.grant.is_live(now) && e.covers(input))
            .filter(|e| {
                roster
                    .person(&e.grant.by)
                    .is_some_and(|p| may_approve(&terms, &p.info).is_ok())
            })
            .map(|e| e.grant.clone())
            .min_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.id.cmp(&b.id)))?;
        Some(Covered { grant, rule, gate })
    }

    /// Counts a use once it is durable, and tells the consoles.
    pub fn used(&self, id: &str, at: Timestamp) {
        let changed = {
            let mut entries = self.write();
            entries.get_mut(id).map(|e| {
                e.grant.uses += 1;
                e.grant.last_used_at = Some(at);
                e.grant.clone()
            })
        };
        if let Some(grant) = changed {
            self.announce(grant);
        }
    }

    /// Takes the grants as stored (another replica created, revoked or used one): each that
    /// differs from what this replica holds replaces it, and is announced.
    pub fn refresh(&self, stored: Vec<Grant>) {
        for grant in stored {
            if self.get(&grant.id).as_ref() != Some(&grant) {
                self.set(grant);
            }
        }
    }

    fn set(&self, grant: Grant) {
        self.write()
            .insert(grant.id.clone(), Entry::new(grant.clone()));
        self.announce(grant);
    }

    fn get(&self, id: &str) -> Option<Grant> {
        self.read().get(id).map(|e| e.grant.clone())
    }

    fn announce(&self, grant: Grant) {
        let _ = self.bus.send(ServerMessage::GrantChanged {
            grant: Box::new(grant),
        });
    }

    /// Entries change by single inserts and updates, so a panic elsewhere cannot leave the map
    /// half-changed: its poison is ignored.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// `grt_` and 20 random hex digits.
fn new_id() -> String {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("grt_{}", hex::encode(bytes))
}
