//! The console's state: pure data, changed only by `update`. Views borrow it. What each view
//! lists (and which item is selected) is in `rows`; the dialogs' drafts are in `dialog`.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use crate::protocol::{
    may_decide, ActionSummary, AgentInfo, Escalation, FlagVerdict, FlaggedAction, Grant,
    KillSwitch, NotYours, PersonInfo, Scope, ServerInfo, Snapshot, Timestamp, Vote,
};

use super::budget_state::BudgetsState;
use super::dialog::{DecisionDraft, Dialog};
use super::keymap::Keymap;
use super::lookups::AuditState;
use super::lookups::HistorySearch;
use super::text_field::TextField;
use super::theme::Theme;
use super::zone::Zone;

/// How many resolved escalations and activity lines we keep.
pub const HISTORY_CAP: usize = 500;
pub const ACTIVITY_CAP: usize = 200;
/// How many recently seen tools the kill switch view offers (besides switched ones): every
/// tool name an agent sends must not add a row forever.
pub const RECENT_TOOLS_CAP: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Queue,
    Flagged,
    KillSwitches,
    History,
    Audit,
    Grants,
    Budgets,
    Metrics,
}

/// How many views there are (the per-view selection arrays' length).
pub const VIEWS: usize = 8;

impl View {
    pub const ALL: [View; VIEWS] = [
        View::Queue,
        View::Flagged,
        View::KillSwitches,
        View::History,
        View::Audit,
        View::Grants,
        View::Budgets,
        View::Metrics,
    ];
    pub fn title(self) -> &'static str {
        match self {
            View::Queue => "Queue",
            View::Flagged => "Flagged",
            View::KillSwitches => "Kill switches",
            View::History => "History",
            View::Audit => "Audit",
            View::Grants => "Grants",
            View::Budgets => "Budgets",
            View::Metrics => "Metrics",
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
    /// An extend, claim, snooze or reassign (`workflow`); `what` names it for messages.
    Handle {
        escalation: String,
        what: &'static str,
    },
    /// The whole escalation, for one whose stream copy left values out.
    Fetch {
        escalation: String,
    },
    /// One decision of a batch: its answer goes to the batch dialog's row.
    BatchDecide {
        escalation: String,
        vote: Vote,
    },
    /// A page of the Audit view's query.
    Audit,
    /// A page of a history search on the server.
    History,
    /// The Metrics view's governance figures.
    Figures,
    /// A standing grant made from the approve dialog of `escalation`.
    Grant {
        escalation: String,
    },
    Revoke {
        grant: String,
    },
    /// A read of `GET /v1/usage` for the Budgets view.
    Usage,
    /// An operator's reset of one breaker of an agent.
    ResetBreaker {
        agent: String,
        breaker: String,
    },
}

/// A fetch of a whole escalation that has not succeeded (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    InFlight,
    Failed(String),
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

pub struct State {
    /// The server the stream is on, or trying: with several replicas, the current one.
    pub server_url: String,
    /// How many servers (replicas) the console was given, and which of them `server_url` is
    /// (from 0): the status bar names the replica when there are several.
    pub replicas: usize,
    pub replica: usize,
    /// The key's id; the server's welcome says who that is.
    pub key_id: String,
    pub me: Option<PersonInfo>,
    pub server: Option<ServerInfo>,
    pub connection: Connection,
    pub now: Timestamp,
    /// Pending escalations, soonest deadline first. Boxed so that inserting into a queue of
    /// thousands moves pointers, not ~1 KB structs (a burst of 10,000 stays fast).
    /// Changed other than by `update`'s server and reply events, call `pending_changed`.
    #[allow(clippy::vec_box)]
    pub pending: Vec<Box<Escalation>>,
    /// Moves whenever `pending` may have changed: what `queue_cache` is valid for.
    pub pending_rev: u64,
    /// The queue's rows and counts, kept between frames (`queue_index`).
    pub queue_cache: super::queue_cache::QueueCache,
    /// Resolved escalations, newest first.
    pub history: VecDeque<Escalation>,
    pub flagged: Vec<FlaggedAction>,
    pub killswitches: BTreeMap<String, KillSwitch>,
    pub agents: Vec<AgentInfo>,
    /// Recent actions, newest first.
    pub activity: VecDeque<ActionSummary>,
    /// Standing grants by id, as the stream last told (the Grants view shows the live ones).
    pub grants: BTreeMap<String, Grant>,
    /// Grants made in an approve dialog, by escalation: sent once the approval is accepted
    /// (`true` when it is), dropped when it is refused.
    pub grants_queued: BTreeMap<String, (crate::client::GrantRequest, bool)>,
    pub view: View,
    /// Selection per view, as an index into that view's filtered rows (follows `selected_key`).
    pub selected: [usize; VIEWS],
    /// What is selected in each view: an escalation id (queue, history), an action id
    /// (flagged), a scope (kill switches). The cursor follows the item, not the row number.
    pub selected_key: [Option<String>; VIEWS],
    pub detail_open: bool,
    pub detail_scroll: u16,
    /// The earlier call whose full args the detail shows: (escalation id, index into its
    /// `history`). Only for that escalation; any other shows none open.
    pub prior_open: Option<(String, usize)>,
    /// True until the person presses a key: until then the queue's cursor rests on the first
    /// escalation they may decide (`selection`), not on one they can only look at.
    pub cursor_untouched: bool,
    pub filter: TextField,
    pub filter_editing: bool,
    /// Show the escalations I snoozed in the queue anyway (`workflow`).
    pub show_snoozed: bool,
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
    /// A snapshot whose parts are still arriving; applied whole once the last part is in.
    pub incoming: Option<Box<Snapshot>>,
    /// When the stream stopped being live: what the console shows is the state as of then.
    pub live_until: Option<Timestamp>,
    /// Tools seen most recently, newest first, at most `RECENT_TOOLS_CAP`.
    pub recent_tools: VecDeque<String>,
    /// Whole escalations being fetched, or that could not be, by id.
    pub fetches: BTreeMap<String, Fetch>,
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
    /// The viewer's time zone: every time shown is in it (UTC until the console resolves `TZ`).
    pub zone: Zone,
    /// Queue rows marked for a batch decision (escalation ids); dropped as they resolve.
    pub marks: BTreeSet<String>,
    /// The deny-all prefix key was pressed: the next key says agent or session.
    pub deny_all_prefix: bool,
    pub audit: AuditState,
    /// The Metrics view: its window and the figures last fetched.
    pub figures: super::figures_state::FiguresState,
    /// A history search on the server; while set, the History view shows its results.
    pub history_search: Option<HistorySearch>,
    /// How far the help popup is scrolled, in rows.
    pub help_scroll: u16,
    /// The terminal's size (columns, rows) once known: what a mouse click is measured against.
    pub screen: Option<(u16, u16)>,
    /// Each limit's use and the open breakers, as last read from the server.
    pub budgets: BudgetsState,
}

impl State {
    pub fn new(server_url: &str, key_id: &str, now: Timestamp) -> State {
        State {
            server_url: server_url.to_string(),
            replicas: 1,
            replica: 0,
            key_id: key_id.to_string(),
            me: None,
            server: None,
            connection: Connection::Connecting,
            now,
            pending: Vec::new(),
            pending_rev: 0,
            queue_cache: Default::default(),
            history: VecDeque::new(),
            flagged: Vec::new(),
            killswitches: BTreeMap::new(),
            agents: Vec::new(),
            activity: VecDeque::new(),
            grants: BTreeMap::new(),
            grants_queued: BTreeMap::new(),
            view: View::Queue,
            selected: [0; VIEWS],
            selected_key: Default::default(),
            detail_open: false,
            detail_scroll: 0,
            prior_open: None,
            cursor_untouched: true,
            filter: TextField::default(),
            filter_editing: false,
            show_snoozed: false,
            dialog: None,
            stashed: None,
            message: None,
            in_flight: BTreeMap::new(),
            next_request: 1,
            notified: HashSet::new(),
            resynced: false,
            incoming: None,
            live_until: None,
            recent_tools: VecDeque::new(),
            fetches: BTreeMap::new(),
            warned: HashSet::new(),
            note: None,
            notify_desktop: true,
            notify_bell: true,
            quit: false,
            pending_quit: false,
            keymap: Keymap::default(),
            theme: Theme::default(),
            zone: Zone::default(),
            marks: BTreeSet::new(),
            deny_all_prefix: false,
            audit: AuditState::default(),
            figures: Default::default(),
            history_search: None,
            help_scroll: 0,
            screen: None,
            budgets: BudgetsState::default(),
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
        self.queue_summary().mine
    }

    /// How many pending escalations turning `scope` on would cancel, as this console sees them.
    pub fn cancels_if_on(&self, scope: &str) -> usize {
        let Some(scope) = Scope::parse(scope) else {
            return 0;
        };
        self.pending
            .iter()
            .filter(|e| scope.covers(&e.action.agent, &e.action.tool))
            .count()
    }

    /// Requests that change something (decisions, flips, reviews), not fetches.
    pub fn sending(&self) -> usize {
        self.in_flight
            .values()
            .filter(|r| {
                !matches!(
                    r,
                    Request::Fetch { .. }
                        | Request::Audit
                        | Request::History
                        | Request::Usage
                        | Request::Figures
                )
            })
            .count()
    }

    pub fn global_stopped(&self) -> bool {
        self.killswitches.get("global").is_some_and(|k| k.on)
    }

    /// Shows `text` on the message line.
    pub(super) fn say(&mut self, level: Level, text: String) {
        self.message = Some(Message {
            level,
            text,
            at: self.now,
        });
    }

    /// True when closing now would throw away typed text.
    pub fn half_typed(&self) -> bool {
        match &self.dialog {
            Some(Dialog::Decision(d)) => !d.reason.is_empty(),
            Some(Dialog::Flip(f)) => !f.reason.is_empty() || !f.confirm.is_empty(),
            Some(Dialog::Review(r)) => !r.note.is_empty(),
            Some(Dialog::Batch(b)) => !b.sent && !b.reason.is_empty(),
            Some(Dialog::Handling(h)) => !h.reason.is_empty(),
            Some(Dialog::Revoke(r)) => !r.reason.is_empty(),
            Some(Dialog::BreakerReset(r)) => !r.reason.is_empty(),
            _ => self.stashed.is_some(),
        }
    }

    pub fn unreviewed_flags(&self) -> usize {
        self.flagged.iter().filter(|f| f.review.is_none()).count()
    }
}
