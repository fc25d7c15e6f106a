//! End to end: a real server in-process on a loopback port, real HTTP and WebSocket, the
//! console's state driven headless through the same events and keys a person produces.
//! Every wait is on an event with a bounded timeout; nothing sleeps for synchronisation.
//! Uses the shared harness in `tests/common` (standard roster and policy).

mod common;

use std::time::Duration;

use crossterm::event::KeyCode;
use serde_json::json;

use common::console::*;
use common::{request, Env, POLICY};
use gavel::console::driver::Driver;
use gavel::console::state::{Connection, Level, State, View};
use gavel::protocol::Verdict;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_arrives_and_approve_lets_the_agent_through() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let out = refund(&env, 1500.0).await;
    let esc = out.escalation.clone().unwrap();
    let waiting = wait_final(&env, "refund-bot", &out.id);
    c.wait_for("the escalation to appear", WAIT, |s| {
        s.pending.iter().any(|e| e.id == esc)
    })
    .await
    .unwrap();
    select(&mut c, &esc);
    assert!(c
        .state
        .not_mine(c.state.selected_escalation().unwrap())
        .is_none());
    c.press(KeyCode::Char('a'));
    c.type_text("matches the ticket");
    c.press(KeyCode::Enter);
    c.wait_for("the acknowledgement", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let msg = c.state.message.clone().unwrap();
    assert_eq!(msg.level, Level::Success, "{}", msg.text);
    assert!(
        msg.text.contains("accepted") && msg.text.contains("approved"),
        "{}",
        msg.text
    );
    let final_ = outcome(waiting).await;
    assert_eq!(final_.verdict, Verdict::Allow, "{final_:?}");
    assert_eq!(final_.decisions.len(), 1);
    assert_eq!(final_.decisions[0].body.approver, "alice");
    c.wait_for("the escalation to move to history", WAIT, |s| {
        !s.pending.iter().any(|e| e.id == esc) && s.history.iter().any(|e| e.id == esc)
    })
    .await
    .unwrap();
    // The new escalation was one we may decide: a notification (recorded, not shown in tests).
    assert!(!c.notifications_seen.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_with_reason_reaches_the_agent() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let out = refund(&env, 2400.0).await;
    let esc = out.escalation.clone().unwrap();
    let waiting = wait_final(&env, "refund-bot", &out.id);
    shows_pending(&mut c, &esc).await;
    select(&mut c, &esc);
    c.press(KeyCode::Char('d'));
    c.press(KeyCode::Enter); // no reason: refused locally, nothing sent
    assert!(c.state.in_flight.is_empty() && c.state.dialog.is_some());
    c.type_text("order was already refunded by hand");
    c.press(KeyCode::Enter);
    c.wait_for("the acknowledgement", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let final_ = outcome(waiting).await;
    assert_eq!(final_.verdict, Verdict::Deny);
    assert!(
        final_.reason.contains("order was already refunded by hand"),
        "{}",
        final_.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_decision_shows_the_server_reason() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let out = refund(&env, 1800.0).await;
    let esc = out.escalation.clone().unwrap();
    shows_pending(&mut c, &esc).await;
    // What this console shows differs from what the server holds: the server must refuse.
    for e in c.state.pending.iter_mut().filter(|e| e.id == esc) {
        e.digest = format!("sha256:{}", "0".repeat(64));
    }
    c.state.pending_changed();
    select(&mut c, &esc);
    c.press(KeyCode::Char('a'));
    c.press(KeyCode::Enter);
    c.wait_for("the refusal", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let msg = c.state.message.clone().unwrap();
    assert_eq!(msg.level, Level::Error, "{}", msg.text);
    assert!(
        msg.text.contains("NOT recorded") && msg.text.contains("digest_mismatch"),
        "{}",
        msg.text
    );
    assert!(c.state.pending.iter().any(|e| e.id == esc), "still pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separation_of_duties_is_explained_and_nothing_is_sent() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    // alice owns refund-bot and refund-huge wants two approvers other than the owner.
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 25000.0}),
            "s-e2e",
        )
        .await;
    let esc = out.escalation.clone().unwrap();
    shows_pending(&mut c, &esc).await;
    select(&mut c, &esc);
    c.press(KeyCode::Char('a'));
    match &c.state.dialog {
        Some(gavel::console::dialog::Dialog::NotYours { why, .. }) => {
            assert!(why.contains("own this agent"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(c.state.in_flight.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_from_the_console_denies_the_next_action() {
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let before = env
        .act("mailer", "inbox.list", json!({"folder": "inbox"}), "s-m")
        .await;
    assert_eq!(before.verdict, Verdict::Allow, "{before:?}");
    // Two of mailer's calls wait for a person: turning its switch on cancels them.
    for to in ["a@partner.example", "b@partner.example"] {
        let held = env
            .act("mailer", "email.send", json!({"to": to}), "s-m")
            .await;
        assert_eq!(held.verdict, Verdict::Pending, "{held:?}");
    }
    c.wait_for("mailer's activity and escalations", WAIT, |s| {
        s.activity.iter().any(|a| a.agent == "mailer")
            && s.pending
                .iter()
                .filter(|e| e.action.agent == "mailer")
                .count()
                == 2
    })
    .await
    .unwrap();
    c.press(KeyCode::Tab);
    c.press(KeyCode::Tab);
    assert_eq!(c.state.view, View::KillSwitches);
    let row = c
        .state
        .switch_rows()
        .iter()
        .position(|r| r.scope == "agent:mailer")
        .unwrap();
    for _ in 0..row {
        c.press(KeyCode::Down);
    }
    c.press(KeyCode::Char(' '));
    c.type_text("sending duplicates");
    c.press(KeyCode::Enter);
    c.wait_for("the flip to be acknowledged", WAIT, |s| {
        s.in_flight.is_empty() && s.killswitches.get("agent:mailer").is_some_and(|k| k.on)
    })
    .await
    .unwrap();
    // The operator is told what the flip did, not only that it happened.
    let said = c
        .state
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default();
    assert!(
        said.contains("agent:mailer is now ON") && said.contains("cancelled 2 pending escalations"),
        "{said}"
    );
    let after = env
        .act("mailer", "inbox.list", json!({"folder": "inbox"}), "s-m")
        .await;
    assert_eq!(after.verdict, Verdict::Deny, "{after:?}");
    assert!(
        after.reason.contains("sending duplicates") || after.reason.contains("kill"),
        "{}",
        after.reason
    );
    // Others are unaffected.
    let other = env
        .act("refund-bot", "stripe.get", json!({"id": "o-1"}), "s-r")
        .await;
    assert_eq!(other.verdict, Verdict::Allow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_server_restart_and_resyncs() {
    let mut env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let first = refund(&env, 1200.0).await;
    let first_esc = first.escalation.clone().unwrap();
    c.wait_for("the first escalation", WAIT, |s| {
        s.pending.iter().any(|e| e.id == first_esc)
    })
    .await
    .unwrap();
    env.stop().await;
    c.wait_for("the console to notice", WAIT, |s| {
        matches!(s.connection, Connection::Reconnecting { .. })
    })
    .await
    .unwrap();
    // A decision while the server is down fails visibly; it is not silently dropped.
    select(&mut c, &first_esc);
    c.press(KeyCode::Char('a'));
    c.press(KeyCode::Enter);
    c.wait_for("the failure", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let msg = c.state.message.clone().unwrap();
    assert_eq!(msg.level, Level::Error, "{}", msg.text);
    assert!(msg.text.contains("NOT recorded"), "{}", msg.text);
    // Same data dir, same port.
    env.boot().await;
    let second = refund(&env, 1300.0).await;
    let second_esc = second.escalation.clone().unwrap();
    c.wait_for("a fresh snapshot with both escalations", WAIT, |s| {
        s.connection == Connection::Live
            && s.pending.iter().any(|e| e.id == first_esc)
            && s.pending.iter().any(|e| e.id == second_esc)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_arguments_arrive_inert_on_screen() {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let env = Env::start(POLICY).await;
    let mut c = console(&env).await;
    let mut req = request(
        "email.send",
        json!({"to": "x@evil.example", "subject": "\u{1b}]0;pwned\u{7}\u{1b}[2J hi \u{202e}"}),
        "s-evil",
    );
    req.rationale = Some("\u{1b}[8mhidden\u{1b}[0m\r\nfake line".into());
    let out = env.submit("mailer", req).await;
    let esc = out.escalation.clone().unwrap();
    shows_pending(&mut c, &esc).await;
    select(&mut c, &esc);
    c.press(KeyCode::Enter);
    let mut term = Terminal::new(TestBackend::new(120, 60)).unwrap();
    term.draw(|f| gavel::console::views::render(f, &c.state))
        .unwrap();
    let buf = term.backend().buffer();
    let text: String = buf.content.iter().map(|cell| cell.symbol()).collect();
    assert!(
        !text.chars().any(|ch| ch.is_control() || ch == '\u{202e}'),
        "raw control characters on screen"
    );
    assert!(
        text.contains("\\u001b]0;pwned\\u0007"),
        "escapes shown as text"
    );
    assert!(
        text.contains("\\x1b[8mhidden\\x1b[0m\\x0d"),
        "rationale escapes shown as text"
    );
}

#[test]
fn demo_runs_headless_and_shuts_down_cleanly() {
    let bin = env!("CARGO_BIN_EXE_gavel");
    let state = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let out = std::process::Command::new(bin)
        .args(["demo", "--headless", "--duration", "3s"])
        .env("XDG_STATE_HOME", state.path())
        .env("XDG_CONFIG_HOME", state.path())
        .env("HOME", state.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    let escalated: u64 = stdout
        .lines()
        .find_map(|l| {
            l.split(" escalated")
                .next()
                .filter(|_| l.starts_with("actions:"))
        })
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(escalated > 0, "no escalations:\n{stdout}");
    assert!(stdout.contains("console connection: live"), "{stdout}");
    assert!(stdout.contains("your decision: ✓"), "{stdout}");
    assert!(stdout.trim_end().ends_with("shut down cleanly"), "{stdout}");
    assert!(stderr.trim().is_empty(), "nothing on stderr: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_server_does_not_know_is_refused_visibly() {
    let env = Env::start(POLICY).await;
    let stranger = gavel::protocol::PersonKey::generate("mallory");
    let state = State::new(&env.url(), "mallory", chrono::Utc::now());
    let mut c = Driver::start(&env.url(), stranger, state);
    c.wait_for("the refusal", WAIT, |s| {
        matches!(s.connection, Connection::Refused { .. })
    })
    .await
    .unwrap();
    match &c.state.connection {
        Connection::Refused { reason, .. } => {
            assert!(reason.contains("unknown person"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(c.state.me.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_with_no_role_is_refused_visibly_and_not_retried() {
    let mut env = common::Env::new(POLICY);
    let zoe = gavel::protocol::PersonKey::generate("zoe");
    let mut roster = std::fs::read_to_string(&env.roster).unwrap();
    roster += &format!(
        "[[person]]\nid = \"zoe\"\nname = \"Zoe\"\nkey = \"{}\"\nroles = []\n",
        zoe.public()
    );
    std::fs::write(&env.roster, roster).unwrap();
    env.boot().await;
    let state = State::new(&env.url(), "zoe", chrono::Utc::now());
    let mut c = Driver::start(&env.url(), zoe, state);
    c.wait_for("the refusal", WAIT, |s| {
        matches!(s.connection, Connection::Refused { .. })
    })
    .await
    .unwrap();
    match &c.state.connection {
        Connection::Refused { reason, .. } => assert!(reason.contains("no role"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(c.state.me.is_none() && c.state.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_marks_a_flagged_action_as_an_incident() {
    let env = Env::start(POLICY).await;
    let mut c = console_as(&env, "bob").await; // approver + lead
    let out = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 450.0}),
            "s-f",
        )
        .await;
    assert!(out.flagged && out.verdict == Verdict::Allow, "{out:?}");
    c.wait_for("the flagged action", WAIT, |s| {
        s.flagged.iter().any(|f| f.action.id == out.id)
    })
    .await
    .unwrap();
    c.press(KeyCode::Tab);
    assert_eq!(c.state.view, View::Flagged);
    assert_eq!(c.state.selected_flagged().unwrap().action.id, out.id);
    c.press(KeyCode::Char('i'));
    c.press(KeyCode::Enter); // an incident needs a note: refused locally
    assert!(c.state.in_flight.is_empty() && c.state.dialog.is_some());
    c.type_text("refund to a closed account");
    c.press(KeyCode::Enter);
    c.wait_for("the review to be recorded", WAIT, |s| {
        s.in_flight.is_empty()
            && s.flagged
                .iter()
                .any(|f| f.action.id == out.id && f.review.is_some())
    })
    .await
    .unwrap();
    let f = c
        .state
        .flagged
        .iter()
        .find(|f| f.action.id == out.id)
        .unwrap();
    let review = f.review.as_ref().unwrap();
    assert_eq!(review.body.review, gavel::protocol::FlagVerdict::Incident);
    assert_eq!(review.body.note, "refund to a closed account");
    assert_eq!(review.body.reviewer, "bob");
    assert_eq!(c.state.message.as_ref().unwrap().level, Level::Success);
}

#[test]
fn without_a_terminal_console_and_demo_say_so_in_one_line() {
    let env = Env::new(POLICY);
    let key = env.key_file("alice");
    let bin = env!("CARGO_BIN_EXE_gavel");
    let state = tempfile::tempdir().unwrap();
    let runs = [
        vec![
            "console",
            "--server",
            "http://127.0.0.1:1",
            "--key",
            key.to_str().unwrap(),
        ],
        vec!["demo"],
    ];
    for args in runs {
        let out = std::process::Command::new(bin)
            .args(&args)
            .env("XDG_STATE_HOME", state.path())
            .env("XDG_CONFIG_HOME", state.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("needs a terminal") && !err.contains("panicked"),
            "{err}"
        );
    }
}

/// Every console connection sees a claim; the claimer's vote releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_shows_on_another_console_and_a_vote_releases_it() {
    let env = Env::start(POLICY).await;
    let mut carol = console_as(&env, "carol").await;
    let mut bob = console_as(&env, "bob").await;
    let out = refund(&env, 20000.0).await; // refund-huge: two approvals
    let esc = out.escalation.clone().unwrap();
    for c in [&mut carol, &mut bob] {
        shows_pending(c, &esc).await;
    }
    select(&mut carol, &esc);
    carol.press(KeyCode::Char('c'));
    carol
        .wait_for("the claim's answer", WAIT, |s| s.in_flight.is_empty())
        .await
        .unwrap();
    let msg = carol.state.message.clone().unwrap();
    assert_eq!(msg.level, Level::Success, "{}", msg.text);
    bob.wait_for("carol's claim on bob's console", WAIT, |s| {
        s.pending.iter().any(|e| {
            e.id == esc
                && e.handling
                    .live_claim(s.now)
                    .is_some_and(|c| c.person == "carol")
        })
    })
    .await
    .unwrap();
    carol.press(KeyCode::Char('a'));
    carol.type_text("checked");
    carol.press(KeyCode::Enter);
    bob.wait_for("the claim released by carol's vote", WAIT, |s| {
        s.pending
            .iter()
            .any(|e| e.id == esc && e.decisions.len() == 1 && e.handling.claim.is_none())
    })
    .await
    .unwrap();
}

/// A snooze hides the escalation on the snoozer's console, not on anyone else's, and it comes
/// back on its own before the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snooze_hides_on_my_console_only_and_comes_back_before_the_deadline() {
    let env = Env::start(POLICY).await;
    let mut carol = console_as(&env, "carol").await;
    let mut bob = console_as(&env, "bob").await;
    let out = refund(&env, 1500.0).await; // refund-large: 10 minutes
    let esc = out.escalation.clone().unwrap();
    for c in [&mut carol, &mut bob] {
        shows_pending(c, &esc).await;
    }
    select(&mut carol, &esc);
    carol.press(KeyCode::Char('z'));
    carol.press(KeyCode::Char('3')); // until shortly before the deadline
    carol.press(KeyCode::Enter);
    let shown = |s: &State, id: &str| s.queue_rows().iter().any(|&i| s.pending[i].id == id);
    carol
        .wait_for("hidden on carol's console", WAIT, |s| {
            !shown(s, &esc) && s.snoozed_count() == 1
        })
        .await
        .unwrap();
    bob.wait_for("carol's snooze reaches bob", WAIT, |s| {
        s.pending
            .iter()
            .any(|e| e.id == esc && e.handling.snoozed.contains_key("carol"))
    })
    .await
    .unwrap();
    assert!(shown(&bob.state, &esc), "bob still sees it");
    assert_eq!(bob.state.snoozed_count(), 0);
    let e = carol
        .state
        .pending
        .iter()
        .find(|e| e.id == esc)
        .unwrap()
        .clone();
    let until = e.handling.snoozed["carol"];
    assert!(
        until <= e.deadline - chrono::Duration::seconds(60),
        "{until} vs {}",
        e.deadline
    );
    carol.apply(gavel::console::event::Event::Tick(
        until + chrono::Duration::seconds(1),
    ));
    assert!(shown(&carol.state, &esc), "back before the deadline");
}

/// Extend and reassign from the console, signed as the person, answered by a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_then_reassign_from_the_console() {
    let policy = format!(
        "{POLICY}\n[[rule]]\nid = \"transfer\"\ntools = [\"bank.transfer\"]\neffect = \"review\"\n\
         reason = \"Transfers need ops\"\napprovers = \"ops\"\ntimeout = \"10m\"\n\
         on_expiry = \"escalate\"\nescalate_to = \"backup\"\nextend = \"30m\"\n"
    );
    let env = Env::start(&policy).await;
    let mut dave = console_as(&env, "dave").await;
    let out = env
        .act("deployer", "bank.transfer", json!({"to": "x"}), "s-e2e")
        .await;
    let esc = out.escalation.clone().unwrap();
    shows_pending(&mut dave, &esc).await;
    let before = dave
        .state
        .pending
        .iter()
        .find(|e| e.id == esc)
        .unwrap()
        .deadline;
    select(&mut dave, &esc);
    dave.press(KeyCode::Char('e'));
    dave.type_text("change window at noon");
    dave.press(KeyCode::Enter);
    dave.wait_for("the extension", WAIT, |s| {
        s.in_flight.is_empty()
            && s.pending
                .iter()
                .any(|e| e.id == esc && e.handling.extended_secs == 300)
    })
    .await
    .unwrap();
    let e = dave.state.pending.iter().find(|e| e.id == esc).unwrap();
    assert_eq!(e.deadline, before + chrono::Duration::minutes(5));
    dave.press(KeyCode::Char('r'));
    dave.type_text("off shift");
    dave.press(KeyCode::Enter);
    // The stream's update may come before the answer: wait for both.
    dave.wait_for("the reassign and its answer", WAIT, |s| {
        s.in_flight.is_empty()
            && s.pending
                .iter()
                .any(|e| e.id == esc && e.group == "backup" && e.handed_over)
    })
    .await
    .unwrap();
    let msg = dave.state.message.clone().unwrap();
    assert_eq!(msg.level, Level::Success, "{}", msg.text);
    assert_eq!(env.escalation(&esc).await.group, "backup");
}
