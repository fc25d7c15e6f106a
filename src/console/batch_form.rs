//! A batch decision as data: the marked escalations, each one's status, the one reason. (What
//! the keys do with it is `batch`'s.)

use crate::protocol::{Escalation, Vote};

use super::text_field::TextField;

#[derive(Debug, Clone, PartialEq)]
pub struct BatchDraft {
    pub vote: Vote,
    /// What a deny-all covers ("agent refund-bot"); `None` for a batch of marked rows.
    pub scope: Option<String>,
    pub items: Vec<BatchItem>,
    pub reason: TextField,
    pub scroll: u16,
    /// Once sent, the dialog shows each item's result and Enter or Esc closes it.
    pub sent: bool,
    /// Arguments arrived for an item since the last Enter: it must be read before signing.
    pub changed: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    pub escalation: Escalation,
    pub status: ItemStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemStatus {
    /// Will be signed and sent on confirm.
    Ready,
    /// I may not cast this vote on it: shown as such, never sent.
    NotYours(String),
    /// Resolved before it was sent: not sent.
    Gone(String),
    Sending(u64),
    Accepted(String),
    Refused(String),
}

impl BatchDraft {
    pub fn count(&self, pred: impl Fn(&ItemStatus) -> bool) -> usize {
        self.items.iter().filter(|i| pred(&i.status)).count()
    }
}
