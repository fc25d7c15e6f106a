//! What the queue view needs of every pending escalation — which rows the filter shows, how
//! many are the viewer's, how many they snoozed — kept between frames, so that a frame over
//! 10,000 escalations costs only the rows on screen. Each of those answers is a pass over every
//! escalation (a pointer chase through thousands of boxes, a duty check each), and a frame asked
//! for several.
//!
//! Two layers, each rebuilt only when what it depends on changed:
//! - the index, per `State::pending_rev` and viewer: each escalation's filtered fields laid out
//!   in one string, whether it is the viewer's, until when the viewer snoozed it;
//! - the rows, per index, filter text, show-snoozed switch and clock (the clock only while
//!   something is snoozed): a scan of that one string, not of the escalations.
//!
//! `pending_rev` moves whenever `update` applies something that can change `pending`; code that
//! changes `pending` otherwise calls `State::pending_changed`. Debug builds check every answer
//! (for queues up to 1,000) against a fresh one, so a change that forgot to say so fails the
//! tests.

use std::sync::Arc;

use crate::protocol::{Escalation, Timestamp};

use super::needle::Needle;
use super::queue_cache::{Built, Index, QueueCache, QueueSummary, Rows};
use super::state::State;

/// Between the fields of a row: no filter text contains it (`Needle` is never built from one).
const SEP: char = '\0';

impl QueueCache {
    /// Where escalation `id` is in `pending`: from the index when it is current (ids can hold
    /// the separator only in theory; then, and without an index, by looking at each).
    pub fn position(&self, s: &State, id: &str) -> Option<usize> {
        let built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        match built.as_ref() {
            Some(b) if b.index.valid_for(s) && !id.contains(SEP) => b.index.position(id),
            _ => s.pending.iter().position(|e| e.id == id),
        }
    }

    /// Whether the index is current, so that `edited` can keep it so.
    pub fn current(&self, s: &State) -> bool {
        let built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        built.as_ref().is_some_and(|b| b.index.valid_for(s))
    }

    /// `pending` lost the escalation at `removed` and then gained one at `inserted`, and
    /// `pending_rev` moved: the index, current before, follows the same edit instead of being
    /// built again (an escalation arriving in a queue of thousands).
    pub fn edited(&self, s: &State, removed: Option<usize>, inserted: Option<usize>) {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = built.take() else {
            return;
        };
        let mut index = Arc::unwrap_or_clone(b.index);
        if let Some(i) = removed {
            index.remove(i);
        }
        if let Some(i) = inserted {
            index.insert(s, i);
        }
        index.rev = s.pending_rev;
        // The rows are judged again from the edited index on the next look.
        *built = Some(Built {
            index: Arc::new(index),
            rows: None,
        });
    }

    fn get(&self, s: &State) -> Arc<QueueSummary> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        let index = match built.take() {
            Some(b) if b.index.valid_for(s) => {
                let now = b.index.clock(s);
                if let Some(r) = b.rows.as_ref().filter(|r| {
                    r.filter == *s.filter.value()
                        && r.show_snoozed == s.show_snoozed
                        && r.now == now
                }) {
                    let summary = r.summary.clone();
                    *built = Some(b);
                    return summary;
                }
                b.index
            }
            _ => Arc::new(index(s)),
        };
        let now = index.clock(s);
        let summary = Arc::new(summary(s, &index));
        *built = Some(Built {
            index,
            rows: Some(Rows {
                filter: s.filter.value().to_string(),
                show_snoozed: s.show_snoozed,
                now,
                summary: summary.clone(),
            }),
        });
        summary
    }
}

impl State {
    /// The queue's rows, how many are mine and how many I snoozed, from the cache when nothing
    /// they depend on changed.
    pub fn queue_summary(&self) -> Arc<QueueSummary> {
        let got = self.queue_cache.get(self);
        // Up to a size where a fresh answer per look keeps debug tests quick (a burst of
        // thousands of arrivals is tested too).
        #[cfg(debug_assertions)]
        if self.pending.len() <= 1_000 {
            let fresh = summary(self, &index(self));
            assert_eq!(
                *got, fresh,
                "the queue cache is stale: `pending` changed without `pending_changed`"
            );
        }
        got
    }

    /// Says that `pending` changed outside `update`'s server and reply events.
    pub fn pending_changed(&mut self) {
        self.pending_rev += 1;
    }
}

fn index(s: &State) -> Index {
    let mut text = String::new();
    let mut starts = Vec::with_capacity(s.pending.len() + 1);
    let mut snoozed_until = Vec::with_capacity(s.pending.len());
    let mut mine_each = Vec::with_capacity(s.pending.len());
    for e in &s.pending {
        starts.push(text.len());
        push_fields(&mut text, e);
        snoozed_until.push(snoozed_until_of(s, e));
        mine_each.push(s.not_mine(e).is_none());
    }
    starts.push(text.len());
    Index {
        rev: s.pending_rev,
        me: s.me.clone(),
        text,
        starts,
        mine: mine_each.iter().filter(|m| **m).count(),
        mine_each,
        snoozes: snoozed_until.iter().filter(|t| t.is_some()).count(),
        elided_each: s
            .pending
            .iter()
            .map(|e| e.args_elided().is_some())
            .collect(),
        elided: s
            .pending
            .iter()
            .filter(|e| e.args_elided().is_some())
            .count(),
        snoozed_until,
    }
}

/// Until when the viewer snoozed `e`, whatever the clock says now: the rows judge it at theirs.
fn snoozed_until_of(s: &State, e: &Escalation) -> Option<Timestamp> {
    let me = s.me.as_ref()?;
    e.handling.snoozed.get(&me.id).copied()
}

impl Index {
    fn valid_for(&self, s: &State) -> bool {
        self.rev == s.pending_rev && self.me == s.me
    }

    /// Time changes the rows only when something is snoozed.
    fn clock(&self, s: &State) -> Option<Timestamp> {
        (self.snoozes > 0).then_some(s.now)
    }

    fn remove(&mut self, i: usize) {
        self.elided -= usize::from(self.elided_each.remove(i));
        let (from, to) = (self.starts[i], self.starts[i + 1]);
        self.text.replace_range(from..to, "");
        self.starts.remove(i);
        for start in &mut self.starts[i..] {
            *start -= to - from;
        }
        self.snoozes -= usize::from(self.snoozed_until.remove(i).is_some());
        self.mine -= usize::from(self.mine_each.remove(i));
    }

    fn insert(&mut self, s: &State, i: usize) {
        let e = &s.pending[i];
        let mut row = String::new();
        push_fields(&mut row, e);
        self.text.insert_str(self.starts[i], &row);
        self.starts.insert(i, self.starts[i]);
        for start in &mut self.starts[i + 1..] {
            *start += row.len();
        }
        let until = snoozed_until_of(s, e);
        self.snoozes += usize::from(until.is_some());
        self.snoozed_until.insert(i, until);
        let elided = e.args_elided().is_some();
        self.elided_each.insert(i, elided);
        self.elided += usize::from(elided);
        let mine = s.not_mine(e).is_none();
        self.mine_each.insert(i, mine);
        self.mine += usize::from(mine);
    }

    /// Where escalation `id` is, by a scan of the one string rather than of the escalations.
    fn position(&self, id: &str) -> Option<usize> {
        (0..self.mine_each.len()).find(|&i| {
            let row = &self.text[self.starts[i]..self.starts[i + 1]];
            row.strip_prefix(id)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(SEP))
        })
    }
}

/// What the filter looks at (`State::esc_matches`), as one string.
fn push_fields(text: &mut String, e: &Escalation) {
    for (i, f) in [&e.id, &e.action.agent, &e.action.tool, &e.rule.id, &e.group]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            text.push(SEP);
        }
        text.push_str(f);
    }
}

fn summary(s: &State, index: &Index) -> QueueSummary {
    let needle = Needle::new(&s.filter);
    let snoozed = |i: usize| index.snoozed_until[i].is_some_and(|t| t > s.now);
    let matches = |i: usize| match &needle {
        None => true,
        // Filter text with the separator in it could match across two fields.
        Some(n) if s.filter.contains(SEP) => State::esc_matches(Some(n), &s.pending[i]),
        Some(n) => n.found_in(&index.text[index.starts[i]..index.starts[i + 1]]),
    };
    let n = index.snoozed_until.len();
    QueueSummary {
        rows: (0..n)
            .filter(|&i| (s.show_snoozed || !snoozed(i)) && matches(i))
            .collect(),
        mine: index.mine,
        snoozed: (0..n).filter(|&i| snoozed(i)).count(),
        args_elided: index.elided > 0,
    }
}
