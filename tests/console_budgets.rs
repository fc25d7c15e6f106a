//! The Budgets view and budget escalations in the console: the limits' use as bars with
//! numbers, open breakers, the empty state, the tab's warning count, refreshes (on entering,
//! on the key, after calls at most every 2s), an operator's breaker reset with a reason, and a
//! budget escalation tagged in the queue with its ask in the detail. Snapshots at 80×24 and
//! 120×40 on a fixed clock; the last tests run against a real server: a breaker that really
//! trips, refused to a non-operator and reset by an operator, and a budget escalation from a
//! real `[[limit]]` approved from the queue so the held call runs with the grace.

mod common;
mod console_fixtures;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};

use console_fixtures::*;
use gavel::console::command::Command;
use gavel::console::dialog::Dialog;
use gavel::console::event::{Event, Reply, RequestError};
use gavel::console::palette::ColorSupport;
use gavel::console::state::{Connection, Level, State, View};
use gavel::console::theme::Theme;
use gavel::console::update::update;
use gavel::protocol::*;

/// The read asked for at start is answered with `report`.
fn answer(s: &mut State, report: UsageReport) -> Vec<Command> {
    let request = s.budgets.loading.expect("a read of /v1/usage on its way");
    update(
        s,
        Event::Reply {
            request,
            result: Ok(Reply::Usage(report)),
        },
    )
}

/// alice's console in the Budgets view, with `report` read.
fn budgets(report: UsageReport) -> State {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('B'));
    assert_eq!(s.view, View::Budgets);
    answer(&mut s, report);
    s
}

/// How many reads of `/v1/usage` the commands ask for.
fn reads(fx: &[Command]) -> usize {
    fx.iter()
        .filter(|c| matches!(c, Command::Usage { .. }))
        .count()
}

fn press(s: &mut State, code: KeyCode) -> Vec<Command> {
    update(s, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

#[test]
fn the_first_snapshot_reads_the_usage_once() {
    // Before any state arrived, nothing is asked.
    let mut s = State::new("http://127.0.0.1:7878", "alice", t0());
    let fx = update(&mut s, Event::Tick(at(5)));
    assert_eq!(reads(&fx), 0, "{fx:?}");
    assert!(s.budgets.loading.is_none());
    let mut s = live_state();
    assert!(s.budgets.loading.is_some(), "asked once the state is in");
    assert!(s.budgets.report.is_none());
    // Answered with nothing in use: no further reads without a reason.
    answer(&mut s, UsageReport::default());
    for secs in [1, 5, 60] {
        let fx = update(&mut s, Event::Tick(at(secs)));
        assert_eq!(reads(&fx), 0, "{fx:?}");
    }
    // A failed read is not retried in a loop for the same window end.
    let mut s = live_state();
    answer(&mut s, usage_report());
    let fx = update(&mut s, Event::Tick(at(481)));
    assert_eq!(reads(&fx), 1, "{fx:?}");
    let request = s.budgets.loading.unwrap();
    apply(
        &mut s,
        Event::Reply {
            request,
            result: Err(RequestError {
                code: "unreachable".into(),
                message: "cannot reach the server".into(),
            }),
        },
    );
    for secs in [484, 490, 600] {
        let fx = update(&mut s, Event::Tick(at(secs)));
        assert_eq!(reads(&fx), 0, "{fx:?}");
    }
    assert_eq!(s.budgets.limits().len(), 4, "the last good report stays");
}

#[test]
fn budgets_view_shows_limits_as_bars_with_numbers_and_open_breakers() {
    let s = budgets(usage_report());
    let rows = s.budget_rows();
    assert_eq!(rows.len(), 6, "four limits, two breakers");
    let small = screen(&s, 80, 24);
    assert!(
        small.contains("Budget(5!)"),
        "short tabs at 80 columns: {small}"
    );
    assert!(small.contains("83/100"), "{small}");
    assert!(small.contains("$48.20/$50.00"), "{small}");
    assert!(small.contains("100/100+20"), "grace is shown: {small}");
    insta::assert_snapshot!("budgets_view_80x24", small);
    let big = screen(&s, 120, 40);
    assert!(big.contains("6 escalations within 10m (max 5)"), "{big}");
    assert!(big.contains("⚠ 5 budget alerts"), "{big}");
    // Eight tabs take the short form at 120 columns too.
    assert!(big.contains("Budget(5!)"), "{big}");
    insta::assert_snapshot!("budgets_view_120x40", big);
}

#[test]
fn budgets_view_says_when_nothing_is_in_use_or_still_being_read() {
    let mut s = live_state();
    key(&mut s, KeyCode::Char('B'));
    let reading = screen(&s, 80, 24);
    assert!(reading.contains("Reading the limits' use"), "{reading}");
    answer(&mut s, UsageReport::default());
    let empty = screen(&s, 80, 24);
    assert!(empty.contains("Budget(0)"), "{empty}");
    assert!(empty.contains("No limit is in use"), "{empty}");
    assert!(empty.contains("No breaker is open."), "{empty}");
    insta::assert_snapshot!("budgets_view_empty_80x24", empty);
    // A refused read says why; the view does not pretend all is well.
    press(&mut s, KeyCode::Char('r'));
    let request = s.budgets.loading.unwrap();
    apply(
        &mut s,
        Event::Reply {
            request,
            result: Err(RequestError {
                code: "unknown_signer".into(),
                message: "not in the roster".into(),
            }),
        },
    );
    let text = screen(&s, 120, 40);
    assert!(
        text.contains("✗ not in the roster (unknown_signer)"),
        "{text}"
    );
}

#[test]
fn no_color_keeps_the_states_in_words() {
    let mut s = budgets(usage_report());
    s.theme = Theme::built_in("dark")
        .unwrap()
        .for_terminal(ColorSupport::None);
    let term = render(&s, 120, 40);
    let buf = term.backend().buffer();
    for c in buf.content() {
        assert!(
            c.fg == Color::Reset && c.bg == Color::Reset,
            "a colour survived"
        );
    }
    let text = buffer_text(buf);
    for word in ["⚠ warning", "✗ exceeded", "● open", "◐ half-open"] {
        assert!(text.contains(word), "{word}: {text}");
    }
    let bold: String = buf
        .content()
        .iter()
        .filter(|c| c.modifier.contains(Modifier::BOLD))
        .map(|c| c.symbol())
        .collect();
    assert!(bold.contains("exceeded"), "{bold}");
}

#[test]
fn the_view_is_read_again_on_entering_on_r_and_after_calls_at_most_every_2s() {
    let mut s = live_state();
    answer(&mut s, UsageReport::default());
    // Entering the view reads again.
    let fx = press(&mut s, KeyCode::Char('B'));
    assert_eq!(reads(&fx), 1, "{fx:?}");
    answer(&mut s, usage_report());
    // The refresh key.
    let fx = press(&mut s, KeyCode::Char('r'));
    assert_eq!(reads(&fx), 1, "{fx:?}");
    // While a read is on its way, no second one.
    let fx = press(&mut s, KeyCode::Char('r'));
    assert_eq!(reads(&fx), 0, "{fx:?}");
    answer(&mut s, usage_report());
    // A call arrives within 2s of the last read: nothing yet; once 2s passed, one read.
    let call = Event::Server(ServerMessage::Action {
        action: summary("refund-bot", "stripe.refund", Effect::Allow, 1),
    });
    let fx = update(&mut s, call.clone());
    assert_eq!(reads(&fx), 0, "{fx:?}");
    let fx = update(&mut s, Event::Tick(at(1)));
    assert_eq!(reads(&fx), 0, "{fx:?}");
    let fx = update(&mut s, Event::Tick(at(2)));
    assert_eq!(reads(&fx), 1, "{fx:?}");
    answer(&mut s, usage_report());
    // No calls: no reads, until a cooldown ends (escalation-storm's at +480s) or a window
    // (the limits reset at +1800s).
    let fx = update(&mut s, Event::Tick(at(400)));
    assert_eq!(reads(&fx), 0, "{fx:?}");
    let fx = update(&mut s, Event::Tick(at(481)));
    assert_eq!(reads(&fx), 1, "{fx:?}");
    answer(&mut s, usage_report());
    let fx = update(&mut s, Event::Tick(at(1000)));
    assert_eq!(reads(&fx), 0, "{fx:?}");
    let fx = update(&mut s, Event::Tick(at(1801)));
    assert_eq!(reads(&fx), 1, "{fx:?}");
}

#[test]
fn a_click_selects_a_limit_or_a_breaker_and_the_tab_opens_the_view() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let click = |s: &mut State, column: u16, row: u16| {
        apply(
            s,
            Event::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column,
                row,
                modifiers: KeyModifiers::NONE,
            }),
        )
    };
    let mut s = live_state();
    answer(&mut s, usage_report());
    apply(
        &mut s,
        Event::Screen {
            width: 80,
            height: 24,
        },
    );
    let rows = screen(&s, 80, 24);
    let tab = rows.lines().next().unwrap().find("Budget(").unwrap();
    click(&mut s, tab as u16 + 2, 0);
    assert_eq!(s.view, View::Budgets);
    let rows: Vec<String> = screen(&s, 80, 24).lines().map(String::from).collect();
    let y = |text: &str| rows.iter().position(|r| r.contains(text)).unwrap() as u16;
    click(&mut s, 20, y("deny-streak"));
    assert_eq!(
        s.selected_budget_row(),
        Some(gavel::console::budget_state::BudgetRow::Breaker(1))
    );
    click(&mut s, 20, y("mail-rate"));
    assert_eq!(
        s.selected_budget_row(),
        Some(gavel::console::budget_state::BudgetRow::Limit(2))
    );
}

/// Moves the cursor to the breaker of `agent`.
fn select_breaker(s: &mut State, agent: &str) {
    key(s, KeyCode::Char('g'));
    for _ in 0..s.budget_rows().len() {
        if let Some(gavel::console::budget_state::BudgetRow::Breaker(i)) = s.selected_budget_row() {
            if s.budgets.breakers()[i].agent == agent {
                return;
            }
        }
        key(s, KeyCode::Char('j'));
    }
    panic!("no breaker of {agent}");
}

#[test]
fn an_operator_resets_a_breaker_with_a_reason() {
    let mut s = budgets(usage_report());
    // On a limit the reset key says where breakers are.
    let fx = press(&mut s, KeyCode::Char('R'));
    assert!(fx.is_empty() && s.dialog.is_none());
    assert!(s
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("select an open breaker"));
    select_breaker(&mut s, "refund-bot");
    press(&mut s, KeyCode::Char('R'));
    assert!(matches!(s.dialog, Some(Dialog::BreakerReset(_))));
    insta::assert_snapshot!("budgets_reset_dialog_80x24", screen(&s, 80, 24));
    // A reason is required.
    let fx = press(&mut s, KeyCode::Enter);
    assert!(fx.is_empty());
    let Some(Dialog::BreakerReset(d)) = &s.dialog else {
        panic!("still open")
    };
    assert_eq!(d.error.as_deref(), Some("a reason is required"));
    typed(&mut s, "false alarm: retries of one refund");
    let fx = press(&mut s, KeyCode::Enter);
    assert!(s.dialog.is_none());
    let request = match &fx[..] {
        [Command::ResetBreaker {
            request,
            agent,
            breaker,
            reason,
        }] if agent == "refund-bot"
            && breaker == "escalation-storm"
            && reason == "false alarm: retries of one refund" =>
        {
            *request
        }
        other => panic!("one signed reset: {other:?}"),
    };
    // The server answers with the agent's breakers after the reset: none open.
    let fx = update(
        &mut s,
        Event::Reply {
            request,
            result: Ok(Reply::Usage(UsageReport::default())),
        },
    );
    let m = s.message.clone().unwrap();
    assert_eq!(m.level, Level::Success);
    assert_eq!(m.text, "✓ breaker escalation-storm of refund-bot reset");
    assert!(s.budgets.breakers().iter().all(|b| b.agent != "refund-bot"));
    assert_eq!(s.budgets.breakers().len(), 1, "mailer's stays");
    assert!(
        matches!(fx[..], [Command::Usage { .. }]),
        "the rest is read again: {fx:?}"
    );
}

#[test]
fn a_refused_reset_says_why_and_only_operators_get_the_dialog() {
    let mut s = budgets(usage_report());
    select_breaker(&mut s, "mailer");
    press(&mut s, KeyCode::Char('R'));
    typed(&mut s, "cleared");
    let fx = press(&mut s, KeyCode::Enter);
    let [Command::ResetBreaker { request, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    apply(
        &mut s,
        Event::Reply {
            request: *request,
            result: Err(RequestError {
                code: "not_operator".into(),
                message: "resetting a breaker needs the operator role".into(),
            }),
        },
    );
    let m = s.message.clone().unwrap();
    assert_eq!(m.level, Level::Error);
    assert!(
        m.text
            .starts_with("✗ breaker deny-streak of mailer was NOT reset: resetting")
            && m.text.ends_with("(not_operator)"),
        "{}",
        m.text
    );
    // Someone without the operator role is told so instead of a dialog.
    let mut s = budgets(usage_report());
    s.me.as_mut().unwrap().roles = vec![Role::Approver];
    select_breaker(&mut s, "mailer");
    let fx = press(&mut s, KeyCode::Char('R'));
    assert!(fx.is_empty());
    match &s.dialog {
        Some(Dialog::NotYours { why, .. }) => assert!(why.contains("operator role"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_budget_escalation_is_tagged_in_the_queue_and_its_detail_shows_the_ask() {
    let mut s = live_state();
    let mut e = escalation("esc-009", "refund-bot", "stripe.refund", 300);
    e.rule.id = "hourly-spend".into();
    e.budget = Some(budget_ask());
    apply(
        &mut s,
        Event::Server(ServerMessage::EscalationCreated {
            escalation: Box::new(e),
        }),
    );
    while s.selected_escalation().map(|e| e.id.as_str()) != Some("esc-009") {
        key(&mut s, KeyCode::Char('j'));
    }
    let text = screen(&s, 120, 40);
    assert!(text.contains("budget hourly-spend"), "{text}");
    // The ask, as the person reads it before deciding (wrapped in the detail).
    let detail: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let ask = "refund-bot has spent $48.20 of $50.00 and made 100 of 100 calls this 1h window \
               of limit hourly-spend; │ │ approving grants 20 more calls / $10.00 until \
               10:00:00 UTC";
    assert!(detail.contains(ask), "{text}");
    assert!(
        detail.contains("Budget ✗ exceeded ██████████ 100%"),
        "{text}"
    );
    insta::assert_snapshot!("budget_escalation_queue_120x40", text);
    insta::assert_snapshot!("budget_escalation_queue_80x24", screen(&s, 80, 24));
    // Only the budget escalation is tagged.
    assert_eq!(text.matches("budget ").count(), 1, "{text}");
}

const WAIT: Duration = Duration::from_secs(15);

/// Against a real server: the view reads `/v1/usage` (empty until limits are configured) and
/// shows it, and a reset from the dialog reaches the server and its answer reaches the
/// message line, whatever it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_reads_a_real_server_and_a_reset_gets_its_answer() {
    let env = common::Env::start(common::POLICY).await;
    let state = State::new(&env.url(), "alice", chrono::Utc::now());
    let key = PersonKey::read(&env.key_file("alice")).unwrap();
    let mut d = gavel::console::driver::Driver::start(&env.url(), key, state);
    d.wait_for("a live stream", WAIT, |s| {
        s.connection == Connection::Live && s.me.is_some()
    })
    .await
    .unwrap();
    d.wait_for("the usage report", WAIT, |s| s.budgets.report.is_some())
        .await
        .unwrap();
    d.press(KeyCode::Char('B'));
    d.wait_for("a read on entering", WAIT, |s| {
        s.budgets.loading.is_none() && s.budgets.report.is_some()
    })
    .await
    .unwrap();
    assert_eq!(d.state.budgets.error, None);
    let report = d.state.budgets.report.clone().unwrap();
    let text = screen(&d.state, 120, 40);
    if report.limits.is_empty() {
        assert!(text.contains("No limit is in use"), "{text}");
    } else {
        for l in &report.limits {
            assert!(text.contains(&l.agent), "{text}");
        }
    }
    // A breaker as if the server had one open for refund-bot: the reset is signed, sent and
    // answered (refused while none is open, or the route is missing: the answer is shown).
    let mut shown = report;
    shown.breakers.push(usage_report().breakers.remove(0));
    d.state.budgets.report = Some(shown);
    select_breaker(&mut d.state, "refund-bot");
    d.press(KeyCode::Char('R'));
    d.type_text("e2e reset");
    d.press(KeyCode::Enter);
    d.wait_for("the reset's answer", WAIT, |s| {
        s.message.as_ref().is_some_and(|m| {
            m.text.contains("breaker escalation-storm of refund-bot") && m.level != Level::Info
        })
    })
    .await
    .unwrap();
    assert_eq!(d.state.sending(), 0, "the reset is no longer in flight");
}

/// A person's console against `env`, live and with their profile read.
async fn console_as(env: &common::Env, who: &str) -> gavel::console::driver::Driver {
    let state = State::new(&env.url(), who, chrono::Utc::now());
    let key = PersonKey::read(&env.key_file(who)).unwrap();
    let mut d = gavel::console::driver::Driver::start(&env.url(), key, state);
    d.wait_for("a live stream", WAIT, |s| {
        s.connection == Connection::Live && s.me.is_some()
    })
    .await
    .unwrap();
    d
}

/// The screen's words, one space apart, without the frames' bars: wrapped text reads whole.
fn words(s: &State) -> String {
    screen(s, 120, 40)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

const FATIGUE: &str = r#"
[[rule]]
id = "email"
tools = ["email.send"]
effect = "review"
reason = "Outbound email is read first"
approvers = "comms"
timeout = "10m"

[[breaker]]
id = "fatigue"
agents = ["mailer"]
window = "10m"
max_escalations = 1
cooldown = "1h"
"#;

/// A real breaker trips on the server (mailer's second review within the window); the console
/// shows it in the Budgets view. A non-operator gets no dialog, and a forged dialog's signed
/// reset is refused by the server; the operator's reset is accepted, said so on the message
/// line, and the breaker is gone after the re-read, and from the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_breaker_trips_and_an_operator_resets_it_from_the_console() {
    let env = common::Env::start(FATIGUE).await;
    assert_eq!(
        env.act("mailer", "email.send", json_mail(0), "s")
            .await
            .verdict,
        Verdict::Pending
    );
    let tripped = env.act("mailer", "email.send", json_mail(1), "s").await;
    assert_eq!(tripped.verdict, Verdict::Deny);
    assert!(
        tripped
            .reason
            .contains("breaker \"fatigue\" is open for mailer"),
        "{}",
        tripped.reason
    );

    // carol is an approver, not an operator.
    let mut c = console_as(&env, "carol").await;
    c.press(KeyCode::Char('B'));
    c.wait_for("the open breaker", WAIT, |s| {
        s.budgets.loading.is_none() && s.budgets.breakers().iter().any(|b| b.agent == "mailer")
    })
    .await
    .unwrap();
    select_breaker(&mut c.state, "mailer");
    c.press(KeyCode::Char('R'));
    match &c.state.dialog {
        Some(Dialog::NotYours { why, .. }) => assert!(why.contains("operator role"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.state.sending(), 0, "nothing was sent");
    // Even with the role claimed locally, the server checks the roster and refuses.
    c.state.dialog = None;
    c.state.me.as_mut().unwrap().roles.push(Role::Operator);
    c.press(KeyCode::Char('R'));
    assert!(matches!(c.state.dialog, Some(Dialog::BreakerReset(_))));
    c.type_text("not mine to reset");
    c.press(KeyCode::Enter);
    c.wait_for("the refusal", WAIT, |s| {
        s.message
            .as_ref()
            .is_some_and(|m| m.level != Level::Info && m.text.contains("breaker fatigue of mailer"))
    })
    .await
    .unwrap();
    let m = c.state.message.clone().unwrap();
    assert!(
        m.text
            .starts_with("✗ breaker fatigue of mailer was NOT reset")
            && m.text.ends_with("(not_operator)"),
        "{}",
        m.text
    );
    let usage = env.client.usage(env.key("grace"), None).await.unwrap();
    assert_eq!(usage.breakers.len(), 1, "still open: {usage:?}");

    // alice is an operator.
    let mut d = console_as(&env, "alice").await;
    d.press(KeyCode::Char('B'));
    d.wait_for("the open breaker", WAIT, |s| {
        s.budgets.loading.is_none() && s.budgets.breakers().iter().any(|b| b.agent == "mailer")
    })
    .await
    .unwrap();
    let text = words(&d.state);
    for shown in ["mailer", "fatigue", "2 escalations within 10m (max 1)"] {
        assert!(text.contains(shown), "{shown} not in {text}");
    }
    select_breaker(&mut d.state, "mailer");
    d.press(KeyCode::Char('R'));
    assert!(matches!(d.state.dialog, Some(Dialog::BreakerReset(_))));
    d.type_text("reviewed the outbox: a real campaign");
    d.press(KeyCode::Enter);
    d.wait_for("the server's acceptance", WAIT, |s| {
        s.message
            .as_ref()
            .is_some_and(|m| m.level != Level::Info && m.text.contains("breaker fatigue of mailer"))
    })
    .await
    .unwrap();
    let m = d.state.message.clone().unwrap();
    assert_eq!(
        (m.level, m.text.as_str()),
        (Level::Success, "✓ breaker fatigue of mailer reset")
    );
    d.wait_for("the re-read", WAIT, |s| {
        s.budgets.loading.is_none() && s.budgets.breakers().is_empty()
    })
    .await
    .unwrap();
    assert!(
        words(&d.state).contains("No breaker is open"),
        "{}",
        screen(&d.state, 120, 40)
    );
    // On the server too: closed, and the reset is audited with its operator and reason.
    let usage = env.client.usage(env.key("grace"), None).await.unwrap();
    assert!(usage.breakers.is_empty(), "{usage:?}");
    let resets: Vec<_> = env
        .client
        .audit(env.key("grace"), "kind=breaker_reset")
        .await
        .unwrap();
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0].body["operator"], "alice");
    assert_eq!(
        resets[0].body["reason"],
        "reviewed the outbox: a real campaign"
    );
    assert_eq!(
        env.act("mailer", "email.send", json_mail(2), "s")
            .await
            .verdict,
        Verdict::Pending,
        "the agent is judged by the rules again"
    );
}

fn json_mail(n: u32) -> serde_json::Value {
    serde_json::json!({ "to": format!("x{n}@example.com") })
}

const BUDGET: &str = r#"
[[rule]]
id = "stripe"
tools = ["stripe.*"]
effect = "allow"
reason = "Payments are routine"

[[limit]]
id = "refund-budget"
agents = ["refund-bot"]
tools = ["stripe.*"]
window = "1d"
max_calls = 1
on_exceed = "review"
grace_calls = 2
approvers = "finance"
timeout = "5m"
"#;

/// A call past a `[[limit]]` with `on_exceed = "review"` is held as a budget escalation: the
/// queue row is tagged `budget`, the detail shows the ask, and approving it with `a` and a
/// reason lets the held call run and adds the grace in `GET /v1/usage`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_escalation_from_a_real_limit_is_approved_from_the_queue() {
    let env = common::Env::start(BUDGET).await;
    let mut c = console_as(&env, "carol").await;
    let refund = || common::request("stripe.refund", serde_json::json!({"amount": 5.0}), "s");
    assert_eq!(
        env.submit("refund-bot", refund()).await.verdict,
        Verdict::Allow
    );
    let held = env.submit("refund-bot", refund()).await;
    assert_eq!(held.verdict, Verdict::Pending, "{}", held.reason);
    let esc = held.escalation.clone().unwrap();
    c.wait_for("the budget escalation", WAIT, |s| {
        s.pending.iter().any(|e| e.id == esc && e.budget.is_some())
    })
    .await
    .unwrap();
    while c.state.selected_escalation().map(|e| e.id.as_str()) != Some(esc.as_str()) {
        c.press(KeyCode::Char('j'));
    }
    let text = words(&c.state);
    assert!(text.contains("budget refund-budget"), "{text}");
    assert!(
        text.contains(
            "refund-bot made 1 of 1 calls this 1d window of limit refund-budget; approving \
             grants 2 more calls until"
        ),
        "{text}"
    );
    assert!(text.contains("Budget ✗ exceeded"), "{text}");

    c.press(KeyCode::Char('a'));
    c.type_text("month-end refunds, expected");
    c.press(KeyCode::Enter);
    c.wait_for("the decision's answer", WAIT, |s| {
        s.in_flight.is_empty() && s.message.as_ref().is_some_and(|m| m.level != Level::Info)
    })
    .await
    .unwrap();
    let m = c.state.message.clone().unwrap();
    assert_eq!(m.level, Level::Success, "{}", m.text);
    assert!(
        m.text
            .starts_with(&format!("✓ your approval of {esc} was accepted")),
        "{}",
        m.text
    );

    // The held call runs: the agent's poll turns to allow.
    let deadline = tokio::time::Instant::now() + WAIT;
    let outcome = loop {
        let out = env.poll("refund-bot", &held.id).await.unwrap();
        if out.verdict != Verdict::Pending || tokio::time::Instant::now() >= deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (outcome.verdict, outcome.resolution),
        (Verdict::Allow, Some(Resolution::Approved)),
        "{}",
        outcome.reason
    );
    let usage = env
        .client
        .usage(env.key("carol"), Some("refund-bot"))
        .await
        .unwrap();
    let [l] = usage.limits.as_slice() else {
        panic!("{usage:?}")
    };
    assert_eq!(l.limit, "refund-budget");
    assert_eq!((l.calls, l.max_calls, l.grace_calls), (2, Some(1), 2));
    assert_eq!(l.state, LimitState::Ok, "2 of 3 with the grace");
    // The grace is room: the next call runs without asking anyone.
    assert_eq!(
        env.submit("refund-bot", refund()).await.verdict,
        Verdict::Allow
    );
}

/// A report the server cut to its fullest uses says how many more there are.
#[test]
fn a_cut_report_says_how_many_uses_it_left_out() {
    let mut report = usage_report();
    report.omitted = 37;
    let s = budgets(report);
    let big = screen(&s, 120, 40);
    assert!(big.contains("Limits 4 (the fullest; 37 more)"), "{big}");
}
