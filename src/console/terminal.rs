//! Taking the terminal and giving it back on every exit path, panics included.
//!
//! Not `ratatui::init`/`restore`: their restore reports failure with `eprintln!`, which itself
//! panics when stderr is gone (a closed terminal window), and a panic inside the panic hook
//! aborts the process before the demo can stop its server and remove its temporary files.
//! Found by closing the demo's tmux window: exit by SIGABRT, temp dir left behind.

use std::io;
use std::sync::Once;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{enable_raw_mode, EnterAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::{DefaultTerminal, Terminal};

static HOOK: Once = Once::new();

/// Raw mode, the alternate screen, bracketed paste (pasted text arrives as one event, so a
/// newline in it is never an Enter), mouse capture (clicks and the wheel), and a panic hook that
/// gives the terminal back first.
pub fn take() -> io::Result<DefaultTerminal> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            give_back();
            previous(info);
        }));
    });
    enable_raw_mode()?;
    if let Err(e) = crossterm::execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableMouseCapture
    ) {
        give_back();
        return Err(e);
    }
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// Leave mouse capture, bracketed paste, raw mode and the alternate screen; silently, since
/// there may be no terminal left. A shell left with mouse capture on prints escape codes for
/// every click.
pub fn give_back() {
    let _ = crossterm::execute!(io::stdout(), DisableMouseCapture, DisableBracketedPaste);
    let _ = ratatui::try_restore();
}

/// Give the terminal back and drop it without ratatui's `Drop`, which `eprintln!`s (and so
/// panics) when showing the cursor fails on a terminal that is gone.
pub fn close(mut terminal: DefaultTerminal) {
    if terminal.show_cursor().is_err() {
        std::mem::forget(terminal);
    }
    give_back();
}
