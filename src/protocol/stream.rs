//! The WebSocket stream (`GET /v1/stream`): its messages and the bounds every message keeps.
//! See `docs/PROTOCOL.md`, section `GET /v1/stream`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::grants::Grant;
use super::wire::{ActionSummary, AgentInfo, Escalation, FlaggedAction, KillSwitch, PersonInfo};

/// No stream message is larger than this (its JSON text, in bytes), whatever agents send and
/// however many escalations wait: a console accepts every message the server sends.
pub const MAX_STREAM_MESSAGE_BYTES: usize = 1024 * 1024;
/// An agent-supplied JSON value (arguments, context, an earlier call's arguments) whose JSON is
/// larger than this is left out of stream messages and listed in `elided`;
/// `GET /v1/escalations/{id}` returns it in full.
pub const STREAM_INLINE_VALUE_BYTES: usize = 8 * 1024;

/// Close code: the authentication is missing, unknown or does not verify.
pub const CLOSE_AUTH: u16 = 4001;
/// Close code: the person is in the roster but has no role, so may read nothing.
pub const CLOSE_NO_ROLE: u16 = 4003;

/// A value a stream message left out to stay within its bound. In the message, the value itself
/// is replaced by the string `"<elided: N bytes>"`; only `elided` says what was left out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Elided {
    /// Where the value was: `action.args`, `action.context` or `history.N.args`.
    pub field: String,
    /// The size of the value's JSON, in bytes.
    pub bytes: u64,
}

/// The field path of an escalation's or flagged action's arguments.
pub const ELIDED_ARGS: &str = "action.args";

impl Escalation {
    /// The arguments were left out of this copy: it is not what an approval covers, so nobody
    /// may sign on it before fetching the escalation in full.
    pub fn args_elided(&self) -> Option<&Elided> {
        self.elided.iter().find(|e| e.field == ELIDED_ARGS)
    }
}

/// What an elided value is replaced by in the message.
pub fn elided_placeholder(bytes: u64) -> String {
    format!("<elided: {bytes} bytes>")
}

/// The WebSocket stream's first message: sign it to authenticate (purpose `stream-auth`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct StreamAuth {
    pub nonce: String,
    pub person: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Answer to the challenge: `signature` over `StreamAuth{nonce, person}`.
    Auth {
        person: String,
        signature: String,
    },
    Ping,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ServerInfo {
    pub version: String,
    pub policy_version: String,
}

fn one() -> u32 {
    1
}

/// The state a console starts from, sent in `parts` messages (part 1 of N, 2 of N…) so each
/// stays within `MAX_STREAM_MESSAGE_BYTES`; every list of a later part continues the same list
/// of the earlier parts. The snapshot is whole once part N arrived.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Snapshot {
    /// Pending escalations, soonest deadline first.
    pub escalations: Vec<Escalation>,
    /// Flagged actions not yet reviewed, then the most recently reviewed.
    pub flagged: Vec<FlaggedAction>,
    pub killswitches: Vec<KillSwitch>,
    /// Recently resolved escalations, newest first.
    pub history: Vec<Escalation>,
    pub agents: Vec<AgentInfo>,
    /// Recent actions, newest first.
    pub activity: Vec<ActionSummary>,
    /// Live standing grants (neither expired nor revoked), soonest to expire first.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// This part's number, from 1.
    #[serde(default = "one")]
    pub part: u32,
    /// How many parts the snapshot has.
    #[serde(default = "one")]
    pub parts: u32,
}

impl Snapshot {
    /// A whole snapshot in one part.
    pub fn whole(
        escalations: Vec<Escalation>,
        flagged: Vec<FlaggedAction>,
        killswitches: Vec<KillSwitch>,
        history: Vec<Escalation>,
        agents: Vec<AgentInfo>,
        activity: Vec<ActionSummary>,
    ) -> Snapshot {
        Snapshot {
            escalations,
            flagged,
            killswitches,
            history,
            agents,
            activity,
            grants: Vec::new(),
            part: 1,
            parts: 1,
        }
    }

    /// Appends a later part's lists to this one's.
    pub fn extend(&mut self, next: Snapshot) {
        self.escalations.extend(next.escalations);
        self.flagged.extend(next.flagged);
        self.killswitches.extend(next.killswitches);
        self.history.extend(next.history);
        self.agents.extend(next.agents);
        self.activity.extend(next.activity);
        self.grants.extend(next.grants);
        self.part = next.part;
        self.parts = next.parts;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Challenge {
        nonce: String,
    },
    Welcome {
        person: PersonInfo,
        server: ServerInfo,
    },
    Snapshot(Box<Snapshot>),
    EscalationCreated {
        escalation: Box<Escalation>,
    },
    EscalationUpdated {
        escalation: Box<Escalation>,
    },
    EscalationResolved {
        escalation: Box<Escalation>,
    },
    Flagged {
        flagged: Box<FlaggedAction>,
    },
    FlagReviewed {
        flagged: Box<FlaggedAction>,
    },
    KillSwitchChanged {
        killswitch: KillSwitch,
    },
    Action {
        action: ActionSummary,
    },
    /// A standing grant was created, revoked or used: its full new state.
    GrantChanged {
        grant: Box<Grant>,
    },
    Pong,
}
