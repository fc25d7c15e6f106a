//! Anomaly flags, after the rules: a call the rules allow that is unusual for its agent (a
//! tool it never called, a rate well above its own) is flagged for a lead's review instead.
//! Only an allow becomes a flag: nothing is loosened, and denials, reviews and calls a standing
//! grant allowed (each use already audited) stand as they are.

use super::ruling::{Outcome, Ruling};
use crate::protocol::{ActionRecord, Timestamp};
use crate::server::app::App;

pub(super) fn flag<'p>(
    app: &App,
    record: &ActionRecord,
    ruling: Ruling<'p>,
    now: Timestamp,
) -> Ruling<'p> {
    let Outcome::Allow { rule } = &ruling.outcome else {
        return ruling;
    };
    let rule = *rule;
    match app
        .governance
        .anomaly
        .unusual(&record.agent, &record.tool, now)
    {
        Some(why) => Ruling {
            outcome: Outcome::Flag { rule },
            reason: format!(
                "flagged as unusual: {why}; otherwise allowed by rule \"{}\": {}",
                rule.id, ruling.reason
            ),
            ..ruling
        },
        None => ruling,
    }
}
