//! The approver's workflow beside the vote, against a real server: extend within the rule's
//! allowance (the deadline timer and the agent follow it), claim, snooze, reassign; each signed,
//! used once, refused when it should be, audited, and replayed exactly by `gavel audit verify`.

use std::time::Duration;

use chrono::Utc;
use gavel::client::Client;
use gavel::protocol::signing::Purpose;
use gavel::protocol::{latest_snooze, EscalationState, Resolution, ServerMessage, Verdict, Vote};
use gavel::server::audit::{verify, Expect, VerifyError};
use gavel::server::store::db_path;
use rusqlite::Connection;
use serde_json::json;

use crate::audit::copy_db;
use crate::common::{stream_as, wait_for, Env, POLICY};

/// The standard policy, and: bank wires for finance with a 3 s deadline that approvers may
/// move by 4 s in all; bank transfers for ops that hand over to backup.
fn policy() -> String {
    format!(
        r#"{POLICY}
[[rule]]
id = "wire"
tools = ["bank.wire"]
effect = "review"
reason = "Wires need finance"
approvers = "finance"
timeout = "3s"
extend = "4s"

[[rule]]
id = "transfer"
tools = ["bank.transfer"]
effect = "review"
reason = "Transfers need ops, then backup"
approvers = "ops"
timeout = "10m"
on_expiry = "escalate"
escalate_to = "backup"
extend = "30m"
"#
    )
}

async fn raise(env: &Env, agent: &str, tool: &str) -> (String, gavel::protocol::Escalation) {
    let out = env.act(agent, tool, json!({"n": 1}), "s").await;
    let esc = env
        .escalation(out.escalation.as_deref().expect("escalated"))
        .await;
    (out.id, esc)
}

#[tokio::test]
async fn an_extension_moves_the_deadline_the_timer_and_the_agent_follow_it() {
    let env = Env::start(&policy()).await;
    let (action, esc) = raise(&env, "refund-bot", "bank.wire").await;
    let old = esc.deadline;
    assert_eq!(esc.handling.extend_allowed_secs, 4);

    let ack = env
        .client
        .extend(&Client::sign_extend(
            env.key("carol"),
            &esc.id,
            3,
            "need the CFO",
        ))
        .await
        .unwrap();
    let moved = ack.escalation.deadline;
    assert_eq!(moved, old + chrono::Duration::seconds(3));
    assert_eq!(ack.escalation.handling.extended_secs, 3);
    // The agent sees the new deadline.
    assert_eq!(
        env.poll("refund-bot", &action).await.unwrap().deadline,
        Some(moved)
    );

    // Past the allowance: refused, saying what is left.
    let err = env
        .client
        .extend(&Client::sign_extend(env.key("bob"), &esc.id, 2, "more"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "extend_exceeded");
    assert!(err.to_string().contains("only 1s of the 4s"), "{err}");

    // Past the old deadline it is still pending…
    let wait = (old - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(700);
    tokio::time::sleep(wait).await;
    assert_eq!(
        env.escalation(&esc.id).await.state,
        EscalationState::Pending
    );
    // …and it expires at the new one.
    let fin = env
        .client
        .outcome(env.token("refund-bot"), &action, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (fin.verdict, fin.resolution),
        (Verdict::Deny, Some(Resolution::Expired))
    );
    let closed = env.escalation(&esc.id).await;
    assert!(closed.resolved_at.unwrap() >= moved);

    // On a resolved escalation: refused.
    let err = env
        .client
        .extend(&Client::sign_extend(env.key("carol"), &esc.id, 1, "late"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_pending");
}

#[tokio::test]
async fn extensions_are_refused_to_the_wrong_people_forged_replayed_or_not_allowed() {
    let env = Env::start(&policy()).await;
    let (_, esc) = raise(&env, "refund-bot", "bank.transfer").await; // ops: dave
    let code = |r: Result<_, gavel::client::ClientError>| r.unwrap_err().code().to_string();

    // Not an approver; an approver of another group.
    let s = Client::sign_extend(env.key("erin"), &esc.id, 60, "x");
    assert_eq!(code(env.client.extend(&s).await), "not_approver");
    let s = Client::sign_extend(env.key("alice"), &esc.id, 60, "x");
    assert_eq!(code(env.client.extend(&s).await), "outside_group");
    // Signed by someone else than it names.
    let mut forged = Client::sign_extend(env.key("frank"), &esc.id, 60, "x");
    forged.body.person = "dave".into();
    assert_eq!(code(env.client.extend(&forged).await), "bad_signature");
    // Signed for another purpose (a claim's signature over the extend body).
    let mut wrong = Client::sign_extend(env.key("dave"), &esc.id, 60, "x");
    wrong.signature = env.key("dave").sign(Purpose::Claim, &wrong.body);
    assert_eq!(code(env.client.extend(&wrong).await), "bad_signature");
    // Without a reason.
    let s = Client::sign_extend(env.key("dave"), &esc.id, 60, " ");
    assert_eq!(code(env.client.extend(&s).await), "reason_required");

    // Once, not twice.
    let s = Client::sign_extend(env.key("dave"), &esc.id, 60, "wait for the change window");
    let first = env.client.extend(&s).await.unwrap();
    assert_eq!(
        first.escalation.deadline,
        esc.deadline + chrono::Duration::seconds(60)
    );
    assert_eq!(code(env.client.extend(&s).await), "replayed");
    assert_eq!(
        env.escalation(&esc.id).await.deadline,
        first.escalation.deadline
    );

    // A rule without `extend`.
    let big = env.refund_review(4000.0).await;
    let s = Client::sign_extend(env.key("carol"), &big.id, 60, "x");
    let err = env.client.extend(&s).await.unwrap_err();
    assert_eq!(err.code(), "extend_not_allowed");
    assert!(err.to_string().contains("refund-large"), "{err}");
}

#[tokio::test]
async fn a_claim_shows_on_every_console_and_a_vote_releases_it() {
    let env = Env::start(&policy()).await;
    let (mut bob_ws, _, _) = stream_as(&env.url(), env.key("bob")).await;
    let esc = env.refund_review(20000.0).await; // two approvals
    let ack = env
        .client
        .claim(&Client::sign_claim(env.key("carol"), &esc.id, true))
        .await
        .unwrap();
    let claim = ack.escalation.handling.claim.clone().expect("claimed");
    assert_eq!(claim.person, "carol");
    let left = claim.until - Utc::now();
    assert!(left > chrono::Duration::minutes(14) && left <= chrono::Duration::minutes(15));
    wait_for(&mut bob_ws, |m| {
        matches!(m, ServerMessage::EscalationUpdated { escalation }
            if escalation.id == esc.id
                && escalation.handling.claim.as_ref().is_some_and(|c| c.person == "carol"))
    })
    .await;
    // Someone else's claim is not taken over, nor released by them.
    let s = Client::sign_claim(env.key("bob"), &esc.id, true);
    assert_eq!(
        env.client.claim(&s).await.unwrap_err().code(),
        "claimed_by_other"
    );
    let s = Client::sign_claim(env.key("bob"), &esc.id, false);
    assert_eq!(
        env.client.claim(&s).await.unwrap_err().code(),
        "not_claimed"
    );
    // A person separation of duties keeps from approving cannot claim it (alice owns the agent).
    let s = Client::sign_claim(env.key("alice"), &esc.id, true);
    assert_eq!(
        env.client.claim(&s).await.unwrap_err().code(),
        "owner_approval"
    );

    // Carol votes (one of two): still pending, claim released, on bob's console too.
    let d = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "ok");
    let voted = env.client.decide(&d).await.unwrap();
    assert_eq!(voted.escalation.state, EscalationState::Pending);
    assert_eq!(voted.escalation.handling.claim, None);
    wait_for(&mut bob_ws, |m| {
        matches!(m, ServerMessage::EscalationUpdated { escalation }
            if escalation.id == esc.id && escalation.decisions.len() == 1
                && escalation.handling.claim.is_none())
    })
    .await;

    // Claim and release by the same person.
    let s = Client::sign_claim(env.key("bob"), &esc.id, true);
    env.client.claim(&s).await.unwrap();
    let s = Client::sign_claim(env.key("bob"), &esc.id, false);
    let released = env.client.claim(&s).await.unwrap();
    assert_eq!(released.escalation.handling.claim, None);
}

#[tokio::test]
async fn a_snooze_is_the_snoozers_own_and_ends_before_the_deadline() {
    let env = Env::start(&policy()).await;
    let esc = env.refund_review(4000.0).await; // 10 minutes
    let asked = Utc::now() + chrono::Duration::hours(1);
    let ack = env
        .client
        .snooze(&Client::sign_snooze(env.key("carol"), &esc.id, asked))
        .await
        .unwrap();
    let until = ack.escalation.handling.snoozed["carol"];
    let now = Utc::now();
    // Brought forward to a minute (a tenth of 10 minutes) before the deadline.
    assert!(until <= latest_snooze(esc.deadline, now - chrono::Duration::seconds(5)));
    assert!(
        until >= esc.deadline - chrono::Duration::seconds(61),
        "{until}"
    );
    assert_eq!(ack.escalation.handling.snoozed.len(), 1);
    assert_eq!(
        ack.escalation.deadline, esc.deadline,
        "the deadline still runs"
    );
    // A shorter snooze is kept as asked; bob's is his own.
    let soon = Utc::now() + chrono::Duration::minutes(2);
    let s = Client::sign_snooze(env.key("bob"), &esc.id, soon);
    let ack = env.client.snooze(&s).await.unwrap();
    let bobs = ack.escalation.handling.snoozed["bob"];
    assert!((bobs - soon).num_seconds().abs() <= 1);
    // A time in the past ends carol's snooze.
    let s = Client::sign_snooze(
        env.key("carol"),
        &esc.id,
        Utc::now() - chrono::Duration::minutes(1),
    );
    let ack = env.client.snooze(&s).await.unwrap();
    assert!(!ack.escalation.handling.snoozed.contains_key("carol"));
    // Outside the group: refused.
    let s = Client::sign_snooze(env.key("frank"), &esc.id, soon);
    assert_eq!(
        env.client.snooze(&s).await.unwrap_err().code(),
        "outside_group"
    );

    // Too close to the deadline to snooze: the wire rule gives 3 s.
    let (_, wire) = raise(&env, "refund-bot", "bank.wire").await;
    let s = Client::sign_snooze(
        env.key("carol"),
        &wire.id,
        Utc::now() + chrono::Duration::hours(1),
    );
    assert_eq!(
        env.client.snooze(&s).await.unwrap_err().code(),
        "too_late_to_snooze"
    );
}

#[tokio::test]
async fn reassign_hands_over_now_once_and_only_with_a_secondary_group() {
    let env = Env::start(&policy()).await;
    let (mut frank_ws, _, _) = stream_as(&env.url(), env.key("frank")).await;
    let (_, esc) = raise(&env, "refund-bot", "bank.transfer").await;
    assert_eq!(esc.handling.escalate_to.as_deref(), Some("backup"));
    // Not in ops and no operator: refused.
    let s = Client::sign_reassign(env.key("carol"), &esc.id, "not mine");
    assert_eq!(
        env.client.reassign(&s).await.unwrap_err().code(),
        "outside_group"
    );

    let s = Client::sign_reassign(env.key("dave"), &esc.id, "I am off shift");
    let ack = env.client.reassign(&s).await.unwrap();
    let e = &ack.escalation;
    assert_eq!((e.group.as_str(), e.handed_over), ("backup", true));
    assert!(e.deadline > Utc::now() + chrono::Duration::minutes(9));
    wait_for(&mut frank_ws, |m| {
        matches!(m, ServerMessage::EscalationUpdated { escalation }
            if escalation.id == esc.id && escalation.group == "backup")
    })
    .await;
    // The first group no longer decides; the second does.
    let d = Client::sign_decision(env.key("dave"), e, Vote::Approve, "");
    assert_eq!(
        env.client.decide(&d).await.unwrap_err().code(),
        "outside_group"
    );
    // Once only: alice is an operator, but it was handed over already.
    let s = Client::sign_reassign(env.key("alice"), &esc.id, "again");
    assert_eq!(
        env.client.reassign(&s).await.unwrap_err().code(),
        "already_handed_over"
    );
    let d = Client::sign_decision(env.key("frank"), e, Vote::Approve, "fine");
    assert_eq!(
        env.client.decide(&d).await.unwrap().escalation.state,
        EscalationState::Approved
    );

    // A rule without `escalate_to`, reassigned by an operator.
    let big = env.refund_review(4000.0).await;
    let s = Client::sign_reassign(env.key("alice"), &big.id, "x");
    let err = env.client.reassign(&s).await.unwrap_err();
    assert_eq!(err.code(), "no_secondary_group");
}

#[tokio::test]
async fn the_workflow_is_audited_and_verify_replays_it_exactly() {
    let mut env = Env::start(&policy()).await;
    let (_, esc) = raise(&env, "refund-bot", "bank.transfer").await;
    let dave = env.key("dave");
    env.client
        .extend(&Client::sign_extend(dave, &esc.id, 600, "window"))
        .await
        .unwrap();
    env.client
        .claim(&Client::sign_claim(dave, &esc.id, true))
        .await
        .unwrap();
    let later = Utc::now() + chrono::Duration::minutes(5);
    env.client
        .snooze(&Client::sign_snooze(dave, &esc.id, later))
        .await
        .unwrap();
    env.client
        .reassign(&Client::sign_reassign(dave, &esc.id, "off shift"))
        .await
        .unwrap();
    let records = env
        .client
        .audit(env.key("grace"), "agent=refund-bot")
        .await
        .unwrap();
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| r.body["escalation"] == json!(esc.id))
        .collect();
    let kinds: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.kind.as_str(), r.actor.as_str()))
        .collect();
    for kind in ["extended", "claimed", "snoozed", "reassigned"] {
        assert!(kinds.contains(&(kind, "dave")), "{kind} in {kinds:?}");
    }
    let ext = records.iter().find(|r| r.kind == "extended").unwrap();
    assert_eq!(
        (ext.body["by_secs"].as_u64(), ext.body["reason"].as_str()),
        (Some(600), Some("window"))
    );
    env.stop().await;

    verify(&env.records().path(), &Expect::default()).expect("the log replays the tables");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify"])
        .args(env.verify_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An extension total edited in the table only.
    let d = copy_db(&env, "extended-edit");
    let c = Connection::open(db_path(&d)).unwrap();
    c.execute(
        "UPDATE escalations SET body = json_set(body, '$.extended_secs', 60) WHERE id = ?1",
        [&esc.id],
    )
    .unwrap();
    match verify(&db_path(&d), &Expect::default()) {
        Err(VerifyError::State(p)) => assert_eq!(
            p,
            format!(
                "escalation {} has extended_secs 60 in the table but the log says 600",
                esc.id
            )
        ),
        other => panic!("expected a state problem, got {other:?}"),
    }
}
