//! Refusals of unauthenticated requests (no or unknown token, a bad or stale signature, a body
//! that does not parse before anyone is authenticated) are counted, not recorded one by one:
//! per window, by status, code, method, path and claimed person, with a bounded number of
//! distinct keys and every string truncated. Each window is flushed as one `refusals` audit
//! record (one commit), and the last one at shutdown, so anonymous traffic cannot grow the disk
//! or force an fsync per request.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::audit::{AuditEvent, RefusalCount, RefusalCounts};

/// How often the counts are flushed to the audit log.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Distinct keys kept per window; refusals beyond are counted under `other`.
pub const MAX_KEYS: usize = 32;
/// Longest path and claimed name kept, in characters.
pub const MAX_PATH: usize = 96;
pub const MAX_CLAIM: usize = 64;
/// Signatures of refused signed requests remembered, so a captured one sent again is counted
/// instead of recorded again.
pub const REMEMBERED_SIGNATURES: usize = 4096;

/// Cuts `s` to `max` characters, marking the cut, with control characters made inert.
pub fn truncate(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    status: u16,
    code: &'static str,
    method: String,
    path: String,
    claimed_person: Option<String>,
}

#[derive(Debug)]
pub struct Window {
    since: DateTime<Utc>,
    counts: BTreeMap<Key, u64>,
    other: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            since: Utc::now(),
            counts: BTreeMap::new(),
            other: 0,
        }
    }

    fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.other
    }

    fn add(&mut self, key: Key, n: u64) {
        if let Some(c) = self.counts.get_mut(&key) {
            *c += n;
        } else if self.counts.len() < MAX_KEYS {
            self.counts.insert(key, n);
        } else {
            self.other += n;
        }
    }

    /// The window as one audit record.
    pub fn event(&self) -> AuditEvent {
        let counts = self
            .counts
            .iter()
            .map(|(k, n)| RefusalCount {
                status: k.status,
                code: k.code.to_string(),
                method: k.method.clone(),
                path: k.path.clone(),
                claimed_person: k.claimed_person.clone(),
                count: *n,
            })
            .collect();
        AuditEvent::Refusals(RefusalCounts {
            since: self.since,
            until: Utc::now(),
            total: self.total(),
            counts,
            other: self.other,
        })
    }
}

/// The current window's counts, and the signatures refused lately.
pub struct Refusals {
    window: Mutex<Window>,
    signatures: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals {
            window: Mutex::new(Window::new()),
            signatures: Mutex::default(),
        }
    }
}

impl Refusals {
    pub fn count(
        &self,
        status: u16,
        code: &'static str,
        method: &str,
        path: &str,
        claimed_person: Option<&str>,
    ) {
        let key = Key {
            status,
            code,
            method: truncate(method, 16),
            path: truncate(path, MAX_PATH),
            claimed_person: claimed_person.map(|c| truncate(c, MAX_CLAIM)),
        };
        self.lock().add(key, 1);
    }

    /// True the first time a verified signature is refused (of the last
    /// [`REMEMBERED_SIGNATURES`]); false when the same signed request comes again.
    pub fn first_refusal_of(&self, signature: &str) -> bool {
        let mut seen = self.signatures.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *seen;
        if set.contains(signature) {
            return false;
        }
        if order.len() >= REMEMBERED_SIGNATURES {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        set.insert(signature.to_string());
        order.push_back(signature.to_string());
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the window: its counts, if any, and a fresh window.
    pub fn take(&self) -> Option<Window> {
        let mut w = self.lock();
        if w.total() == 0 {
            return None;
        }
        Some(std::mem::replace(&mut *w, Window::new()))
    }

    /// Puts back counts that could not be written, so they go out with the next window.
    pub fn put_back(&self, taken: Window) {
        let mut w = self.lock();
        w.since = w.since.min(taken.since);
        w.other += taken.other;
        for (k, n) in taken.counts {
            w.add(k, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_bounded_in_keys_and_size() {
        let r = Refusals::default();
        assert!(r.take().is_none());
        let long = "x".repeat(10_000);
        for i in 0..1000 {
            r.count(
                401,
                "bad_signature",
                "POST",
                &format!("/v1/escalations/{i}{long}/decisions"),
                Some(&long),
            );
        }
        let w = r.take().unwrap();
        assert_eq!(w.total(), 1000);
        assert_eq!(w.counts.len(), MAX_KEYS);
        let body = w.event().body().unwrap();
        assert!(body.to_string().len() < MAX_KEYS * 400, "{body}");
        assert_eq!(body["total"], 1000);
        assert!(r.take().is_none(), "a fresh window");
        r.put_back(w);
        assert_eq!(r.take().unwrap().total(), 1000);
    }

    #[test]
    fn a_refused_signature_is_recorded_once_among_the_last_few_thousand() {
        let r = Refusals::default();
        assert!(r.first_refusal_of("sig-0"));
        assert!(!r.first_refusal_of("sig-0"));
        for i in 1..=REMEMBERED_SIGNATURES {
            assert!(r.first_refusal_of(&format!("sig-{i}")));
        }
        assert!(
            r.first_refusal_of("sig-0"),
            "forgotten after the last few thousand"
        );
    }

    #[test]
    fn truncation_marks_the_cut_and_makes_controls_inert() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("a\u{1b}[2J", 10), "a\u{FFFD}[2J");
    }
}
