//! Pure render functions of `&State`. Nothing here changes state or touches the network.

mod cursor;
mod detail;
mod dialogs;
mod format;
mod help;
mod hint;
pub mod hit;
mod json;
mod layout;
mod lists;
mod queue;
mod status;

use ratatui::widgets::Block;
use ratatui::Frame;

use super::state::{State, View};

pub use help::help_max_scroll;
pub use json::json_lines;
use layout::areas;

pub fn render(f: &mut Frame, s: &State) {
    let area = f.area();
    f.render_widget(Block::default().style(s.theme.base()), area);
    let [tabs, main, message, status] = areas(area);
    status::tabs(f, tabs, s);
    match s.view {
        View::Queue => queue::render(f, main, s),
        View::Flagged => lists::flagged(f, main, s),
        View::KillSwitches => lists::killswitches(f, main, s),
        View::History => lists::history(f, main, s),
    }
    status::message(f, message, s);
    status::status_bar(f, status, s);
    dialogs::render(f, area, s);
}
