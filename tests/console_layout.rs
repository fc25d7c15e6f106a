//! A console that never misleads: columns sized to their content and the room there is, every
//! cut marked with `…`, times in the viewer's zone, colours the terminal can show, a kill
//! switch's detail on Enter, and one clear message when the terminal is too small.
//! Snapshots at 80×24 and 160×50, the two sizes people run the console at.

mod console_fixtures;

use crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};

use console_fixtures::*;
use gavel::console::event::Event;
use gavel::console::palette::ColorSupport;
use gavel::console::state::{State, View};
use gavel::console::theme::Theme;
use gavel::console::zone::Zone;
use gavel::protocol::*;

/// refund-bot's switch turned on by dave 5 s ago, cancelling esc-001 and esc-003; and an
/// agent whose name is longer than any column should be.
fn stopped_refund_bot() -> State {
    let mut s = live_state();
    let switch = KillSwitch {
        scope: "agent:refund-bot".into(),
        on: true,
        reason: "refund loop: 40 refunds in a minute for the same order".into(),
        by: "dave".into(),
        at: at(-5),
    };
    apply(
        &mut s,
        Event::Server(ServerMessage::KillSwitchChanged { killswitch: switch }),
    );
    for id in ["esc-001", "esc-003"] {
        let mut e = (**s.pending.iter().find(|e| e.id == id).unwrap()).clone();
        e.state = EscalationState::Cancelled;
        e.resolved_at = Some(at(-5));
        e.resolution_reason = Some(
            "kill switch agent:refund-bot is on: refund loop: 40 refunds in a minute for the \
             same order"
                .into(),
        );
        apply(
            &mut s,
            Event::Server(ServerMessage::EscalationResolved {
                escalation: Box::new(e),
            }),
        );
    }
    let long = escalation(
        "esc-005",
        "customer-support-refund-orchestrator-v2",
        "stripe.refunds.create_partial_with_metadata",
        1200,
    );
    apply(
        &mut s,
        Event::Server(ServerMessage::EscalationCreated {
            escalation: Box::new(long),
        }),
    );
    s
}

fn to_switch(s: &mut State, scope: &str) {
    while s.view != View::KillSwitches {
        key(s, KeyCode::Tab);
    }
    key(s, KeyCode::Home);
    while s.selected_scope() != Some(scope) {
        let before = s.selected[View::KillSwitches.index()];
        key(s, KeyCode::Down);
        assert_ne!(before, s.selected[2], "{scope} is not in the list");
    }
}

/// Every line of a screen fits its width, and none of `words` shows as a bare prefix of itself
/// (`stripe.refu`): cut, it ends in `…`.
fn nothing_cut_silently(screen: &str, w: usize, words: &[&str]) {
    for line in screen.lines() {
        assert!(
            unicode_width::UnicodeWidthStr::width(line) <= w,
            "too wide: {line}"
        );
    }
    for token in screen.split([' ', '│', '\n']) {
        for word in words {
            let silent = token.len() * 2 > word.len() && token != *word && word.starts_with(token);
            assert!(!silent, "{word} cut without …: {token}\n{screen}");
        }
    }
}

#[test]
fn queue_80x24() {
    let s = stopped_refund_bot();
    let screen = screen(&s, 80, 24);
    // The tool column fits its content at 80 columns: no more `stripe.refu`.
    assert!(screen.contains("postgres.execute"), "{screen}");
    assert!(screen.contains("customer-suppo…"), "{screen}");
    nothing_cut_silently(&screen, 80, &["postgres.execute", "deploy-production"]);
    insta::assert_snapshot!(screen);
}

#[test]
fn queue_160x50() {
    let s = stopped_refund_bot();
    let screen = screen(&s, 160, 50);
    nothing_cut_silently(
        &screen,
        160,
        &["stripe.refunds.create_partial_with_metadata"],
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn kill_switches_80x24() {
    let mut s = stopped_refund_bot();
    to_switch(&mut s, "agent:refund-bot");
    let screen = screen(&s, 80, 24);
    nothing_cut_silently(&screen, 80, &["agent:refund-bot", "tool:postgres.query"]);
    insta::assert_snapshot!(screen);
}

#[test]
fn kill_switches_160x50() {
    let mut s = stopped_refund_bot();
    to_switch(&mut s, "agent:refund-bot");
    let screen = screen(&s, 160, 50);
    // The scope column is as wide as its longest scope, not a fixed 26 beside empty space.
    let header = screen.lines().find(|l| l.contains("Scope")).unwrap();
    let gap = header.find("State").unwrap() - header.find("Scope").unwrap();
    assert_eq!(gap, "tool:postgres.query".len() + 1, "{header}");
    insta::assert_snapshot!(screen);
}

#[test]
fn kill_switch_detail_80x24() {
    let mut s = stopped_refund_bot();
    to_switch(&mut s, "agent:refund-bot");
    key(&mut s, KeyCode::Enter);
    assert!(
        s.detail_open && s.dialog.is_none(),
        "Enter opens, it does not flip"
    );
    let screen = screen(&s, 80, 24);
    insta::assert_snapshot!(screen);
}

#[test]
fn kill_switch_detail_160x50() {
    let mut s = stopped_refund_bot();
    to_switch(&mut s, "agent:refund-bot");
    key(&mut s, KeyCode::Enter);
    let screen = screen(&s, 160, 50);
    for want in [
        "Turned on by  dave",
        "09:29:55 UTC (5s ago)",
        "refund loop: 40 refunds in a minute",
        "esc-001",
        "esc-003",
    ] {
        assert!(screen.contains(want), "{want} missing:\n{screen}");
    }
    // Only what this flip cancelled: esc-002 (another agent) is not listed.
    assert!(!screen.contains("esc-002"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn a_switch_that_is_off_says_what_turning_it_on_would_cancel() {
    let mut s = live_state();
    to_switch(&mut s, "agent:refund-bot");
    key(&mut s, KeyCode::Enter);
    let screen = screen(&s, 100, 30);
    assert!(screen.contains("never turned on"), "{screen}");
    assert!(
        screen.contains("2 in scope; turning it on cancels them"),
        "{screen}"
    );
    // Esc closes the detail; Space is still the flip, and asks first.
    key(&mut s, KeyCode::Esc);
    assert!(!s.detail_open);
    key(&mut s, KeyCode::Char(' '));
    assert!(s.dialog.is_some());
}

#[test]
fn wrapped_detail_lines_keep_their_indent() {
    let mut s = live_state();
    key(&mut s, KeyCode::Enter);
    let screen = screen(&s, 60, 40);
    // The rationale wraps under itself, the condition under its value.
    let lines: Vec<&str> = screen.lines().collect();
    let r = lines
        .iter()
        .position(|l| l.contains("Customer reported"))
        .unwrap();
    assert!(lines[r + 1].starts_with("│  "), "{}", lines[r + 1]);
    assert!(!lines[r + 1].starts_with("│   "), "{}", lines[r + 1]);
    let c = lines.iter().position(|l| l.contains("Condition")).unwrap();
    assert!(
        lines[c + 1].starts_with(&format!("│{}", " ".repeat(14))),
        "{}",
        lines[c + 1]
    );
}

#[test]
fn times_are_in_the_viewers_zone() {
    let mut s = stopped_refund_bot();
    s.zone = Zone::Named("Europe/Berlin".parse().unwrap());
    to_switch(&mut s, "agent:mailer");
    let list = screen(&s, 160, 50);
    // dave turned mailer's switch on at 09:26:40 UTC: the list and its detail pane say 10:26:40.
    assert!(list.contains("10:26:40"), "{list}");
    assert!(!list.contains("09:26:40"), "{list}");
    key(&mut s, KeyCode::Enter);
    let detail = screen(&s, 100, 30);
    assert!(detail.contains("10:26:40 CET (3m 20s ago)"), "{detail}");
    // The escalation detail's deadline too.
    let mut q = live_state();
    q.zone = Zone::Named("America/New_York".parse().unwrap());
    key(&mut q, KeyCode::Enter);
    let detail = screen(&q, 100, 40);
    assert!(detail.contains("(at 05:30:45 EDT)"), "{detail}");
}

#[test]
fn too_small_says_so() {
    let s = live_state();
    for (w, h) in [(59, 24), (80, 15)] {
        let screen = screen(&s, w, h);
        assert!(screen.contains("Terminal too small"), "{screen}");
        assert!(
            screen.contains(&format!("{w}×{h} here; gavel needs at least 60×16.")),
            "{screen}"
        );
        assert!(!screen.contains("Pending"), "{screen}");
    }
    insta::assert_snapshot!(screen(&s, 59, 16));
    // At the minimum, the console itself.
    assert!(screen(&s, 60, 16).contains("Pending 4"));
}

/// The style of every cell of a rendered screen.
fn styles(s: &State, w: u16, h: u16) -> Vec<(Color, Color, Modifier, String)> {
    let term = render(s, w, h);
    let b = term.backend().buffer();
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let c = &b[(x, y)];
            out.push((c.fg, c.bg, c.modifier, c.symbol().to_string()));
        }
    }
    out
}

#[test]
fn no_color_keeps_emphasis_only() {
    for name in ["dark", "light", "high-contrast"] {
        let mut s = live_state();
        s.theme = Theme::built_in(name)
            .unwrap()
            .for_terminal(ColorSupport::None);
        let cells = styles(&s, 140, 36);
        assert!(
            cells
                .iter()
                .all(|(fg, bg, _, _)| *fg == Color::Reset && *bg == Color::Reset),
            "{name}: a colour survived NO_COLOR"
        );
        // The selected row and tab are reverse video; the urgent countdown is bold.
        let reversed: String = cells
            .iter()
            .filter(|c| c.2.contains(Modifier::REVERSED))
            .map(|c| c.3.as_str())
            .collect();
        assert!(reversed.contains("Queue (4)"), "{name}: {reversed}");
        assert!(reversed.contains("refund-bot"), "{name}: {reversed}");
        let bold: String = cells
            .iter()
            .filter(|c| c.2.contains(Modifier::BOLD))
            .map(|c| c.3.as_str())
            .collect();
        assert!(bold.contains("‼ 45s"), "{name}: {bold}");
    }
}

#[test]
fn sixteen_colour_terminals_get_ansi_colours() {
    let ansi = |c: Color| !matches!(c, Color::Rgb(..) | Color::Indexed(..));
    for name in ["dark", "light", "high-contrast"] {
        let mut s = stopped_refund_bot();
        s.theme = Theme::built_in(name)
            .unwrap()
            .for_terminal(ColorSupport::Ansi16);
        for v in 0..4 {
            let cells = styles(&s, 160, 50);
            assert!(
                cells.iter().all(|(fg, bg, _, _)| ansi(*fg) && ansi(*bg)),
                "{name}, view {v}: an RGB colour reached a 16-colour terminal"
            );
            key(&mut s, KeyCode::Tab);
        }
        // Meaning keeps its hue: approved/ok stays green, danger red.
        let t = &s.theme;
        assert!(matches!(t.ok, Color::Green | Color::LightGreen), "{name}");
        assert!(matches!(t.danger, Color::Red | Color::LightRed), "{name}");
    }
    // A true-colour terminal keeps the theme as written.
    let dark = Theme::built_in("dark").unwrap();
    assert_eq!(dark.clone().for_terminal(ColorSupport::TrueColor), dark);
}
