//! A kill-switch flip: recorded together with the cancellation of every pending escalation it
//! covers, in one write, while no other change to the queue is in flight.

use chrono::Utc;

use super::{machine, write_failed, Queue, CONFLICT_TRIES};
use crate::protocol::{FlipAck, KillSwitch, Scope, ServerMessage, SignedKillSwitch};
use crate::server::audit::AuditEvent;
use crate::server::error::ApiError;
use crate::server::killswitch::{check_flip, kill_reason};
use crate::server::roster::Roster;
use crate::server::signed::{check_fresh_signature, check_signed_time, Verified};
use crate::server::store::{Change, Op, StoreError};

impl Queue {
    /// Flips a kill switch; answers with the switch and the escalations it cancelled.
    pub async fn flip(
        &self,
        roster: &Roster,
        flip: Verified<SignedKillSwitch>,
    ) -> Result<FlipAck, ApiError> {
        let Verified {
            body: f,
            signer: operator,
        } = flip;
        check_signed_time("issued_at", &f.body.issued_at, Utc::now())?;
        let scope = check_flip(roster, &self.kill, &operator, &f.body)?;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.flip_once(&f, &scope).await {
                // An escalation it cancels changed on another replica meanwhile: take that
                // change and decide again.
                Err(StoreError::Conflict(id)) if tries < CONFLICT_TRIES => self.refresh(&id).await,
                Err(e) => return Err(write_failed(e)),
                Ok(ack) => return ack,
            }
        }
    }

    /// One attempt at the flip: `Err` only when the write failed.
    async fn flip_once(
        &self,
        f: &SignedKillSwitch,
        scope: &Scope,
    ) -> Result<Result<FlipAck, ApiError>, StoreError> {
        // Exclusive: no vote, deadline or queued escalation is in flight while this decides
        // what it cancels, and the replay check serialises with the write that records it.
        let _gate = self.gate.write().await;
        if let Err(e) = check_fresh_signature(&self.store, &f.signature).await {
            return Ok(Err(e));
        }
        let now = Utc::now();
        let switch = KillSwitch {
            scope: scope.to_string(),
            on: f.body.on,
            reason: f.body.reason.clone(),
            by: f.body.operator.clone(),
            at: now,
        };
        let mut audit = vec![AuditEvent::killswitch(&switch, f)];
        let mut cancelled = Vec::new();
        if switch.on {
            let why = kill_reason(&switch.scope, &switch.reason);
            for slot in self.slots().values() {
                if scope.covers(&slot.esc.action.agent, &slot.esc.action.tool) {
                    if let Ok(esc) = machine::kill(&slot.esc, why.clone(), now) {
                        audit.push(AuditEvent::escalation_resolved(&esc));
                        cancelled.push(*Change::new(&slot.esc, esc));
                    }
                }
            }
        }
        let op = Op::KillSwitch {
            switch: switch.clone(),
            signature: f.signature.clone(),
            cancelled: cancelled.clone(),
        };
        self.store.write(op, audit).await?;
        self.kill.set(switch.clone());
        let _ = self.bus.send(ServerMessage::KillSwitchChanged {
            killswitch: switch.clone(),
        });
        let mut ids = Vec::with_capacity(cancelled.len());
        for Change {
            escalation: esc, ..
        } in cancelled
        {
            self.deadlines.disarm(&esc.id, esc.deadline);
            self.remove(&esc);
            self.closed(&esc);
            ids.push(esc.id.clone());
            let _ = self.bus.send(ServerMessage::EscalationResolved {
                escalation: Box::new(esc),
            });
        }
        Ok(Ok(FlipAck {
            killswitch: switch,
            cancelled: ids,
        }))
    }
}
