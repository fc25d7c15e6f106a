//! The queue view's cache, as `State` holds it: what [`super::queue_index`] keeps between
//! frames (the index of every pending escalation and the rows judged from it), without the code
//! that fills it, which reads the state.

use std::sync::{Arc, Mutex};

use crate::protocol::{PersonInfo, Timestamp};

#[derive(Default)]
pub struct QueueCache {
    pub(super) built: Mutex<Option<Built>>,
}

/// The queue's answers for one state.
#[derive(Debug, PartialEq)]
pub struct QueueSummary {
    /// Indices into `pending` the filter lets through, in queue order.
    pub rows: Vec<usize>,
    /// How many pending escalations the viewer may decide.
    pub mine: usize,
    /// How many the viewer snoozed (shown or not).
    pub snoozed: usize,
    /// Whether any has its arguments left out of the stream (the queue then shows a column).
    pub args_elided: bool,
}

#[derive(Clone)]
pub(super) struct Index {
    pub(super) rev: u64,
    pub(super) me: Option<PersonInfo>,
    /// Each escalation's id, agent, tool, rule and group, separated by `SEP`.
    pub(super) text: String,
    /// Where each escalation's part of `text` starts; one more at the end.
    pub(super) starts: Vec<usize>,
    pub(super) snoozed_until: Vec<Option<Timestamp>>,
    /// Whether each is the viewer's to decide, and how many are.
    pub(super) mine_each: Vec<bool>,
    pub(super) mine: usize,
    /// How many have a snooze by the viewer (past or not), and arguments left out.
    pub(super) snoozes: usize,
    pub(super) elided_each: Vec<bool>,
    pub(super) elided: usize,
}

pub(super) struct Built {
    pub(super) index: Arc<Index>,
    /// The rows judged from `index`, if they were since it last changed.
    pub(super) rows: Option<Rows>,
}

pub(super) struct Rows {
    pub(super) filter: String,
    pub(super) show_snoozed: bool,
    /// The clock the snoozes were judged at; `None` when nothing is snoozed (time cannot
    /// change the rows then).
    pub(super) now: Option<Timestamp>,
    pub(super) summary: Arc<QueueSummary>,
}
