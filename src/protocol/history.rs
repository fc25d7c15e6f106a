//! `GET /v1/history`: resolved escalations searched on the server, page by page, so a search
//! covers all history and not only what a console's snapshot carried.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Escalation;

/// One page of a history search, newest resolution first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct HistoryPage {
    pub escalations: Vec<Escalation>,
    /// Pass as `before` for the next page; absent when this page is the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
