//! The approver's workflow as data: the extend, snooze and reassign dialogs' drafts and the
//! signed changes the console asks for. A leaf: the dialogs, commands and `workflow` (which
//! changes state with them) all read these, and these read only the protocol.

use crate::protocol::{Escalation, Timestamp};

use super::text_field::TextField;

/// What the extend dialog offers first.
pub const EXTEND_DEFAULT: &str = "5m";

/// The snooze dialog's choices: 15 minutes, an hour, or until shortly before the deadline (the
/// server brings every snooze forward to that anyway).
pub const SNOOZE_CHOICES: [&str; 3] = ["15 minutes", "1 hour", "until shortly before the deadline"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlingKind {
    Extend,
    Snooze,
    Reassign,
}

/// A half-filled extend, snooze or reassign dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlingDraft {
    pub escalation: Escalation,
    pub kind: HandlingKind,
    /// Extend: how much, as a duration (`5m`).
    pub by: TextField,
    pub reason: TextField,
    /// Extend: the cursor is in the reason (where it starts; Tab switches).
    pub in_reason: bool,
    /// Snooze: the index into [`SNOOZE_CHOICES`].
    pub choice: usize,
    pub error: Option<String>,
}

/// A signed change the console asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlingCall {
    Extend { by_secs: u64, reason: String },
    Claim { claim: bool },
    Snooze { until: Timestamp },
    Reassign { reason: String },
}

impl HandlingCall {
    pub fn what(&self) -> &'static str {
        match self {
            HandlingCall::Extend { .. } => "extension",
            HandlingCall::Claim { claim: true } => "claim",
            HandlingCall::Claim { claim: false } => "release",
            HandlingCall::Snooze { .. } => "snooze",
            HandlingCall::Reassign { .. } => "reassign",
        }
    }
}
