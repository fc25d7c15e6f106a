//! Which keymap section applies in which view.

use super::keymap::Section;
use super::state::View;

/// The section whose bindings apply in a view (besides the global ones).
pub fn section_of(view: View) -> Section {
    match view {
        View::Queue => Section::Queue,
        View::Flagged => Section::Flagged,
        View::KillSwitches => Section::KillSwitches,
        View::History => Section::History,
        View::Audit => Section::Audit,
        View::Grants => Section::Grants,
        View::Budgets => Section::Budgets,
        View::Metrics => Section::Metrics,
    }
}
