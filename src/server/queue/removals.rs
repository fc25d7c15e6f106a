//! The escalations this queue took out lately, numbered in order. A re-read of one that is not
//! queued here may have begun before this replica resolved and removed it; queued after, from
//! that older read, it would stay pending here, as nothing from this replica's own change comes
//! back through the feed. So such a re-read notes the count before it reads, and is not queued
//! if the escalation was taken out since.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Removals remembered; a re-read that began before the oldest of them is not queued.
const KEPT: usize = 1024;

#[derive(Default)]
pub(super) struct Removals {
    inner: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    /// How many removals there have been.
    count: u64,
    /// The latest, with their numbers, oldest first.
    ids: VecDeque<(u64, String)>,
}

impl Removals {
    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mark a re-read notes before it reads.
    pub fn mark(&self) -> u64 {
        self.recent().count
    }

    pub fn removed(&self, id: &str) {
        let mut r = self.recent();
        let n = r.count;
        r.count += 1;
        if r.ids.len() == KEPT {
            r.ids.pop_front();
        }
        r.ids.push_back((n, id.to_string()));
    }

    /// Whether `id` was removed since `mark`, or may have been (removals since are no longer
    /// all remembered).
    pub fn since(&self, mark: u64, id: &str) -> bool {
        let r = self.recent();
        if r.ids.front().is_some_and(|(oldest, _)| *oldest > mark) {
            return true;
        }
        r.ids
            .iter()
            .rev()
            .take_while(|(n, _)| *n >= mark)
            .any(|(_, i)| i == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_is_seen_by_a_read_that_began_before_it_and_only_by_such() {
        let r = Removals::default();
        r.removed("esc_a");
        let mark = r.mark();
        assert!(!r.since(mark, "esc_a"), "removed before the read began");
        r.removed("esc_b");
        assert!(r.since(mark, "esc_b"));
        assert!(!r.since(mark, "esc_a"));
        assert!(!r.since(r.mark(), "esc_b"));
    }

    #[test]
    fn a_read_older_than_every_removal_remembered_counts_as_stale() {
        let r = Removals::default();
        let mark = r.mark();
        for i in 0..=KEPT {
            r.removed(&format!("esc_{i}"));
        }
        assert!(r.since(mark, "esc_never_removed"));
        assert!(!r.since(r.mark(), "esc_0"));
    }
}
