//! The popups over the views: the decision, review and kill switch dialogs with what has been
//! typed into them so far, and the notices that only need reading.

use crate::protocol::{Escalation, FlagVerdict, FlaggedAction, Vote};

pub use super::batch_form::BatchDraft;
pub use super::query_form::QueryForm;
pub use super::text_field::TextField;

/// A half-typed decision: what will be signed once the reason is in.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDraft {
    pub escalation: Escalation,
    pub vote: Vote,
    pub reason: TextField,
    pub error: Option<String>,
    /// "Also allow calls like this for a while": offered on approvals of grantable reviews.
    pub grant: Option<super::grant_form::GrantDraft>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlipDraft {
    pub scope: String,
    pub on: bool,
    pub reason: TextField,
    /// For the global switch: the word that must be typed before it goes on.
    pub confirm_word: Option<&'static str>,
    pub confirm: TextField,
    /// Which field the cursor is in: false = reason, true = confirmation word.
    pub in_confirm: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReviewDraft {
    pub flagged: FlaggedAction,
    pub verdict: FlagVerdict,
    pub note: TextField,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    Decision(DecisionDraft),
    Flip(FlipDraft),
    Review(ReviewDraft),
    /// Several escalations decided with one reason, each signed separately.
    Batch(BatchDraft),
    /// The filters of the Audit view or of a history search on the server.
    Query(QueryForm),
    /// Extend, snooze or reassign (`workflow`).
    Handling(super::handling::HandlingDraft),
    Revoke(super::grant_form::RevokeDraft),
    /// An operator's reset of an open breaker, with a reason.
    BreakerReset(super::budget_state::ResetDraft),
    /// Why the approve key did nothing.
    NotYours {
        escalation: String,
        why: String,
    },
    /// Something the person must read: a dialog they were typing in was closed under them.
    Notice {
        title: String,
        text: String,
    },
    Help,
}

impl Dialog {
    /// A popup to read and dismiss (Esc or Enter), with no text field: keys typed ahead into it
    /// are swallowed, never applied to what lies beneath.
    pub fn is_notice(&self) -> bool {
        matches!(
            self,
            Dialog::NotYours { .. } | Dialog::Notice { .. } | Dialog::Help
        )
    }
}
