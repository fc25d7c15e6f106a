//! The console's state: pure data, changed only by `update`. Views borrow it.

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::protocol::{
    may_decide, ActionSummary, AgentInfo, Escalation, FlagVerdict, FlaggedAction, KillSwitch,
    NotYours, PersonInfo, ServerInfo, Timestamp, Vote,
};

use super::keymap::Keymap;
use super::theme::Theme;

/// How many resolved escalations and activity lines we keep.
pub const HISTORY_CAP: usize = 500;
pub const ACTIVITY_CAP: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Queue,
    Flagged,
    KillSwitches,
    History,
}

impl View {
    pub const ALL: [View; 4] = [
        View::Queue,
        View::Flagged,
        View::KillSwitches,
        View::History,
    ];
    pub fn title(self) -> &'static str {
        match self {
            View::Queue => "Queue",
            View::Flagged => "Flagged",
            View::KillSwitches => "Kill switches",
            View::History => "History",
        }
    }
    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting {
        attempt: u32,
        since: Timestamp,
        error: String,
    },
    /// The server refused us (bad key, not in the roster): retrying will not help.
    Refused {
        since: Timestamp,
        reason: String,
    },
}

/// A request we sent and have no answer for yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Decide {
        escalation: String,
        vote: Vote,
    },
    Flip {
        scope: String,
        on: bool,
    },
    Review {
        action: String,
        verdict: FlagVerdict,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Success,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub level: Level,
    pub text: String,
    pub at: Timestamp,
}

/// A half-typed decision: what will be signed once the reason is in.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDraft {
    pub escalation: Escalation,
    pub vote: Vote,
    pub reason: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlipDraft {
    pub scope: String,
    pub on: bool,
    pub reason: String,
    /// For the global switch: the word that must be typed before it goes on.
    pub confirm_word: Option<&'static str>,
    pub confirm: String,
    /// Which field the cursor is in: false = reason, true = confirmation word.
    pub in_confirm: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReviewDraft {
    pub flagged: FlaggedAction,
    pub verdict: FlagVerdict,
    pub note: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    Decision(DecisionDraft),
    Flip(FlipDraft),
    Review(ReviewDraft),
    /// Why the approve key did nothing.
    NotYours {
        escalation: String,
        why: String,
    },
    Help,
}

/// One row of the kill switch view.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchRow {
    pub scope: String,
    pub state: Option<KillSwitch>,
    pub last_activity: Option<ActionSummary>,
    pub actions: usize,
}

pub struct State {
    pub server_url: String,
    /// The key's id; the server's welcome says who that is.
    pub key_id: String,
    pub me: Option<PersonInfo>,
    pub server: Option<ServerInfo>,
    pub connection: Connection,
    pub now: Timestamp,
    /// Pending escalations, soonest deadline first. Boxed so that inserting into a queue of
    /// thousands moves pointers, not ~1 KB structs (a burst of 10,000 stays fast).
    #[allow(clippy::vec_box)]
    pub pending: Vec<Box<Escalation>>,
    /// Resolved escalations, newest first.
    pub history: VecDeque<Escalation>,
    pub flagged: Vec<FlaggedAction>,
    pub killswitches: BTreeMap<String, KillSwitch>,
    pub agents: Vec<AgentInfo>,
    /// Recent actions, newest first.
    pub activity: VecDeque<ActionSummary>,
    pub view: View,
    /// Selection per view, as an index into that view's filtered rows.
    pub selected: [usize; 4],
    /// The selected escalation's id in the queue, so arrivals do not move the cursor.
    pub selected_id: Option<String>,
    pub detail_open: bool,
    pub detail_scroll: u16,
    pub filter: String,
    pub filter_editing: bool,
    pub dialog: Option<Dialog>,
    /// A decision cancelled with its reason half-typed: kept, so `a`/`d` on the same escalation
    /// resumes it and quitting asks first.
    pub stashed: Option<DecisionDraft>,
    pub message: Option<Message>,
    pub in_flight: BTreeMap<u64, Request>,
    pub next_request: u64,
    /// Escalations we already notified about (arrival, and under a minute left).
    pub notified: HashSet<String>,
    /// True once a first snapshot arrived: later snapshots are resyncs after a reconnect.
    pub resynced: bool,
    pub warned: HashSet<String>,
    /// Something the status bar should keep saying (e.g. notifications unavailable).
    pub note: Option<String>,
    pub notify_desktop: bool,
    pub notify_bell: bool,
    pub quit: bool,
    /// Quit was asked while text was half-typed: the next key says yes or no.
    pub pending_quit: bool,
    pub keymap: Keymap,
    pub theme: Theme,
}

impl State {
    pub fn new(server_url: &str, key_id: &str, now: Timestamp) -> State {
        State {
            server_url: server_url.to_string(),
            key_id: key_id.to_string(),
            me: None,
            server: None,
            connection: Connection::Connecting,
            now,
            pending: Vec::new(),
            history: VecDeque::new(),
            flagged: Vec::new(),
            killswitches: BTreeMap::new(),
            agents: Vec::new(),
            activity: VecDeque::new(),
            view: View::Queue,
            selected: [0; 4],
            selected_id: None,
            detail_open: false,
            detail_scroll: 0,
            filter: String::new(),
            filter_editing: false,
            dialog: None,
            stashed: None,
            message: None,
            in_flight: BTreeMap::new(),
            next_request: 1,
            notified: HashSet::new(),
            resynced: false,
            warned: HashSet::new(),
            note: None,
            notify_desktop: true,
            notify_bell: true,
            quit: false,
            pending_quit: false,
            keymap: Keymap::default(),
            theme: Theme::default(),
        }
    }

    /// Why I may not approve this escalation, if so. Before the welcome we do not know who we are.
    pub fn not_mine(&self, esc: &Escalation) -> Option<NotYours> {
        self.may_not_vote(esc, Vote::Approve)
    }

    /// Why I may not cast `vote` on this escalation, if so (a deny is open to more people).
    pub fn may_not_vote(&self, esc: &Escalation, vote: Vote) -> Option<NotYours> {
        match &self.me {
            Some(me) => may_decide(esc, me, vote).err(),
            None => Some(NotYours::NotApprover),
        }
    }

    pub fn mine_count(&self) -> usize {
        self.pending
            .iter()
            .filter(|e| self.not_mine(e).is_none())
            .count()
    }

    fn matches(&self, fields: &[&str]) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let needle = self.filter.to_lowercase();
        fields.iter().any(|f| f.to_lowercase().contains(&needle))
    }

    fn esc_matches(&self, e: &Escalation) -> bool {
        self.matches(&[&e.id, &e.action.agent, &e.action.tool, &e.rule.id, &e.group])
    }

    /// Indices into `pending` that the filter lets through, in queue order.
    pub fn queue_rows(&self) -> Vec<usize> {
        (0..self.pending.len())
            .filter(|&i| self.esc_matches(&self.pending[i]))
            .collect()
    }

    pub fn history_rows(&self) -> Vec<usize> {
        (0..self.history.len())
            .filter(|&i| self.esc_matches(&self.history[i]))
            .collect()
    }

    pub fn flagged_rows(&self) -> Vec<usize> {
        (0..self.flagged.len())
            .filter(|&i| {
                let f = &self.flagged[i];
                self.matches(&[&f.action.id, &f.action.agent, &f.action.tool, &f.rule.id])
            })
            .collect()
    }

    /// Global first, then every agent, then every tool seen or switched.
    pub fn switch_rows(&self) -> Vec<SwitchRow> {
        let mut scopes: Vec<String> = vec!["global".into()];
        let mut agents: Vec<String> = self.agents.iter().map(|a| a.id.clone()).collect();
        let mut tools: Vec<String> = Vec::new();
        for a in &self.activity {
            agents.push(a.agent.clone());
            tools.push(a.tool.clone());
        }
        for e in self.pending.iter().map(|e| &**e).chain(self.history.iter()) {
            agents.push(e.action.agent.clone());
            tools.push(e.action.tool.clone());
        }
        for f in &self.flagged {
            agents.push(f.action.agent.clone());
            tools.push(f.action.tool.clone());
        }
        for s in self.killswitches.keys() {
            if let Some(a) = s.strip_prefix("agent:") {
                agents.push(a.to_string());
            } else if let Some(t) = s.strip_prefix("tool:") {
                tools.push(t.to_string());
            }
        }
        agents.sort();
        agents.dedup();
        tools.sort();
        tools.dedup();
        scopes.extend(agents.into_iter().map(|a| format!("agent:{a}")));
        scopes.extend(tools.into_iter().map(|t| format!("tool:{t}")));
        scopes
            .into_iter()
            .filter(|s| self.matches(&[s]))
            .map(|scope| {
                let hit = |a: &ActionSummary| match scope.split_once(':') {
                    Some(("agent", id)) => a.agent == id,
                    Some(("tool", t)) => a.tool == t,
                    _ => true,
                };
                SwitchRow {
                    state: self.killswitches.get(&scope).cloned(),
                    last_activity: self.activity.iter().find(|a| hit(a)).cloned(),
                    actions: self.activity.iter().filter(|a| hit(a)).count(),
                    scope,
                }
            })
            .collect()
    }

    pub fn global_stopped(&self) -> bool {
        self.killswitches.get("global").is_some_and(|k| k.on)
    }

    /// The selected escalation in the queue or history view.
    pub fn selected_escalation(&self) -> Option<&Escalation> {
        match self.view {
            View::Queue => {
                let rows = self.queue_rows();
                rows.get(self.selected[0]).map(|&i| &*self.pending[i])
            }
            View::History => {
                let rows = self.history_rows();
                rows.get(self.selected[3]).map(|&i| &self.history[i])
            }
            _ => None,
        }
    }

    pub fn selected_flagged(&self) -> Option<&FlaggedAction> {
        let rows = self.flagged_rows();
        rows.get(self.selected[1]).map(|&i| &self.flagged[i])
    }

    pub fn row_count(&self) -> usize {
        match self.view {
            View::Queue => self.queue_rows().len(),
            View::Flagged => self.flagged_rows().len(),
            View::KillSwitches => self.switch_rows().len(),
            View::History => self.history_rows().len(),
        }
    }

    /// True when closing now would throw away typed text.
    pub fn half_typed(&self) -> bool {
        match &self.dialog {
            Some(Dialog::Decision(d)) => !d.reason.is_empty(),
            Some(Dialog::Flip(f)) => !f.reason.is_empty() || !f.confirm.is_empty(),
            Some(Dialog::Review(r)) => !r.note.is_empty(),
            _ => self.stashed.is_some(),
        }
    }

    pub fn unreviewed_flags(&self) -> usize {
        self.flagged.iter().filter(|f| f.review.is_none()).count()
    }
}
