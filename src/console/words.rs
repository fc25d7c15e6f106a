//! How the console names protocol states in its sentences (status line, notices, detail).

use crate::protocol::{EscalationState, FlagVerdict};

pub fn state_word(st: EscalationState) -> &'static str {
    match st {
        EscalationState::Pending => "pending",
        EscalationState::Approved => "approved",
        EscalationState::Denied => "denied",
        EscalationState::Expired => "expired",
        EscalationState::Cancelled => "cancelled",
    }
}

pub fn verdict_word(v: FlagVerdict) -> &'static str {
    match v {
        FlagVerdict::Acknowledge => "acknowledged",
        FlagVerdict::Incident => "an incident",
    }
}
