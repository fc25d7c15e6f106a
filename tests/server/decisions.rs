use gavel::client::{Client, ClientError};
use gavel::protocol::signing::Purpose;
use gavel::protocol::{
    now_rfc3339, DecisionBody, EscalationState, PersonKey, Resolution, SignedDecision, Verdict,
    Vote,
};
use serde_json::json;

use crate::common::{request, Env, POLICY};

fn code(e: ClientError) -> String {
    match e {
        ClientError::Api { code, message, .. } => {
            assert!(!message.is_empty());
            code
        }
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn one_approval_approves_and_the_agent_is_allowed() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(2000.0).await;
    let ack = env
        .client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &esc,
            Vote::Approve,
            "",
        ))
        .await
        .unwrap();
    assert!(ack.recorded);
    assert_eq!(ack.escalation.state, EscalationState::Approved);
    let out = env.poll("refund-bot", &esc.action.id).await.unwrap();
    assert_eq!(
        (out.verdict, out.resolution),
        (Verdict::Allow, Some(Resolution::Approved))
    );
}

#[tokio::test]
async fn two_required_approvals_need_two_different_people() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(20000.0).await;
    assert_eq!(esc.approvals_required, 2);
    let first = Client::sign_decision(env.key("bob"), &esc, Vote::Approve, "checked the order");
    let ack = env.client.decide(&first).await.unwrap();
    assert_eq!(
        (ack.escalation.state, ack.escalation.approvals_received()),
        (EscalationState::Pending, 1)
    );

    // Same person again (a fresh signature): refused. Identical resubmission: idempotent.
    let again = Client::sign_decision(env.key("bob"), &esc, Vote::Approve, "really");
    assert_eq!(
        code(env.client.decide(&again).await.unwrap_err()),
        "already_voted"
    );
    let dup = env.client.decide(&first).await.unwrap();
    assert!(!dup.recorded);
    assert_eq!(dup.escalation.approvals_received(), 1);

    let ack = env
        .client
        .decide(&Client::sign_decision(
            env.key("carol"),
            &esc,
            Vote::Approve,
            "ok",
        ))
        .await
        .unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Approved);
    let out = env.poll("refund-bot", &esc.action.id).await.unwrap();
    assert_eq!(out.verdict, Verdict::Allow);
    let deciders: Vec<&str> = out
        .decisions
        .iter()
        .map(|d| d.body.approver.as_str())
        .collect();
    assert_eq!(deciders, ["bob", "carol"]);
}

#[tokio::test]
async fn one_deny_denies_with_its_reason_and_needs_one() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(20000.0).await;
    env.client
        .decide(&Client::sign_decision(
            env.key("bob"),
            &esc,
            Vote::Approve,
            "",
        ))
        .await
        .unwrap();
    let no_reason = Client::sign_decision(env.key("carol"), &esc, Vote::Deny, "  ");
    assert_eq!(
        code(env.client.decide(&no_reason).await.unwrap_err()),
        "reason_required"
    );
    let deny = Client::sign_decision(
        env.key("carol"),
        &esc,
        Vote::Deny,
        "order was already refunded",
    );
    let ack = env.client.decide(&deny).await.unwrap();
    assert_eq!(ack.escalation.state, EscalationState::Denied);
    let out = env.poll("refund-bot", &esc.action.id).await.unwrap();
    assert_eq!(
        (out.verdict, out.resolution),
        (Verdict::Deny, Some(Resolution::Denied))
    );
    assert!(
        out.reason.contains("order was already refunded"),
        "{}",
        out.reason
    );

    // Voting after resolution is refused; the identical deny is idempotent.
    let late = Client::sign_decision(env.key("alice"), &esc, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&late).await.unwrap_err()),
        "not_pending"
    );
    assert!(!env.client.decide(&deny).await.unwrap().recorded);
}

#[tokio::test]
async fn forged_and_foreign_signatures_are_refused() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(2000.0).await;

    // Forged: body changed after signing.
    let mut forged = Client::sign_decision(env.key("carol"), &esc, Vote::Deny, "no");
    forged.body.verdict = Vote::Approve;
    assert_eq!(
        code(env.client.decide(&forged).await.unwrap_err()),
        "bad_signature"
    );

    // Garbage signature.
    let mut garbage = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "");
    garbage.signature = "AAAA".into();
    assert_eq!(
        code(env.client.decide(&garbage).await.unwrap_err()),
        "bad_signature"
    );

    // A key not in the roster, claiming to be carol.
    let mallory = PersonKey::generate("carol");
    let claimed = Client::sign_decision(&mallory, &esc, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&claimed).await.unwrap_err()),
        "bad_signature"
    );

    // A key not in the roster under its own name.
    let stranger = PersonKey::generate("mallory");
    let unknown = Client::sign_decision(&stranger, &esc, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&unknown).await.unwrap_err()),
        "unknown_signer"
    );

    // Wrong digest, properly signed.
    let mut wrong = esc.clone();
    wrong.digest = "sha256:0000".into();
    let wrong_digest = Client::sign_decision(env.key("carol"), &wrong, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&wrong_digest).await.unwrap_err()),
        "digest_mismatch"
    );

    // Stale issued_at.
    let body = DecisionBody {
        escalation: esc.id.clone(),
        digest: esc.digest.clone(),
        verdict: Vote::Approve,
        reason: String::new(),
        approver: "carol".into(),
        issued_at: "2020-01-01T00:00:00Z".into(),
    };
    let signature = env.key("carol").sign(Purpose::Decision, &body);
    assert_eq!(
        code(
            env.client
                .decide(&SignedDecision { body, signature })
                .await
                .unwrap_err()
        ),
        "stale_signature"
    );

    // Nothing above changed the escalation.
    let now = env.escalation(&esc.id).await;
    assert_eq!(
        (now.state, now.decisions.len()),
        (EscalationState::Pending, 0)
    );
}

#[tokio::test]
async fn a_decision_cannot_be_replayed_against_another_escalation() {
    let env = Env::start(POLICY).await;
    let a = env.refund_review(20000.0).await;
    // Another amount: the same call again would attach to A's escalation.
    let b = env.refund_review(20001.0).await;
    let for_a = Client::sign_decision(env.key("bob"), &a, Vote::Approve, "");
    // Posted to B's URL as is.
    let (status, body) = env
        .client
        .raw(
            reqwest::Method::POST,
            &format!("/v1/escalations/{}/decisions", b.id),
            None,
            Some(&for_a),
        )
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (400, Some("escalation_mismatch"))
    );
    // Rewritten to name B: the signature no longer verifies.
    let mut rewritten = for_a.clone();
    rewritten.body.escalation = b.id.clone();
    assert_eq!(
        code(env.client.decide(&rewritten).await.unwrap_err()),
        "bad_signature"
    );
    // Rewritten with B's digest too: still A's signature.
    rewritten.body.digest = b.digest.clone();
    assert_eq!(
        code(env.client.decide(&rewritten).await.unwrap_err()),
        "bad_signature"
    );
    assert_eq!(env.escalation(&b.id).await.decisions.len(), 0);
}

#[tokio::test]
async fn separation_of_duties_is_enforced_by_the_server() {
    let env = Env::start(POLICY).await;
    // on_behalf_of the approver: never theirs to approve.
    let mut req = request("stripe.refund", json!({"amount": 2000.0}), "s");
    req.on_behalf_of = Some("carol".into());
    let out = env.submit("assistant", req).await;
    let esc = env.escalation(out.escalation.as_deref().unwrap()).await;
    let own = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&own).await.unwrap_err()),
        "self_approval"
    );

    // The agent's owner (alice) under separate_owner.
    let huge = env.refund_review(50000.0).await;
    assert!(huge.separate_owner);
    let owner = Client::sign_decision(env.key("alice"), &huge, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&owner).await.unwrap_err()),
        "owner_approval"
    );
    // Without separate_owner the owner may approve.
    let large = env.refund_review(2000.0).await;
    let ok = Client::sign_decision(env.key("alice"), &large, Vote::Approve, "");
    assert_eq!(
        env.client.decide(&ok).await.unwrap().escalation.state,
        EscalationState::Approved
    );

    // An approver outside the group, and a person without the approver role.
    let outside = Client::sign_decision(env.key("dave"), &huge, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&outside).await.unwrap_err()),
        "outside_group"
    );
    let lead_only = Client::sign_decision(env.key("erin"), &huge, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&lead_only).await.unwrap_err()),
        "not_approver"
    );
    assert_eq!(env.escalation(&huge.id).await.decisions.len(), 0);
    let _ = now_rfc3339();
}

#[tokio::test]
async fn agent_tokens_are_refused_on_every_people_endpoint() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(2000.0).await;
    let token = env.token("refund-bot");
    let decision = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "");
    let flip = json!({"scope": "global", "on": false, "reason": "x", "operator": "alice", "issued_at": now_rfc3339(), "signature": "x"});
    let cases: Vec<(reqwest::Method, String, Option<serde_json::Value>)> = vec![
        (reqwest::Method::GET, "/v1/escalations".into(), None),
        (
            reqwest::Method::GET,
            format!("/v1/escalations/{}", esc.id),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/escalations/{}/decisions", esc.id),
            Some(serde_json::to_value(&decision).unwrap()),
        ),
        (reqwest::Method::GET, "/v1/killswitches".into(), None),
        (reqwest::Method::POST, "/v1/killswitches".into(), Some(flip)),
        (reqwest::Method::GET, "/v1/flagged".into(), None),
        (
            reqwest::Method::POST,
            format!("/v1/flagged/{}/review", esc.action.id),
            Some(json!({})),
        ),
        (reqwest::Method::GET, "/v1/audit".into(), None),
        (reqwest::Method::GET, "/v1/stream".into(), None),
    ];
    for (method, path, body) in cases {
        let (status, resp) = env
            .client
            .raw(method.clone(), &path, Some(token), body.as_ref())
            .await
            .unwrap();
        assert_eq!(status.as_u16(), 403, "{method} {path}: {resp}");
        assert_eq!(resp["error"]["code"], "agent_forbidden", "{method} {path}");
    }
    // Even a valid decision carried with an agent token did nothing.
    assert_eq!(env.escalation(&esc.id).await.decisions.len(), 0);
    // Unsigned people reads are 401.
    let (status, resp) = env
        .client
        .raw::<()>(reqwest::Method::GET, "/v1/escalations", None, None)
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), resp["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
}

/// A signed read and a signed decision whose time is too far from the server's clock get the
/// same answer: `400 stale_signature` (docs/PROTOCOL.md).
#[tokio::test]
async fn a_stale_signed_read_is_refused_like_a_stale_decision() {
    let env = Env::start(POLICY).await;
    let key = env.key("carol");
    let stale = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let req = gavel::protocol::SignedRequest {
        method: "GET".into(),
        path: "/v1/escalations".into(),
        person: key.id.clone(),
        time: stale.clone(),
    };
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/escalations", env.url()))
        .header("x-gavel-person", &req.person)
        .header("x-gavel-time", &stale)
        .header("x-gavel-signature", key.sign(Purpose::Request, &req))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("stale_signature")),
        "{body}"
    );
}

#[tokio::test]
async fn leads_review_flagged_actions_with_a_signed_note() {
    let env = Env::start(POLICY).await;
    let out = env
        .act("refund-bot", "stripe.refund", json!({"amount": 300.0}), "s")
        .await;
    assert!(out.flagged);
    let review = gavel::protocol::FlagVerdict::Incident;
    // Not a lead.
    let err = env
        .client
        .review_flag(env.key("carol"), &out.id, review, "looks wrong")
        .await
        .unwrap_err();
    assert_eq!(code(err), "not_lead");
    let done = env
        .client
        .review_flag(env.key("erin"), &out.id, review, "refund to wrong card")
        .await
        .unwrap();
    let r = done.review.expect("reviewed");
    assert_eq!(
        (
            r.body.reviewer.as_str(),
            r.body.review,
            r.body.note.as_str()
        ),
        ("erin", review, "refund to wrong card")
    );
    let err = env
        .client
        .review_flag(
            env.key("bob"),
            &out.id,
            gavel::protocol::FlagVerdict::Acknowledge,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(code(err), "already_reviewed");
    let listed = env.client.flagged(env.key("erin")).await.unwrap();
    assert!(listed[0].review.is_some());
    let missing = env
        .client
        .review_flag(env.key("erin"), "act_nope", review, "")
        .await
        .unwrap_err();
    assert_eq!(code(missing), "not_found");
}

/// The queue is not locked while a decision is being written: with the store's write lock held
/// by another process (SQLite's; on PostgreSQL, the advisory lock that orders the audit chain), a
/// decision waits for it, and meanwhile the pending list still answers (and a decision on
/// another escalation gets in line instead of waiting behind it).
#[tokio::test]
async fn a_decision_waiting_on_the_store_does_not_hold_up_the_queue() {
    let env = Env::start(POLICY).await;
    let first = env.refund_review(2000.0).await;
    let second = env.refund_review(2500.0).await;
    let holder = env.hold_write_lock();

    let decide = |esc: &gavel::protocol::Escalation| {
        let d = Client::sign_decision(env.key("carol"), esc, Vote::Approve, "");
        let client = env.client.clone();
        tokio::spawn(async move { client.decide(&d).await })
    };
    let first_ack = decide(&first);
    let second_ack = decide(&second);
    // Both are waiting on the store (SQLite's gives up after 5 s); the queue answers at once.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let pending = env.client.escalations(env.key("carol")).await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the pending list waited {:?} for a decision's write",
        started.elapsed()
    );
    assert_eq!(pending.len(), 2, "nothing is decided before it is durable");
    assert!(!first_ack.is_finished() && !second_ack.is_finished());

    holder.release();
    for ack in [first_ack, second_ack] {
        let ack = ack.await.unwrap().unwrap();
        assert!(ack.recorded);
        assert_eq!(ack.escalation.state, EscalationState::Approved);
    }
    assert!(env
        .client
        .escalations(env.key("carol"))
        .await
        .unwrap()
        .is_empty());
}

/// A decision whose write fails changed nothing: the escalation is still pending without it,
/// and the same signed decision sent again is then recorded.
#[tokio::test]
async fn a_decision_that_could_not_be_written_changed_nothing() {
    let env = Env::start(POLICY).await;
    let esc = env.refund_review(2000.0).await;
    // SQLite's store gives up waiting for its write lock after 5 s; PostgreSQL refuses the
    // decision's audit record.
    let refusal = env.fail_writes();
    let d = Client::sign_decision(env.key("carol"), &esc, Vote::Approve, "");
    assert_eq!(
        code(env.client.decide(&d).await.unwrap_err()),
        "storage_unavailable"
    );
    refusal.lift();
    let now = env.escalation(&esc.id).await;
    assert_eq!(
        (now.state, now.decisions.len()),
        (EscalationState::Pending, 0)
    );
    let ack = env.client.decide(&d).await.unwrap();
    assert!(ack.recorded);
    assert_eq!(ack.escalation.state, EscalationState::Approved);
}

/// Votes on one escalation arriving together are applied one after the other: none is lost,
/// none counted twice, and the escalation resolves once.
#[tokio::test]
async fn simultaneous_votes_on_one_escalation_are_all_counted_once() {
    let env = Env::start(POLICY).await;
    for _ in 0..5 {
        let esc = env.refund_review(20000.0).await;
        assert_eq!(esc.approvals_required, 2);
        let votes = ["bob", "carol"].map(|who| {
            let d = Client::sign_decision(env.key(who), &esc, Vote::Approve, "");
            let client = env.client.clone();
            tokio::spawn(async move { client.decide(&d).await })
        });
        let mut states = Vec::new();
        for vote in votes {
            let ack = vote.await.unwrap().unwrap();
            assert!(ack.recorded);
            states.push(ack.escalation.state);
        }
        states.sort_by_key(|s| *s == EscalationState::Approved);
        assert_eq!(
            states,
            [EscalationState::Pending, EscalationState::Approved],
            "one vote was counted first, the other approved"
        );
        let now = env.escalation(&esc.id).await;
        assert_eq!(
            (now.state, now.approvals_received()),
            (EscalationState::Approved, 2)
        );
    }
}
