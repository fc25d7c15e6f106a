//! Kill switches: which are on, which one stops a call, and what a signed flip must be. The
//! flip itself, which also cancels the pending escalations it covers, is the queue's
//! (`queue::flip`): it has to happen atomically with them.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::error::ApiError;
use super::roster::{Person, Roster, MAX_ID_LEN};
use crate::protocol::{KillSwitch, KillSwitchBody, Role, Scope, MAX_NAME_LEN};

/// The kill switches by scope. Read on every call, so a plain lock never held across an await.
#[derive(Default)]
pub(crate) struct KillSwitches {
    by_scope: RwLock<BTreeMap<String, KillSwitch>>,
}

impl KillSwitches {
    pub fn new(switches: Vec<KillSwitch>) -> Self {
        KillSwitches {
            by_scope: RwLock::new(switches.into_iter().map(|k| (k.scope.clone(), k)).collect()),
        }
    }

    /// The first switch that is on and covers this agent and tool.
    pub fn covering(&self, agent: &str, tool: &str) -> Option<KillSwitch> {
        self.read()
            .values()
            .filter(|k| k.on)
            .find(|k| Scope::parse(&k.scope).is_some_and(|s| s.covers(agent, tool)))
            .cloned()
    }

    /// Every switch ever flipped, on or off, by scope.
    pub fn all(&self) -> Vec<KillSwitch> {
        self.read().values().cloned().collect()
    }

    /// The switch of `scope`, if it was ever flipped.
    pub fn get(&self, scope: &str) -> Option<KillSwitch> {
        self.read().get(scope).cloned()
    }

    /// How many switches are on now.
    pub fn on_count(&self) -> usize {
        self.read().values().filter(|k| k.on).count()
    }

    /// Records a flip; only after it is durable.
    pub fn set(&self, switch: KillSwitch) {
        self.by_scope
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(switch.scope.clone(), switch);
    }

    fn exists(&self, scope: &Scope) -> bool {
        self.read().contains_key(&scope.to_string())
    }

    /// A writer that panicked left the map whole (inserts are single calls), so its poison is
    /// not a reason to stop enforcing.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, KillSwitch>> {
        self.by_scope.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a call or an escalation was stopped by the switch on `scope`.
pub fn kill_reason(scope: &str, reason: &str) -> String {
    format!("kill switch {scope} is on: {reason}")
}

/// What a signed flip by `operator` must be (after its signature and time are checked): by an
/// operator, for a scope that stops something, with a reason. Answers the parsed scope.
pub fn check_flip(
    roster: &Roster,
    switches: &KillSwitches,
    operator: &Person,
    body: &KillSwitchBody,
) -> Result<Scope, ApiError> {
    if !operator.info.has_role(Role::Operator) {
        return Err(ApiError::forbidden(
            "not_operator",
            "only people with the operator role flip kill switches",
        ));
    }
    let scope = Scope::parse(&body.scope).ok_or_else(|| {
        ApiError::bad_request("bad_scope", "scope must be global, agent:ID or tool:NAME")
    })?;
    check_scope(roster, switches, &scope, body.on)?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "a kill switch flip needs a reason",
        ));
    }
    Ok(scope)
}

/// A typo must not look like a working stop: an agent scope names a roster agent (an existing
/// switch may still be turned off after its agent left the roster); tool names are free-form
/// (a tool need not exist before it is stopped) but no longer than a tool name can be.
fn check_scope(
    roster: &Roster,
    switches: &KillSwitches,
    scope: &Scope,
    on: bool,
) -> Result<(), ApiError> {
    match scope {
        Scope::Agent(id) if roster.agent(id).is_none() && (on || !switches.exists(scope)) => {
            return Err(unknown_agent(roster, id));
        }
        Scope::Tool(name) if name.len() > MAX_NAME_LEN => {
            return Err(ApiError::bad_request(
                "bad_scope",
                format!("tool names in a scope are at most {MAX_NAME_LEN} bytes"),
            ));
        }
        _ => {}
    }
    Ok(())
}

fn unknown_agent(roster: &Roster, id: &str) -> ApiError {
    let mut known: Vec<&str> = roster.agents.iter().map(|a| a.id.as_str()).collect();
    known.sort_unstable();
    let more = known.len().saturating_sub(10);
    known.truncate(10);
    let mut list = known.join(", ");
    if more > 0 {
        list += &format!(" and {more} more");
    }
    let named = if id.len() <= MAX_ID_LEN {
        format!("{id:?}")
    } else {
        format!("with that id (ids are at most {MAX_ID_LEN} characters)")
    };
    ApiError::bad_request(
        "unknown_agent_scope",
        format!(
            "no agent {named} in the roster, so this switch would stop nothing (agents: {list})"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch(scope: &str, on: bool) -> KillSwitch {
        KillSwitch {
            scope: scope.into(),
            on,
            reason: format!("{scope} stopped"),
            by: "olga".into(),
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn only_a_switch_that_is_on_and_covers_the_call_stops_it() {
        let switches = KillSwitches::new(vec![
            switch("agent:refund-bot", false),
            switch("tool:stripe.refund", true),
        ]);
        assert_eq!(
            switches.covering("refund-bot", "orders.get"),
            None,
            "an off switch stops nothing"
        );
        let hit = switches.covering("any-bot", "stripe.refund").unwrap();
        assert_eq!(hit.scope, "tool:stripe.refund");
        assert_eq!(switches.covering("any-bot", "stripe.charge"), None);
        switches.set(switch("global", true));
        // The first in scope order decides: `agent:` < `global` < `tool:`.
        assert_eq!(
            switches.covering("x", "stripe.refund").unwrap().scope,
            "global"
        );
        switches.set(switch("agent:refund-bot", true));
        assert_eq!(
            switches.covering("refund-bot", "y").unwrap().scope,
            "agent:refund-bot"
        );
        assert_eq!(switches.all().len(), 3);
    }
}
