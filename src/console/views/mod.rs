//! Pure render functions of `&State`. Nothing here changes state or touches the network.

mod detail;
mod dialogs;
mod format;
mod grants;
mod json;
mod layout;
mod lists;
mod queue;
mod status;

use ratatui::layout::{Constraint, Layout};
use ratatui::widgets::Block;
use ratatui::Frame;

use super::state::{State, View};

pub use json::json_lines;

pub fn render(f: &mut Frame, s: &State) {
    let area = f.area();
    f.render_widget(Block::default().style(s.theme.base()), area);
    let [tabs, main, message, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    status::tabs(f, tabs, s);
    match s.view {
        View::Queue => queue::render(f, main, s),
        View::Flagged => lists::flagged(f, main, s),
        View::KillSwitches => lists::killswitches(f, main, s),
        View::History => lists::history(f, main, s),
        View::Grants => grants::render(f, main, s),
    }
    status::message(f, message, s);
    status::status_bar(f, status, s);
    dialogs::render(f, area, s);
}
