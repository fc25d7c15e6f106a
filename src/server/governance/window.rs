//! Counts over a sliding stretch of time in fixed slots, so a busy agent costs a bounded number
//! of slots, not one entry per call. A count is exact to within one slot at the old edge.

use std::collections::VecDeque;
use std::time::Duration;

use crate::protocol::Timestamp;

/// At most this many slots cover a window: its edge moves in steps of 1/`MAX_SLOTS` of it.
pub const MAX_SLOTS: u64 = 1200;

#[derive(Debug, Clone)]
pub struct Window {
    /// Slot width in milliseconds, at least 1.
    width_ms: i64,
    /// How many slots back a count can reach.
    span_slots: i64,
    /// Non-empty slots, oldest first: (slot number, first count, second count).
    slots: VecDeque<(i64, u64, u64)>,
}

impl Window {
    /// Counts reaching `span` back, in slots of `resolution` or wider (so at most
    /// [`MAX_SLOTS`] cover the span).
    pub fn new(span: Duration, resolution: Duration) -> Window {
        let span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX).max(1);
        let res_ms = i64::try_from(resolution.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let width_ms = res_ms.max(span_ms / MAX_SLOTS as i64).max(1);
        Window {
            width_ms,
            span_slots: span_ms / width_ms + 1,
            slots: VecDeque::new(),
        }
    }

    fn slot(&self, at: Timestamp) -> i64 {
        at.timestamp_millis().div_euclid(self.width_ms)
    }

    /// Adds `a` and `b` at `at`, dropping the slots past the span.
    pub fn add(&mut self, at: Timestamp, a: u64, b: u64) {
        let slot = self.slot(at);
        match self.slots.iter_mut().rev().find(|(s, _, _)| *s == slot) {
            Some(entry) => {
                entry.1 = entry.1.saturating_add(a);
                entry.2 = entry.2.saturating_add(b);
            }
            None => {
                // Calls arrive nearly in order: insert where it belongs from the back.
                let pos = self
                    .slots
                    .iter()
                    .rposition(|(s, _, _)| *s < slot)
                    .map_or(0, |p| p + 1);
                self.slots.insert(pos, (slot, a, b));
            }
        }
        self.trim(at);
    }

    /// Drops the slots no count at or after `now` can reach.
    pub fn trim(&mut self, now: Timestamp) {
        let oldest = self.slot(now).saturating_sub(self.span_slots);
        while self.slots.front().is_some_and(|(s, _, _)| *s < oldest) {
            self.slots.pop_front();
        }
    }

    /// The sums over the slots of the stretch `ago` long ending at `now` (inclusive).
    pub fn last(&self, now: Timestamp, ago: Duration) -> (u64, u64) {
        let to = self.slot(now);
        let back = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX) / self.width_ms;
        self.between(to.saturating_sub(back).saturating_add(1), to)
    }

    /// The sums over slots `from..=to`.
    fn between(&self, from: i64, to: i64) -> (u64, u64) {
        self.slots
            .iter()
            .filter(|(s, _, _)| *s >= from && *s <= to)
            .fold((0u64, 0u64), |(a, b), (_, x, y)| {
                (a.saturating_add(*x), b.saturating_add(*y))
            })
    }

    /// The sums over the stretch `len` long that ends `gap` before `now`.
    pub fn before(&self, now: Timestamp, gap: Duration, len: Duration) -> (u64, u64) {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX) / self.width_ms;
        let to = self.slot(now).saturating_sub(ms(gap));
        self.between(to.saturating_sub(ms(len)).saturating_add(1), to)
    }

    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};

    #[test]
    fn counts_slide_and_stay_bounded() {
        let t0 = Utc.timestamp_opt(1_790_000_000, 0).unwrap();
        let s = |n: i64| t0 + TimeDelta::seconds(n);
        let mut w = Window::new(Duration::from_secs(10), Duration::from_secs(1));
        w.add(s(0), 1, 0);
        w.add(s(1), 1, 1);
        w.add(s(1), 1, 1);
        assert_eq!(w.last(s(1), Duration::from_secs(10)), (3, 2));
        assert_eq!(w.last(s(10), Duration::from_secs(10)), (2, 2));
        assert_eq!(w.last(s(11), Duration::from_secs(10)), (0, 0));
        assert_eq!(
            w.before(s(11), Duration::from_secs(5), Duration::from_secs(10)),
            (3, 2)
        );
        // A flood lands in a bounded number of slots, and counts saturate instead of wrapping.
        let mut w = Window::new(Duration::from_secs(86_400), Duration::from_millis(1));
        for i in 0..5000 {
            w.add(t0 + TimeDelta::milliseconds(i * 100), u64::MAX / 2, 1);
        }
        assert!(w.slots.len() as u64 <= MAX_SLOTS + 1);
        assert_eq!(w.last(s(600), Duration::from_secs(86_400)).0, u64::MAX);
    }
}
