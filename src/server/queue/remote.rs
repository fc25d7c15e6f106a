//! Changes another replica made: an escalation is re-read from the store and this queue brought
//! in line with it (queued, updated or resolved here, and announced), as the change feed
//! reports each change (`server::replicas`) and whenever a fenced write finds the escalation
//! changed under it.

use chrono::Utc;

use super::{machine, Queue};
use crate::protocol::{EscalationState, ServerMessage};
use crate::server::audit::AuditEvent;
use crate::server::killswitch::kill_reason;
use crate::server::store::{self, Change, Op, StoreError};

impl Queue {
    /// Brings escalation `id` here in line with the store. A pending one that a kill switch
    /// covers is cancelled (the flip may have been made on a replica that had not queued it
    /// yet).
    pub async fn refresh(&self, id: &str) {
        // Under its turn, if it is queued here: a local change in flight is applied first, and
        // what is read is not older than what this replica last wrote.
        let turn = self.turn(id).await;
        let read_at = self.removals.mark();
        let key = id.to_string();
        let stored = match self
            .store
            .read(move |r| store::load_escalation(r, &key))
            .await
        {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(
                    "escalation {id} changed on another replica but cannot be re-read: {e}"
                );
                return;
            }
        };
        let (esc, plan) = stored;
        match turn {
            None if esc.state == EscalationState::Pending => {
                // Queued by another replica: queue it here too (its deadline armed, the
                // consoles told), unless it arrived meanwhile or was resolved here since the
                // read began (checked again as it is queued).
                if self.slots().contains_key(id) {
                    return;
                }
                let _ = self.admit(esc, plan, Some(read_at)).await;
            }
            None => {}
            Some(turn) if esc.state == EscalationState::Pending => {
                if turn.esc == esc {
                    return;
                }
                if esc.deadline != turn.esc.deadline {
                    self.deadlines.disarm(&esc.id, turn.esc.deadline);
                    self.deadlines.arm(&esc.id, esc.deadline);
                }
                if let Some(slot) = self.slots().get_mut(&esc.id) {
                    slot.esc = esc.clone();
                    slot.plan = plan;
                }
                drop(turn);
                let _ = self.bus.send(ServerMessage::EscalationUpdated {
                    escalation: Box::new(esc.clone()),
                });
                self.cancel_if_killed(&esc.id).await;
            }
            Some(turn) => {
                self.deadlines.disarm(&esc.id, turn.esc.deadline);
                self.remove(&esc);
                drop(turn);
                self.closed(&esc);
                let _ = self.bus.send(ServerMessage::EscalationResolved {
                    escalation: Box::new(esc),
                });
            }
        }
    }

    /// The turn of pending escalation `id`, queued here first if the store has it pending but
    /// this replica has not read its creation yet (a person on this replica acted on an
    /// escalation created on another a moment ago).
    pub(super) async fn turn_anywhere(&self, id: &str) -> Option<super::Turn<'_>> {
        if let Some(turn) = self.turn(id).await {
            return Some(turn);
        }
        self.refresh(id).await;
        self.turn(id).await
    }

    /// Cancels every escalation queued here that a kill switch now covers: the switch was
    /// flipped on another replica, which cancelled those it had queued itself.
    pub async fn cancel_killed(&self) {
        let ids: Vec<String> = self
            .slots()
            .values()
            .filter(|s| {
                self.kill
                    .covering(&s.esc.action.agent, &s.esc.action.tool)
                    .is_some()
            })
            .map(|s| s.esc.id.clone())
            .collect();
        for id in ids {
            self.refresh(&id).await;
            self.cancel_if_killed(&id).await;
        }
    }

    /// Cancels pending escalation `id` if a kill switch covers it.
    async fn cancel_if_killed(&self, id: &str) {
        let Some(turn) = self.turn(id).await else {
            return;
        };
        let a = &turn.esc.action;
        let Some(k) = self.kill.covering(&a.agent, &a.tool) else {
            return;
        };
        let Ok(cancelled) = machine::kill(&turn.esc, kill_reason(&k.scope, &k.reason), Utc::now())
        else {
            return;
        };
        let audit = vec![AuditEvent::escalation_resolved(&cancelled)];
        let op = Op::Escalation(Change::new(&turn.esc, cancelled.clone()));
        match self.store.write(op, audit).await {
            Ok(_) => {
                self.deadlines.disarm(id, turn.esc.deadline);
                self.remove(&cancelled);
                drop(turn);
                self.closed(&cancelled);
                let _ = self.bus.send(ServerMessage::EscalationResolved {
                    escalation: Box::new(cancelled),
                });
            }
            // Another replica changed it first; the change feed brings that change here.
            Err(StoreError::Conflict(_)) => {}
            // Still pending in the store: its deadline closes it, or the next flip.
            Err(e) => tracing::error!("escalation {id} under a kill switch not cancelled: {e}"),
        }
    }
}
