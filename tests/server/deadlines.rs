use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{EscalationState, Resolution, Verdict, Vote};
use serde_json::json;

use crate::common::{Env, POLICY};

#[tokio::test]
async fn an_escalation_expires_at_its_deadline_and_the_agent_is_denied() {
    let env = Env::start(POLICY).await; // deploy-fast: 2 s
    let out = env
        .act("deployer", "deploy.release", json!({"service": "api"}), "s")
        .await;
    let esc_id = out.escalation.clone().unwrap();
    let fin = env
        .client
        .outcome(env.token("deployer"), &out.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (fin.verdict, fin.resolution),
        (Verdict::Deny, Some(Resolution::Expired))
    );
    assert!(fin.reason.contains("expired"), "{}", fin.reason);
    let esc = env.escalation(&esc_id).await;
    assert_eq!(esc.state, EscalationState::Expired);
    assert!(esc.resolved_at.unwrap() >= esc.deadline);
    // A vote after expiry is refused.
    let late = Client::sign_decision(env.key("alice"), &esc, Vote::Approve, "");
    let err = env.client.decide(&late).await.unwrap_err();
    assert_eq!(err.code(), "not_pending");
}

#[tokio::test]
async fn on_expiry_escalate_hands_over_once_then_denies() {
    let env = Env::start(POLICY).await; // deploy-handover: ops for 1 s, then backup for 1 s
    let out = env
        .act("deployer", "deploy.hotfix", json!({"service": "api"}), "s")
        .await;
    let esc_id = out.escalation.clone().unwrap();
    let first = env.escalation(&esc_id).await;
    assert_eq!((first.group.as_str(), first.handed_over), ("ops", false));

    // Wait for the hand-over (poll the escalation; bounded).
    let start = tokio::time::Instant::now();
    let handed = loop {
        let e = env.escalation(&esc_id).await;
        if e.handed_over || start.elapsed() > Duration::from_secs(10) {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(handed.handed_over, "handed over within 10 s");
    assert_eq!(
        (handed.group.as_str(), handed.state),
        ("backup", EscalationState::Pending)
    );
    assert!(handed.deadline > first.deadline);
    // The first group no longer decides; the second does not in time.
    let ops = Client::sign_decision(env.key("dave"), &handed, Vote::Approve, "");
    assert_eq!(
        env.client.decide(&ops).await.unwrap_err().code(),
        "outside_group"
    );

    let fin = env
        .client
        .outcome(env.token("deployer"), &out.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (fin.verdict, fin.resolution),
        (Verdict::Deny, Some(Resolution::Expired))
    );
    let esc = env.escalation(&esc_id).await;
    assert_eq!(
        (esc.state, esc.group.as_str()),
        (EscalationState::Expired, "backup")
    );
}

#[tokio::test]
async fn a_handed_over_escalation_can_be_approved_by_the_second_group() {
    let env = Env::start(POLICY).await;
    let out = env.act("deployer", "deploy.hotfix", json!({}), "s").await;
    let esc_id = out.escalation.clone().unwrap();
    let start = tokio::time::Instant::now();
    let handed = loop {
        let e = env.escalation(&esc_id).await;
        if e.handed_over || start.elapsed() > Duration::from_secs(10) {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ack = env
        .client
        .decide(&Client::sign_decision(
            env.key("frank"),
            &handed,
            Vote::Approve,
            "go",
        ))
        .await
        .unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Approved);
}

#[tokio::test]
async fn restart_keeps_pending_deadlines_and_denies_what_expired_while_down() {
    let mut env = Env::start(POLICY).await;
    let long = env
        .act(
            "refund-bot",
            "stripe.refund",
            json!({"amount": 5000.0}),
            "s",
        )
        .await; // 10 min
    let short = env.act("deployer", "deploy.release", json!({}), "s").await; // 2 s
    let long_esc = env.escalation(long.escalation.as_deref().unwrap()).await;
    env.stop().await;
    // Down for longer than the short deadline.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    env.boot().await;

    let short_esc = env.escalation(short.escalation.as_deref().unwrap()).await;
    assert_eq!(short_esc.state, EscalationState::Expired);
    assert!(short_esc
        .resolution_reason
        .as_deref()
        .unwrap()
        .contains("while the server was down"));
    let fin = env.poll("deployer", &short.id).await.unwrap();
    assert_eq!(
        (fin.verdict, fin.resolution),
        (Verdict::Deny, Some(Resolution::Expired))
    );

    let kept = env.escalation(&long_esc.id).await;
    assert_eq!(kept.state, EscalationState::Pending);
    assert_eq!(kept.deadline, long_esc.deadline);
    assert_eq!(kept.digest, long_esc.digest);
    // Still decidable after the restart, with the same digest.
    let ack = env
        .client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &kept,
            Vote::Approve,
            "",
        ))
        .await
        .unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Approved);
    let pending = env.client.escalations(env.key("alice")).await.unwrap();
    assert!(pending.is_empty());
}

#[tokio::test]
async fn a_pending_escalation_restored_at_start_still_expires_on_time() {
    let mut env = Env::start(POLICY).await;
    let out = env.act("deployer", "deploy.release", json!({}), "s").await; // 2 s
    env.restart().await; // well within the deadline
    let fin = env
        .client
        .outcome(env.token("deployer"), &out.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(fin.resolution, Some(Resolution::Expired));
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    assert!(!esc.resolution_reason.unwrap().contains("down"));
}
