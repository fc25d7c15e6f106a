//! Replaying the approver's workflow records: a moved deadline and the total moved, a reassign
//! (group, deadline, handed over), and every signature they used. Claims and snoozes change
//! nothing the state tables are checked for (they are advisory, and lapse with time), but their
//! escalation must exist and their signatures are used once.

use super::Replay;
use crate::server::audit::event::AuditEvent;

impl Replay {
    /// Applies one workflow record; `false` if `event` is not one.
    pub(super) fn handling(&mut self, seq: u64, event: &AuditEvent) -> Result<bool, String> {
        let kind = event.kind();
        let (escalation, signature) = match event {
            AuditEvent::Extended(e) => (&e.escalation, &e.signature),
            AuditEvent::Claimed(c) | AuditEvent::Unclaimed(c) => (&c.escalation, &c.signature),
            AuditEvent::Snoozed(s) => (&s.escalation, &s.signature),
            AuditEvent::Reassigned(r) => (&r.escalation, &r.signature),
            _ => return Ok(false),
        };
        self.use_signature(seq, kind, signature)?;
        let esc = self.escalation(kind, escalation)?;
        if esc.state != "pending" {
            return Err(format!(
                "a `{kind}` record for escalation {escalation}, which the log already closed as {}",
                esc.state
            ));
        }
        match event {
            AuditEvent::Extended(e) => {
                esc.extended_secs += e.by_secs;
                if esc.extended_secs != e.extended_secs {
                    return Err(format!(
                        "escalation {escalation} is extended to {}s in total, but its records add up to {}s",
                        e.extended_secs, esc.extended_secs
                    ));
                }
                esc.deadline = e.deadline.to_rfc3339();
            }
            AuditEvent::Reassigned(r) => {
                if esc.handed_over {
                    return Err(format!(
                        "escalation {escalation} is reassigned after it was handed over"
                    ));
                }
                esc.group = r.to.clone();
                esc.deadline = r.deadline.to_rfc3339();
                esc.handed_over = true;
            }
            _ => {}
        }
        Ok(true)
    }
}
