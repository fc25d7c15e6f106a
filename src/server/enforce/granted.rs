//! A review that a standing grant covers becomes an allow that names the grant, its signer and
//! the rule whose review it replaces. Only reviews are looked at: kill switches, deny rules and
//! everything the policy decides otherwise stand as they are.

use super::ruling::{eval_input, Outcome, Ruling};
use crate::protocol::ActionRecord;
use crate::server::app::App;
use crate::server::grants::Covered;
use crate::server::roster::Agent;

/// The ruling, turned into an allow when a live grant covers its review; the grant's gate is
/// returned with it, to be held until the call's use is written.
pub(super) async fn consult<'a>(
    app: &'a App,
    agent: &Agent,
    record: &ActionRecord,
    ruling: Ruling<'a>,
) -> (Ruling<'a>, Option<tokio::sync::RwLockReadGuard<'a, ()>>) {
    let Outcome::Review { review, .. } = &ruling.outcome else {
        return (ruling, None);
    };
    let input = eval_input(record);
    let covered = app
        .grants
        .cover(&app.policy, &app.roster, agent, record, &input, review)
        .await;
    let Some(Covered { grant, rule, gate }) = covered else {
        return (ruling, None);
    };
    let reason = format!(
        "allowed by standing grant {} of {} ({}) instead of a review under rule \"{}\"; it expires {}",
        grant.id,
        grant.by,
        grant.reason,
        rule.id,
        grant
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let ruling = Ruling {
        outcome: Outcome::Granted { rule, grant },
        reason,
        ..ruling
    };
    (ruling, Some(gate))
}
