//! Two things several key handlers do, kept below them all: quit (asking first when text is
//! half typed) and fetch an escalation whole. Part of `update`.

use super::command::Command;
use super::state::{Fetch, Request, State};

/// Quits, or asks first when a decision or note is half typed.
pub fn quit(s: &mut State, fx: &mut Vec<Command>) {
    if s.half_typed() {
        s.pending_quit = true;
    } else {
        s.quit = true;
        fx.push(Command::Quit);
    }
}

/// Asks the server for the whole escalation.
pub fn fetch(s: &mut State, escalation: String, fx: &mut Vec<Command>) {
    if s.fetches.get(&escalation) == Some(&Fetch::InFlight) {
        return;
    }
    s.fetches.insert(escalation.clone(), Fetch::InFlight);
    let request = s.next_request;
    s.next_request += 1;
    s.in_flight.insert(
        request,
        Request::Fetch {
            escalation: escalation.clone(),
        },
    );
    fx.push(Command::Fetch {
        request,
        escalation,
    });
}
