//! The held attempts and the gavel actions they wait on, as one table behind one lock.
//!
//! gavel attaches a retried call (same agent, digest and session) to the pending escalation of
//! the first attempt: both get the same action id, and one decision answers both. The gate must
//! still run the tool once per approval, so attempts are grouped by action id. On allow the
//! group's most recent attempt still waiting is the one forwarded; every other one is answered
//! with a denial naming it. An attempt that leaves (cancel, hang-up) is never forwarded; the
//! action is withdrawn only once no attempt waits on it, after a grace in which a retry may
//! attach instead (the grace's withdraw is a [`Release`], run only if still [`Table::due`]).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};

use crate::adapters::gate::message::IdKey;
use crate::adapters::Ruling;

/// A held call is named by its MCP session and its request id: ids are per session.
pub(crate) type Key = (String, IdKey);

pub(crate) struct Entry {
    /// Order of arrival: the most recent attempt is the one that runs.
    pub seq: u64,
    pub id: Value,
    /// Tells the attempt's task to stop waiting without withdrawing: its group decides that.
    pub detach: Option<oneshot::Sender<()>>,
    /// The gavel action it waits on, once gavel answered pending.
    pub action: Option<String>,
    /// Left before gavel named its action: leaves for good once gavel does, with this grace.
    pub cancelled: Option<Duration>,
}

#[derive(Default)]
struct Group {
    /// (seq, key, request id) of the attempts still waiting.
    waiting: Vec<(u64, Key, Value)>,
    /// The attempt that runs, chosen when the first allow arrives.
    chosen: Option<(Key, Value)>,
    /// Bumped whenever a withdraw is scheduled or an attempt attaches: a scheduled withdraw
    /// runs only if its round is still the group's.
    round: u64,
}

#[derive(Default)]
pub(crate) struct Table {
    pub calls: HashMap<Key, Entry>,
    /// Allowed calls on their way upstream; each turns true once the upstream answered.
    pub sending: HashMap<Key, watch::Receiver<bool>>,
    actions: HashMap<String, Group>,
    /// Set when the gate shuts down: no new call is held after that.
    pub closed: bool,
    next_seq: u64,
}

/// A withdraw of `action` due after `grace`, unless an attempt attaches meanwhile.
#[derive(Debug)]
pub(crate) struct Release {
    pub action: String,
    pub round: u64,
    pub grace: Duration,
}

/// What an attempt gavel ruled on does.
#[derive(Debug, PartialEq)]
pub(crate) enum Ruled {
    Forward,
    /// Allowed, but another attempt of the same action runs: this request id.
    RanAs(Value),
    Deny(String),
}

impl Table {
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// gavel answered attempt `key` with pending action `action`. An attempt that already left
    /// leaves for good now; the release is its action's withdraw when nobody else waits.
    pub fn attach(&mut self, key: &Key, action: &str) -> Option<Release> {
        let entry = self.calls.get_mut(key)?;
        if entry.action.is_some() {
            return None;
        }
        if let Some(grace) = entry.cancelled {
            let mut entry = self.calls.remove(key)?;
            if let Some(detach) = entry.detach.take() {
                let _ = detach.send(());
            }
            return self.release_if_unwaited(action, grace);
        }
        entry.action = Some(action.to_string());
        let waiting = (entry.seq, key.clone(), entry.id.clone());
        let group = self.actions.entry(action.to_string()).or_default();
        group.waiting.push(waiting);
        group.round += 1; // calls off a scheduled withdraw
        None
    }

    fn release_if_unwaited(&mut self, action: &str, grace: Duration) -> Option<Release> {
        let group = self.actions.entry(action.to_string()).or_default();
        if !group.waiting.is_empty() {
            return None;
        }
        group.round += 1;
        Some(Release {
            action: action.to_string(),
            round: group.round,
            grace,
        })
    }

    /// The attempt leaves (cancelled, hung up, session ended) and is never forwarded. True if
    /// it was held; the release is its action's withdraw when nobody else waits on it.
    pub fn leave(&mut self, key: &Key, grace: Duration) -> (bool, Option<Release>) {
        let Some(entry) = self.calls.get_mut(key) else {
            return (false, None);
        };
        let Some(action) = entry.action.clone() else {
            // gavel has not named the action yet: it leaves once gavel does (`attach`).
            let kept = entry.cancelled.unwrap_or(grace);
            entry.cancelled = Some(kept.min(grace));
            return (true, None);
        };
        if let Some(mut entry) = self.calls.remove(key) {
            if let Some(detach) = entry.detach.take() {
                let _ = detach.send(());
            }
        }
        if let Some(group) = self.actions.get_mut(&action) {
            group.waiting.retain(|(_, k, _)| k != key);
            if group.chosen.as_ref().is_some_and(|(k, _)| k == key) {
                group.chosen = None; // the next allowed attempt is chosen instead
            }
        }
        (true, self.release_if_unwaited(&action, grace))
    }

    /// True (once) if the withdraw `release` is still due: nobody attached since it was set.
    pub fn due(&mut self, release: &Release) -> bool {
        let due = self
            .actions
            .get(&release.action)
            .is_some_and(|g| g.round == release.round && g.waiting.is_empty());
        if due {
            self.actions.remove(&release.action);
        }
        due
    }

    /// gavel ruled on attempt `key`: it is taken out. `None` if it had left.
    pub fn ruled(&mut self, key: &Key, ruling: &Ruling) -> Option<Ruled> {
        let entry = self.calls.remove(key)?;
        if entry.cancelled.is_some() {
            return None;
        }
        if !ruling.allow {
            self.forget(entry.action.as_deref(), key);
            return Some(Ruled::Deny(ruling.reason.clone()));
        }
        let Some(group) = entry
            .action
            .as_deref()
            .and_then(|a| self.actions.get_mut(a))
        else {
            return Some(Ruled::Forward);
        };
        let (chosen, chosen_id) = group
            .chosen
            .get_or_insert_with(|| {
                group
                    .waiting
                    .iter()
                    .max_by_key(|(seq, _, _)| *seq)
                    .map(|(_, k, id)| (k.clone(), id.clone()))
                    .unwrap_or_else(|| (key.clone(), entry.id.clone()))
            })
            .clone();
        self.forget(entry.action.as_deref(), key);
        Some(if chosen == *key {
            Ruled::Forward
        } else {
            Ruled::RanAs(chosen_id)
        })
    }

    /// `key` no longer waits on `action`; a group nobody waits on is dropped.
    fn forget(&mut self, action: Option<&str>, key: &Key) {
        let Some(action) = action else { return };
        if let Some(group) = self.actions.get_mut(action) {
            group.waiting.retain(|(_, k, _)| k != key);
            if group.waiting.is_empty() {
                self.actions.remove(action);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::gate::message::id_key;
    use serde_json::json;

    fn hold(t: &mut Table, id: i64) -> Key {
        let key = ("s".to_string(), id_key(&json!(id)));
        let seq = t.next_seq();
        let entry = Entry {
            seq,
            id: json!(id),
            detach: None,
            action: None,
            cancelled: None,
        };
        t.calls.insert(key.clone(), entry);
        key
    }

    fn allow() -> Ruling {
        Ruling {
            allow: true,
            reason: "ok".into(),
        }
    }

    #[test]
    fn one_approval_runs_the_latest_attempt_once() {
        let mut t = Table::default();
        let (a, b) = (hold(&mut t, 1), hold(&mut t, 2));
        assert!(t.attach(&a, "act").is_none());
        assert!(t.attach(&b, "act").is_none());
        assert_eq!(t.ruled(&a, &allow()), Some(Ruled::RanAs(json!(2))));
        assert_eq!(t.ruled(&b, &allow()), Some(Ruled::Forward));
        assert!(t.actions.is_empty() && t.calls.is_empty());
    }

    #[test]
    fn a_retry_in_the_grace_calls_off_the_withdraw() {
        let g = Duration::from_secs(10);
        let mut t = Table::default();
        let a = hold(&mut t, 1);
        t.attach(&a, "act");
        let (held, release) = t.leave(&a, g);
        let release = release.expect("nobody else waits");
        assert!(held);
        let b = hold(&mut t, 2);
        assert!(t.attach(&b, "act").is_none());
        assert!(!t.due(&release), "the retry attached");
        assert_eq!(t.ruled(&b, &allow()), Some(Ruled::Forward));
        // Without a retry the withdraw is due, once.
        let c = hold(&mut t, 3);
        t.attach(&c, "other");
        let release = t.leave(&c, g).1.expect("a withdraw");
        assert!(t.due(&release));
        assert!(!t.due(&release));
    }

    #[test]
    fn an_attempt_that_left_before_gavel_answered_is_never_forwarded() {
        let mut t = Table::default();
        let a = hold(&mut t, 1);
        let (held, release) = t.leave(&a, Duration::ZERO);
        assert!(
            held && release.is_none(),
            "gavel has not named the action yet"
        );
        let b = hold(&mut t, 2);
        t.attach(&b, "act");
        // `a` is told its action while `b` waits on it: no withdraw, `a` gone.
        assert!(t.attach(&a, "act").is_none());
        assert!(!t.calls.contains_key(&a));
        assert_eq!(t.ruled(&a, &allow()), None);
        assert_eq!(t.ruled(&b, &allow()), Some(Ruled::Forward));
    }
}
