//! What `update` asks the outside world to do: REST calls, notifications, quitting. The driver
//! runs these; `update` itself never does I/O. (Not to be confused with `protocol::Effect`, a
//! policy rule's outcome.)

use crate::protocol::{Escalation, FlagVerdict, Vote};

use super::state::State;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Decide {
        request: u64,
        escalation: Box<Escalation>,
        vote: Vote,
        reason: String,
    },
    Flip {
        request: u64,
        scope: String,
        on: bool,
        reason: String,
    },
    Review {
        request: u64,
        action: String,
        verdict: FlagVerdict,
        note: String,
    },
    /// A signed extend, claim, snooze or reassign (`workflow`).
    Handle {
        request: u64,
        escalation: String,
        call: super::handling::HandlingCall,
    },
    /// `POST /v1/grants`: a standing grant, signed by the console's key.
    Grant {
        request: u64,
        grant: crate::client::GrantRequest,
    },
    /// `POST /v1/grants/{id}/revoke`.
    Revoke {
        request: u64,
        grant: String,
        reason: String,
    },
    /// `GET /v1/escalations/{id}`: the whole escalation.
    Fetch {
        request: u64,
        escalation: String,
    },
    /// `GET /v1/audit?…`: a page of the Audit view's query (the query encoded).
    Audit {
        request: u64,
        query: String,
    },
    /// `GET /v1/history?…`: a page of a history search (the query encoded).
    History {
        request: u64,
        query: String,
    },
    /// `GET /v1/usage`: every limit's use and the open breakers, for the Budgets view.
    Usage {
        request: u64,
    },
    /// `POST /v1/breakers/reset`: an operator's signed reset of one breaker of an agent.
    ResetBreaker {
        request: u64,
        agent: String,
        breaker: String,
        reason: String,
    },
    /// `GET /v1/governance?window=…`: the Metrics view's figures.
    Figures {
        request: u64,
        window: String,
    },
    Notify {
        title: String,
        body: String,
    },
    Bell,
    Quit,
}

/// The notifications the person wants (desktop, bell) for one piece of news.
pub(super) fn notify(s: &State, commands: &mut Vec<Command>, title: String, body: String) {
    if s.notify_desktop {
        commands.push(Command::Notify { title, body });
    }
    if s.notify_bell {
        commands.push(Command::Bell);
    }
}
