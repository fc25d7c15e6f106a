//! What flows into the console's loop: key presses, the server's stream, the connection's ups
//! and downs, answers to REST calls, the clock. `update` consumes these; the terminal, the
//! network tasks and tests produce them.

use crossterm::event::{KeyEvent, MouseEvent};

use crate::protocol::{
    AuditRecord, DecisionAck, Escalation, FlaggedAction, FlipAck, HistoryPage, ServerMessage,
    Timestamp,
};

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Server(ServerMessage),
    Connection(ConnEvent),
    Reply {
        request: u64,
        result: Result<Reply, RequestError>,
    },
    /// Text pasted into the terminal (bracketed paste): it only ever goes into a text field.
    Paste(String),
    Tick(Timestamp),
    Resize,
    /// A click or a wheel turn (mouse capture is on while the console runs).
    Mouse(MouseEvent),
    /// The terminal's size, at start and after every resize: what clicks are measured against.
    Screen {
        width: u16,
        height: u16,
    },
    NotifyUnavailable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnEvent {
    /// With several replicas: the stream tries the one at `index` (from 0) of the servers
    /// given, `url`; the status bar says which.
    Server {
        index: usize,
        url: String,
    },
    Connecting,
    /// The socket closed or could not open; the stream task retries after a backoff.
    Lost {
        attempt: u32,
        error: String,
    },
    /// The server rejected our authentication; the stream task has stopped.
    Refused {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Decision(DecisionAck),
    Flip(FlipAck),
    Review(Box<FlaggedAction>),
    /// A whole escalation, fetched because the stream's copy left values out.
    Escalation(Box<Escalation>),
    /// A page of audit records.
    Audit(Vec<AuditRecord>),
    /// A page of a history search.
    History(HistoryPage),
    /// A standing grant as created or revoked.
    Grant(Box<crate::protocol::Grant>),
    /// Limits in use and open breakers: a read, or what a breaker reset left.
    Usage(crate::protocol::UsageReport),
    /// The Metrics view's governance figures.
    Figures(Box<crate::protocol::GovernanceFigures>),
}

/// A refusal or failure of a REST call the console made, as the person should read it: the
/// server's error code and message, or what went wrong on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub code: String,
    pub message: String,
}
