//! Pure render functions of `&State`. Nothing here changes state or touches the network.

mod agent_wait;
mod audit;
mod batch;
mod budget_text;
mod budgets;
mod cursor;
mod detail;
mod dialogs;
mod format;
mod forms;
mod grants;
mod help;
mod hint;
pub mod hit;
mod json;
mod killswitch;
mod layout;
mod lists;
mod metrics;
mod popup;
pub mod prior;
mod queue;
mod status;
mod workflow;
mod wrap;

use ratatui::widgets::Block;
use ratatui::Frame;

use super::state::{State, View};

pub use detail::escalation_lines;
pub use help::help_max_scroll;
pub use json::json_lines;
use layout::areas;

pub fn render(f: &mut Frame, s: &State) {
    let area = f.area();
    f.render_widget(Block::default().style(s.theme.base()), area);
    if layout::too_small(area) {
        return layout::render_too_small(f, area, s);
    }
    let [tabs, main, message, status] = areas(area);
    // The queue's title and the status bar both say how many are yours: one count of a queue
    // of thousands per frame, not one for each.
    let mine = s.mine_count();
    status::tabs(f, tabs, s);
    match s.view {
        View::Queue => queue::render(f, main, s, mine),
        View::Flagged => lists::flagged(f, main, s),
        View::KillSwitches => killswitch::render(f, main, s),
        View::History => lists::history(f, main, s),
        View::Audit => audit::render(f, main, s),
        View::Grants => grants::render(f, main, s),
        View::Budgets => budgets::render(f, main, s),
        View::Metrics => metrics::render(f, main, s),
    }
    status::message(f, message, s);
    status::status_bar(f, status, s, mine);
    dialogs::render(f, area, s);
    workflow::render_dialog(f, area, s);
}
