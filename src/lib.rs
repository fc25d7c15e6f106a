//! gavel: a human in the loop for AI agents' tool calls.
//!
//! - [`protocol`]: wire types, canonical JSON, signatures, sanitising (shared by everything)
//! - [`client`]: an HTTP client that speaks only the protocol
//! - [`server`]: the enforcement point, escalation queue, audit log and store
//! - [`console`]: the terminal approval console (talks to the server only through the protocol)
//! - [`adapters`]: the Claude Code hook and the MCP stdio gate
//! - [`demo`]: everything at once on an embedded default
//! - [`duration`]: the one duration grammar (policy timeouts, CLI flags)
//! - [`cli`]: the `gavel` command line

pub mod adapters;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod demo;
pub mod duration;
pub mod protocol;
pub mod server;
