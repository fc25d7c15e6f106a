//! The escalation server: enforcement point, escalation queue, audit log, store.

pub mod config_error;
pub mod policy;
pub mod roster;
