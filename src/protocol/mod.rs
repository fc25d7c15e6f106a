//! The wire protocol and its cryptography, shared by the server, the console, the CLI and the
//! adapters. Depends on nothing else of gavel's: a third-party client can be written from this
//! module and `docs/PROTOCOL.md` alone.

pub mod canonical;
pub mod duties;
pub mod figures;
pub mod governance;
pub mod grants;
pub mod handling;
pub mod history;
pub mod sanitize;
pub mod signing;
pub mod stream;
pub mod submission;
pub mod wait_budget;
pub mod wire;

pub use canonical::{action_digest, DigestInput};
pub use duties::{may_approve, may_decide, ApprovalTerms, NotYours};
pub use figures::*;
pub use governance::*;
pub use grants::*;
pub use handling::*;
pub use history::HistoryPage;
pub use sanitize::{inert, inert_json_pretty, inert_multiline};
pub use signing::{KeyError, PersonKey, PublicKey, SignatureError};
pub use stream::*;
pub use submission::*;
pub use wait_budget::{agent_deadline, budget_secs, MAX_WAIT_BUDGET_SECS};
pub use wire::*;
