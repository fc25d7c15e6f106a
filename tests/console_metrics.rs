//! The console's Metrics view, driven headless: the governance figures fetched on entering the
//! view, on the window keys and on refresh, stale answers dropped, and the view drawn from
//! constructed figures at 80×24 and 120×40 (fixed clock, so nothing volatile is recorded).

mod console_fixtures;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use console_fixtures::*;
use gavel::console::command::Command;
use gavel::console::event::{Event, Reply, RequestError};
use gavel::console::state::{State, View};
use gavel::console::update::update;
use gavel::protocol::*;

fn press(s: &mut State, c: char) -> Vec<Command> {
    update(
        s,
        Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    )
}

/// The one figures request among `fx`: its id and window.
fn asked(fx: &[Command]) -> Option<(u64, String)> {
    let asks: Vec<_> = fx
        .iter()
        .filter_map(|c| match c {
            Command::Figures { request, window } => Some((*request, window.clone())),
            _ => None,
        })
        .collect();
    assert!(asks.len() <= 1, "{asks:?}");
    asks.into_iter().next()
}

/// Tabs to the Metrics view: the key that enters it asks for the figures.
fn to_metrics(s: &mut State) -> (u64, String) {
    let mut last = Vec::new();
    while s.view != View::Metrics {
        assert_eq!(asked(&last), None, "no fetch outside the view");
        last = update(
            s,
            Event::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)),
        );
    }
    asked(&last).expect("entering the view fetches")
}

fn person(name: &str, approvals: u64, denials: u64, median: Option<f64>) -> PersonFigures {
    PersonFigures {
        person: name.into(),
        approvals,
        denials,
        median_secs_to_approve: median,
    }
}

fn figures() -> GovernanceFigures {
    let pattern = [
        0u64, 1, 3, 2, 5, 8, 4, 2, 1, 0, 6, 9, 12, 7, 3, 2, 4, 5, 1, 0, 2, 3, 8, 10,
    ];
    let series = pattern
        .iter()
        .enumerate()
        .map(|(i, &n)| FigureBucket {
            start: at(-3600 + 150 * i as i64),
            calls: n * 4,
            denies: n / 2,
            reviews: n,
            decided: n.saturating_sub(1),
            expired: u64::from(i % 7 == 3),
        })
        .collect();
    GovernanceFigures {
        window_secs: 3600,
        from: at(-3600),
        to: t0(),
        calls: 392,
        policy_denies: 41,
        governance_denies: 7,
        reviews: 98,
        flags: 12,
        policy_deny_rate: Some(41.0 / 392.0),
        intervention_rate: Some(110.0 / 392.0),
        resolved: 90,
        decided: 84,
        expired: 4,
        time_to_decide_mean_secs: Some(74.5),
        time_to_decide_p90_secs: Some(412.0),
        expiry_rate: Some(4.0 / 90.0),
        approvals_per_person: vec![
            person("carol", 41, 0, Some(3.2)),
            person("bob", 22, 6, Some(95.0)),
            person("alice", 9, 3, Some(240.0)),
            person("dave", 2, 0, Some(1.0)),
        ],
        killswitch_to_first_deny: vec![
            KillswitchBite {
                scope: "tool:email.send".into(),
                flipped_at: at(-600),
                first_deny_after_secs: Some(2.4),
            },
            KillswitchBite {
                scope: "agent:refund-bot".into(),
                flipped_at: at(-2400),
                first_deny_after_secs: None,
            },
        ],
        series,
    }
}

#[test]
fn window_keys_refetch_and_stay_within_the_windows() {
    let mut s = live_state();
    let (_, window) = to_metrics(&mut s);
    assert_eq!(window, "1h");
    assert_eq!(asked(&press(&mut s, ']')).unwrap().1, "24h");
    assert_eq!(asked(&press(&mut s, ']')).unwrap().1, "7d");
    assert_eq!(asked(&press(&mut s, ']')), None, "7d is the longest");
    for want in ["24h", "1h", "15m"] {
        assert_eq!(asked(&press(&mut s, '[')).unwrap().1, want);
    }
    assert_eq!(asked(&press(&mut s, '[')), None, "15m is the shortest");
    assert_eq!(asked(&press(&mut s, 'r')).unwrap().1, "15m");
    assert_eq!(s.figures.window(), "15m");
    // Elsewhere the window keys do nothing.
    key(&mut s, KeyCode::Tab);
    assert_ne!(s.view, View::Metrics);
    assert_eq!(asked(&press(&mut s, ']')), None);
    assert_eq!(s.figures.window(), "15m");
}

#[test]
fn only_the_latest_answer_is_shown_and_reentering_fetches_again() {
    let mut s = live_state();
    let (first, _) = to_metrics(&mut s);
    let (second, window) = asked(&press(&mut s, ']')).unwrap();
    assert_eq!(window, "24h");
    // The 1h answer arrives after the window changed: not shown as the 24h figures.
    apply(
        &mut s,
        Event::Reply {
            request: first,
            result: Ok(Reply::Figures(Box::new(figures()))),
        },
    );
    assert_eq!(s.figures.figures, None);
    let mut day = figures();
    day.window_secs = 86_400;
    apply(
        &mut s,
        Event::Reply {
            request: second,
            result: Ok(Reply::Figures(Box::new(day))),
        },
    );
    assert_eq!(s.figures.figures.as_ref().unwrap().window_secs, 86_400);
    assert_eq!(s.figures.loading, None);
    assert_eq!(s.sending(), 0, "a fetch is not a change being sent");
    // A failed refresh keeps the figures and says why.
    let (third, _) = asked(&press(&mut s, 'r')).unwrap();
    apply(
        &mut s,
        Event::Reply {
            request: third,
            result: Err(RequestError {
                code: "storage_unavailable".into(),
                message: "the store did not answer".into(),
            }),
        },
    );
    assert!(s.figures.figures.is_some());
    assert!(screen(&s, 120, 40).contains("refresh failed: the store did not answer"));
    // Leaving and coming back asks again.
    key(&mut s, KeyCode::Tab);
    let (_, window) = to_metrics(&mut s);
    assert_eq!(window, "24h");
}

#[test]
fn metrics_view_snapshots() {
    let mut s = live_state();
    let (request, _) = to_metrics(&mut s);
    insta::assert_snapshot!("metrics_loading_80x24", screen(&s, 80, 24));
    apply(
        &mut s,
        Event::Reply {
            request,
            result: Ok(Reply::Figures(Box::new(figures()))),
        },
    );
    let wide = screen(&s, 120, 40);
    assert!(wide.contains("10.5%"), "policy deny rate 41/392:\n{wide}");
    assert!(
        wide.contains("⚠ stamp?"),
        "carol approves 41 in 3.2s:\n{wide}"
    );
    assert_eq!(wide.matches("⚠ stamp?").count(), 1, "dave has too few");
    assert!(wide.contains("tool:email.send"));
    insta::assert_snapshot!("metrics_view_80x24", screen(&s, 80, 24));
    insta::assert_snapshot!("metrics_view_120x40", wide);
}

#[test]
fn an_empty_window_reads_as_no_data_not_as_zero_rates() {
    let mut s = live_state();
    let (request, _) = to_metrics(&mut s);
    let mut f = figures();
    f.calls = 0;
    f.policy_denies = 0;
    f.governance_denies = 0;
    f.reviews = 0;
    f.flags = 0;
    f.resolved = 0;
    f.decided = 0;
    f.expired = 0;
    f.policy_deny_rate = None;
    f.intervention_rate = None;
    f.expiry_rate = None;
    f.time_to_decide_mean_secs = None;
    f.time_to_decide_p90_secs = None;
    f.approvals_per_person.clear();
    f.killswitch_to_first_deny.clear();
    f.series.iter_mut().for_each(|b| {
        *b = FigureBucket {
            start: b.start,
            ..Default::default()
        }
    });
    apply(
        &mut s,
        Event::Reply {
            request,
            result: Ok(Reply::Figures(Box::new(f))),
        },
    );
    insta::assert_snapshot!("metrics_empty_80x24", screen(&s, 80, 24));
}
