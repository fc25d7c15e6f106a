//! Rebuilding the breakers at start: open ones from their audit records (trips, closes,
//! resets), then the counts of closed ones from the calls of their windows.

use std::collections::HashMap;

use super::{Breakers, Open, Track, Trigger};
use crate::protocol::Timestamp;
use crate::server::audit::AuditEvent;
use crate::server::policy::Breaker;
use crate::server::store::RecentAction;

/// The track of breaker `id` for `agent`, if the policy still has that breaker for that agent.
fn track<'a>(
    list: &[Breaker],
    tracks: &'a mut HashMap<(usize, String), Track>,
    id: &str,
    agent: &str,
) -> Option<&'a mut Track> {
    let (i, b) = list
        .iter()
        .enumerate()
        .find(|(_, b)| b.id == id && b.covers(agent))?;
    Some(
        tracks
            .entry((i, agent.to_string()))
            .or_insert_with(|| Track::new(b)),
    )
}

impl Breakers {
    /// Replays the breaker records, oldest first: what each left open is open again, with the
    /// same cooldown; counts start after the last trip, close or reset.
    pub fn restore_events(&self, events: &[AuditEvent]) {
        let list = &self.inner.list;
        let mut tracks = self.inner.tracks();
        for event in events {
            match event {
                AuditEvent::BreakerTripped(t) => {
                    if let Some(tr) = track(list, &mut tracks, &t.breaker, &t.agent) {
                        tr.open = Some(Open {
                            reason: t.reason.clone(),
                            trigger: Trigger::parse(&t.trigger),
                            since: t.since,
                            until: t.until,
                            trial: None,
                        });
                        tr.start_afresh(t.since);
                    }
                }
                AuditEvent::BreakerClosed(c) => {
                    if let Some(tr) = track(list, &mut tracks, &c.breaker, &c.agent) {
                        close(tr, c.at);
                    }
                }
                AuditEvent::BreakerReset(r) => {
                    for id in &r.breakers {
                        if let Some(tr) = track(list, &mut tracks, id, &r.agent) {
                            close(tr, r.at);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Counts the calls of the windows, oldest first, as if each had just been recorded.
    pub fn restore(&self, calls: &[RecentAction], _now: Timestamp) {
        for call in calls {
            self.take(call, true);
        }
    }
}

fn close(track: &mut Track, at: Timestamp) {
    track.open = None;
    track.start_afresh(at);
}
