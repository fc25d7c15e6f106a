//! At start: the pending escalations come back from the store. Those whose deadline passed
//! while the server was down are denied as expired; the rest are queued with their original
//! deadlines.

use chrono::Utc;

use super::{machine, Queue};
use crate::protocol::ServerMessage;
use crate::server::audit::AuditEvent;
use crate::server::store::{self, Change, Op, StoreError};

impl Queue {
    pub async fn restore(&self) -> Result<(), StoreError> {
        let pending = self.store.read(store::pending_escalations).await?;
        let now = Utc::now();
        for (esc, plan) in pending {
            match machine::expired_while_down(&esc, now) {
                Some(expired) => {
                    let audit = vec![AuditEvent::escalation_resolved(&expired)];
                    let op = Op::Escalation(Change::new(&esc, expired.clone()));
                    match self.store.write(op, audit).await {
                        Ok(_) => {}
                        // Another replica changed it since it was read: take its state.
                        Err(StoreError::Conflict(_)) => {
                            self.refresh(&esc.id).await;
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                    self.closed(&expired);
                    let _ = self.bus.send(ServerMessage::EscalationResolved {
                        escalation: Box::new(expired),
                    });
                }
                None => {
                    self.insert(esc, plan, None);
                }
            }
        }
        Ok(())
    }
}
