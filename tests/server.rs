//! End-to-end tests of the escalation server: real server on a loopback port, real HTTP and
//! WebSocket, real SQLite, real signatures.

mod common;

#[path = "server/agent_side.rs"]
mod agent_side;
#[path = "server/anchors.rs"]
mod anchors;
#[path = "server/audit.rs"]
mod audit;
#[path = "server/audit_long.rs"]
mod audit_long;
#[path = "server/audit_state.rs"]
mod audit_state;
#[path = "server/breakers.rs"]
mod breakers;
#[path = "server/budgets.rs"]
mod budgets;
#[path = "server/config.rs"]
mod config;
#[path = "server/deadlines.rs"]
mod deadlines;
#[path = "server/decisions.rs"]
mod decisions;
#[path = "server/figures.rs"]
mod figures;
#[path = "server/grants.rs"]
mod grants;
#[path = "server/handling.rs"]
mod handling;
#[path = "server/idempotency.rs"]
mod idempotency;
#[path = "server/input.rs"]
mod input;
#[path = "server/killswitch.rs"]
mod killswitch;
#[path = "server/metrics.rs"]
mod metrics;
#[path = "server/on_behalf.rs"]
mod on_behalf;
#[path = "server/pep.rs"]
mod pep;
#[path = "server/policy.rs"]
mod policy;
#[path = "server/reads.rs"]
mod reads;
#[path = "server/refusals.rs"]
mod refusals;
#[path = "server/request_ids.rs"]
mod request_ids;
#[path = "server/retention.rs"]
mod retention;
#[path = "server/retry_attach.rs"]
mod retry_attach;
#[path = "server/stream.rs"]
mod stream;
#[path = "server/unknown_fields.rs"]
mod unknown_fields;
