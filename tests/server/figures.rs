//! `GET /v1/governance` against a real server: each figure counted from real calls, votes,
//! expiries and a kill switch, and the window and signature checks.

use std::time::Duration;

use gavel::client::Client;
use gavel::protocol::{Resolution, Verdict, Vote};
use serde_json::json;

use crate::common::{Env, POLICY};

#[tokio::test]
async fn figures_count_denies_reviews_votes_expiries_and_the_kill_switch() {
    let env = Env::start(POLICY).await;
    let act = |agent: &'static str, tool: &'static str, args| env.act(agent, tool, args, "s");
    assert_eq!(
        act("refund-bot", "stripe.refund", json!({"amount": 50.0}))
            .await
            .verdict,
        Verdict::Allow
    );
    assert_eq!(
        act("refund-bot", "shell.exec", json!({})).await.verdict,
        Verdict::Deny
    );
    // No rule matches: denied by default, which is policy too.
    assert_eq!(
        act("refund-bot", "weird.tool", json!({})).await.verdict,
        Verdict::Deny
    );
    assert_eq!(
        act("refund-bot", "stripe.refund", json!({"amount": 500.0}))
            .await
            .verdict,
        Verdict::Allow
    );

    // A review carol approves after a moment.
    let esc = env.refund_review(2000.0).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let vote = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "checked");
    env.client.decide(&vote).await.unwrap();

    // A review nobody answers (deploy-fast: 2 s).
    let out = act("deployer", "deploy.release", json!({"service": "api"})).await;
    let fin = env
        .client
        .outcome(env.token("deployer"), &out.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(fin.resolution, Some(Resolution::Expired));

    // A kill switch, and the call it stops.
    env.client
        .flip(env.key("alice"), "tool:email.send", true, "runaway mail")
        .await
        .unwrap();
    let killed = act("mailer", "email.send", json!({"to": "x@y.z"})).await;
    assert_eq!(killed.verdict, Verdict::Deny);

    // Any role reads them: grace is an auditor.
    let f = env
        .client
        .governance(env.key("grace"), "15m")
        .await
        .unwrap();
    assert_eq!(f.window_secs, 900);
    assert_eq!(f.calls, 7);
    assert_eq!((f.policy_denies, f.governance_denies), (2, 1));
    assert_eq!(f.policy_deny_rate, Some(2.0 / 7.0));
    assert_eq!((f.reviews, f.flags), (2, 1));
    assert_eq!(f.intervention_rate, Some(3.0 / 7.0));
    assert_eq!((f.resolved, f.decided, f.expired), (2, 1, 1));
    assert_eq!(f.expiry_rate, Some(0.5));
    let mean = f.time_to_decide_mean_secs.unwrap();
    assert!(mean >= 1.0, "{mean}");
    assert_eq!(f.time_to_decide_p90_secs, Some(mean));

    assert_eq!(f.approvals_per_person.len(), 1);
    let carol = &f.approvals_per_person[0];
    assert_eq!(
        (&carol.person[..], carol.approvals, carol.denials),
        ("carol", 1, 0)
    );
    assert!(carol.median_secs_to_approve.unwrap() > 0.0);
    assert!(!carol.looks_rubber_stamped());

    assert_eq!(f.killswitch_to_first_deny.len(), 1);
    let bite = &f.killswitch_to_first_deny[0];
    assert_eq!(bite.scope, "tool:email.send");
    let after = bite.first_deny_after_secs.expect("a deny after the flip");
    assert!((0.0..5.0).contains(&after), "{after}");

    // The buckets hold every call and every deny.
    assert_eq!(f.series.len(), 24);
    assert_eq!(f.series.iter().map(|b| b.calls).sum::<u64>(), 7);
    assert_eq!(f.series.iter().map(|b| b.denies).sum::<u64>(), 3);
    assert_eq!(f.series.iter().map(|b| b.reviews).sum::<u64>(), 2);
    assert_eq!(f.series.iter().map(|b| b.expired).sum::<u64>(), 1);
}

#[tokio::test]
async fn an_empty_window_has_counts_of_zero_and_no_rates() {
    let env = Env::start(POLICY).await;
    let f = env.client.governance(env.key("alice"), "7d").await.unwrap();
    assert_eq!((f.window_secs, f.calls, f.resolved), (7 * 86_400, 0, 0));
    assert_eq!(
        (f.policy_deny_rate, f.intervention_rate, f.expiry_rate),
        (None, None, None)
    );
    assert!(f.approvals_per_person.is_empty() && f.killswitch_to_first_deny.is_empty());
}

#[tokio::test]
async fn a_bad_window_is_refused_and_an_unsigned_read_is_unauthorized() {
    let env = Env::start(POLICY).await;
    for window in ["1w", "30s", "32d", "1.5h", ""] {
        let err = env
            .client
            .governance(env.key("alice"), window)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_request", "{window:?}");
    }
    let (status, resp) = env
        .client
        .raw::<()>(reqwest::Method::GET, "/v1/governance?window=1h", None, None)
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), resp["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
}
