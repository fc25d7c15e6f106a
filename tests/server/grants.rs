//! Standing grants against a real server: a grant turns the matching next call of a grantable,
//! single-approval review into an allow (audited, counted, shown), and nothing else; creation,
//! listing and revocation are signed, checked and durable; `gavel audit verify` replays them.

use std::time::Duration;

use gavel::client::{ClientError, GrantRequest};
use gavel::protocol::signing::Purpose;
use gavel::protocol::{now_rfc3339, Grant, GrantBody, ServerMessage, SignedGrant, Verdict};
use gavel::server::audit::{verify, Expect, VerifyError};
use gavel::server::store::db_path;
use reqwest::Method;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::common::{request, stream_as, wait_for, Env};

/// Reviews a grant may cover (`refund-large`, `digest`, `assist`), ones it may not
/// (`refund-huge`: two approvals; `email-external`, not grantable; `wire-out`: two approvals),
/// and an allow and a deny rule.
pub const GRANT_POLICY: &str = r#"
[[rule]]
id = "reads"
tools = ["*.get"]
effect = "allow"
reason = "Read-only calls"

[[rule]]
id = "refund-small"
tools = ["stripe.refund"]
when = "args.amount <= 100.0"
effect = "allow"
reason = "Small refunds are routine"

[[rule]]
id = "refund-large"
tools = ["stripe.refund"]
when = "args.amount > 1000.0 && args.amount <= 10000.0"
effect = "review"
reason = "Refunds above $1,000 need a finance approver"
approvers = "finance"
timeout = "10m"
grantable = true

[[rule]]
id = "refund-huge"
tools = ["stripe.refund"]
when = "args.amount > 10000.0"
effect = "review"
reason = "Huge refunds need two finance approvers"
approvers = "finance"
approvals = 2
timeout = "10m"
grantable = true

[[rule]]
id = "wire-out"
tools = ["bank.wire"]
effect = "review"
reason = "Wires need two"
approvers = "finance"
approvals = 2
timeout = "10m"
grantable = true

[[rule]]
id = "email-external"
tools = ["email.send"]
effect = "review"
reason = "Outbound email is read first"
approvers = "comms"
timeout = "10m"

[[rule]]
id = "digest"
tools = ["email.digest"]
effect = "review"
reason = "Digests are read by finance"
approvers = "finance"
timeout = "10m"
grantable = true

[[rule]]
id = "assist"
tools = ["calendar.book"]
effect = "review"
reason = "Bookings need finance, not the agent's owner"
approvers = "finance"
timeout = "10m"
separate_owner = true
grantable = true

[[rule]]
id = "no-shell"
tools = ["shell.*"]
effect = "deny"
reason = "Agents never get a shell"
"#;

fn ask(agent: &str, tool: &str, when: Option<&str>, secs: u64) -> GrantRequest {
    GrantRequest {
        agent: agent.into(),
        tool: tool.into(),
        when: when.map(str::to_string),
        for_secs: secs,
        reason: "the usual refunds of this incident".into(),
    }
}

async fn grant(env: &Env, who: &str, req: &GrantRequest) -> Result<Grant, ClientError> {
    env.client.create_grant(env.key(who), req).await
}

fn code(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other}"),
    }
}

const USD: &str = "args.currency == 'usd' && args.amount == 1500.0";

async fn refund(env: &Env, args: Value) -> gavel::protocol::ActionOutcome {
    env.act("refund-bot", "stripe.refund", args, "s").await
}

#[tokio::test]
async fn a_grant_allows_the_matching_next_call_without_an_escalation_and_audits_the_use() {
    let env = Env::start(GRANT_POLICY).await;
    let g = grant(
        &env,
        "carol",
        &ask("refund-bot", "stripe.refund", Some(USD), 3600),
    )
    .await
    .unwrap();
    assert!(g.id.starts_with("grt_"), "{}", g.id);
    assert_eq!((g.by.as_str(), g.uses), ("carol", 0));
    let secs = (g.expires_at - g.created_at).num_seconds();
    assert_eq!(secs, 3600);

    let out = refund(&env, json!({"amount": 1500.0, "currency": "usd"})).await;
    assert_eq!(out.verdict, Verdict::Allow, "{out:?}");
    assert_eq!(out.grant.as_deref(), Some(g.id.as_str()));
    assert_eq!(out.rule.as_deref(), Some("refund-large"));
    assert!(out.escalation.is_none());
    assert!(
        out.reason.contains(&g.id) && out.reason.contains("carol"),
        "{}",
        out.reason
    );
    // Nothing waits for anyone; the agent's own read says the same.
    assert!(env
        .client
        .escalations(env.key("alice"))
        .await
        .unwrap()
        .is_empty());
    let polled = env.poll("refund-bot", &out.id).await.unwrap();
    assert_eq!(
        (polled.verdict, polled.grant.as_deref()),
        (Verdict::Allow, Some(g.id.as_str()))
    );

    // The use is an audit record of its own, by the signer, in the commit of the action.
    let used = env
        .client
        .audit(env.key("grace"), "kind=grant_used")
        .await
        .unwrap();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].actor, "carol");
    assert_eq!(used[0].body["grant"], g.id.as_str());
    assert_eq!(used[0].body["action"], out.id.as_str());
    let action = env
        .client
        .audit(env.key("grace"), "kind=action&agent=refund-bot")
        .await
        .unwrap();
    assert_eq!(action.last().unwrap().body["grant"], g.id.as_str());
    assert_eq!(action.last().unwrap().seq + 1, used[0].seq);

    let listed = env.client.grants(env.key("erin"), false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), listed[0].uses), (g.id.as_str(), 1));
    assert!(listed[0].last_used_at.is_some());

    // The same call again is allowed again: a grant is for calls like this, not one call.
    let again = refund(&env, json!({"amount": 1500.0, "currency": "usd"})).await;
    assert_eq!(again.grant.as_deref(), Some(g.id.as_str()));
}

#[tokio::test]
async fn calls_the_grant_does_not_match_still_escalate() {
    let env = Env::start(GRANT_POLICY).await;
    let g = grant(
        &env,
        "carol",
        &ask("refund-bot", "stripe.refund", Some(USD), 3600),
    )
    .await
    .unwrap();
    let pending = |o: &gavel::protocol::ActionOutcome| {
        o.verdict == Verdict::Pending && o.grant.is_none() && o.escalation.is_some()
    };
    // The condition is false.
    let other_amount = refund(&env, json!({"amount": 1600.0, "currency": "usd"})).await;
    assert!(pending(&other_amount), "{other_amount:?}");
    // The condition cannot be evaluated (no currency): no match, never an allow.
    let no_currency = refund(&env, json!({"amount": 1500.0})).await;
    assert!(pending(&no_currency), "{no_currency:?}");
    let wrong_type = refund(&env, json!({"amount": 1500.0, "currency": 7})).await;
    assert!(pending(&wrong_type), "{wrong_type:?}");
    // Another agent, same call.
    let mut req = request(
        "stripe.refund",
        json!({"amount": 1500.0, "currency": "usd"}),
        "a",
    );
    req.on_behalf_of = Some("erin".into());
    let other_agent = env.submit("assistant", req).await;
    assert!(pending(&other_agent), "{other_agent:?}");
    // Another tool of a grantable rule.
    let other_tool = env
        .act(
            "refund-bot",
            "calendar.book",
            json!({"amount": 1500.0, "currency": "usd"}),
            "s",
        )
        .await;
    assert!(pending(&other_tool), "{other_tool:?}");
    let listed = env.client.grants(env.key("carol"), false).await.unwrap();
    assert_eq!((listed[0].id.as_str(), listed[0].uses), (g.id.as_str(), 0));
}

#[tokio::test]
async fn a_broad_grant_never_loosens_deny_rules_or_reviews_of_two_approvals() {
    let env = Env::start(GRANT_POLICY).await;
    // Any tool, any call of refund-bot: the widest grant there is.
    let g = grant(&env, "carol", &ask("refund-bot", "**", None, 3600))
        .await
        .unwrap();
    let shell = env.act("refund-bot", "shell.exec", json!({}), "s").await;
    assert_eq!(shell.verdict, Verdict::Deny);
    assert!(shell.grant.is_none());
    let huge = refund(&env, json!({"amount": 50000.0})).await;
    assert_eq!(huge.verdict, Verdict::Pending, "two approvals: {huge:?}");
    let wire = env
        .act("refund-bot", "bank.wire", json!({"amount": 5.0}), "s")
        .await;
    assert_eq!(wire.verdict, Verdict::Pending);
    let email = env
        .act("refund-bot", "email.send", json!({"to": "x"}), "s")
        .await;
    assert_eq!(email.verdict, Verdict::Pending, "not grantable");
    let unknown = env.act("refund-bot", "fs.delete", json!({}), "s").await;
    assert_eq!(unknown.verdict, Verdict::Deny, "no rule: deny by default");
    // A kill switch still wins over the grant.
    let large = refund(&env, json!({"amount": 2000.0})).await;
    assert_eq!(large.grant.as_deref(), Some(g.id.as_str()));
    env.client
        .flip(env.key("alice"), "agent:refund-bot", true, "incident")
        .await
        .unwrap();
    let killed = refund(&env, json!({"amount": 2000.0})).await;
    assert_eq!(killed.verdict, Verdict::Deny);
    assert!(killed.reason.contains("kill switch"), "{}", killed.reason);
}

#[tokio::test]
async fn expired_and_revoked_grants_stop_applying() {
    let env = Env::start(GRANT_POLICY).await;
    let short = grant(&env, "carol", &ask("refund-bot", "stripe.refund", None, 1))
        .await
        .unwrap();
    let first = refund(&env, json!({"amount": 2000.0})).await;
    assert_eq!(first.grant.as_deref(), Some(short.id.as_str()));
    // Wall-clock expiry is what is tested: wait it out.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = refund(&env, json!({"amount": 2001.0})).await;
    assert_eq!(after.verdict, Verdict::Pending, "expired: {after:?}");
    assert!(env
        .client
        .grants(env.key("carol"), false)
        .await
        .unwrap()
        .is_empty());
    let all = env.client.grants(env.key("carol"), true).await.unwrap();
    assert_eq!(all.len(), 1);

    let g = grant(
        &env,
        "carol",
        &ask("refund-bot", "stripe.refund", None, 3600),
    )
    .await
    .unwrap();
    // Only the signer or an operator revokes it.
    let e = env
        .client
        .revoke_grant(env.key("bob"), &g.id, "not mine")
        .await
        .unwrap_err();
    assert_eq!(code(e), (403, "not_revoker".into()));
    let revoked = env
        .client
        .revoke_grant(env.key("dave"), &g.id, "incident over")
        .await
        .unwrap();
    let r = revoked.revoked.clone().unwrap();
    assert_eq!(
        (r.by.as_str(), r.reason.as_str()),
        ("dave", "incident over")
    );
    let next = refund(&env, json!({"amount": 2002.0})).await;
    assert_eq!(next.verdict, Verdict::Pending, "revoked: {next:?}");
    let e = env
        .client
        .revoke_grant(env.key("carol"), &g.id, "again")
        .await
        .unwrap_err();
    assert_eq!(code(e), (409, "not_live".into()));
    let e = env
        .client
        .revoke_grant(env.key("carol"), &short.id, "late")
        .await
        .unwrap_err();
    assert_eq!(code(e), (409, "not_live".into()));
    let e = env
        .client
        .revoke_grant(env.key("carol"), "grt_nope", "x")
        .await
        .unwrap_err();
    assert_eq!(code(e), (404, "not_found".into()));

    // Both survive a restart as they were.
    let mut env = env;
    env.restart().await;
    let after_restart = refund(&env, json!({"amount": 2003.0})).await;
    assert_eq!(after_restart.verdict, Verdict::Pending);
    let all = env.client.grants(env.key("carol"), true).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().map(|g| g.uses).sum::<u64>(), 1);
}

#[tokio::test]
async fn grants_are_refused_where_one_approver_could_not_approve_alone() {
    let env = Env::start(GRANT_POLICY).await;
    let refused = |who: &'static str, req: GrantRequest, want: (u16, &'static str)| {
        let env = &env;
        async move {
            let e = grant(env, who, &req).await.unwrap_err();
            let got = code(e);
            assert_eq!((got.0, got.1.as_str()), want, "{who} {req:?}");
        }
    };
    // No grantable rule: not grantable at all, or only with two approvals.
    refused(
        "bob",
        ask("mailer", "email.send", None, 60),
        (403, "not_grantable"),
    )
    .await;
    refused(
        "carol",
        ask("refund-bot", "bank.wire", None, 60),
        (403, "not_grantable"),
    )
    .await;
    refused(
        "carol",
        ask("refund-bot", "fs.delete", None, 60),
        (403, "not_grantable"),
    )
    .await;
    // Signers who could not approve such calls: another group, no approver role, the owner
    // where the rule keeps the owner apart (alice owns refund-bot).
    refused(
        "dave",
        ask("refund-bot", "stripe.refund", None, 60),
        (403, "not_eligible"),
    )
    .await;
    refused(
        "erin",
        ask("refund-bot", "stripe.refund", None, 60),
        (403, "not_eligible"),
    )
    .await;
    refused(
        "alice",
        ask("refund-bot", "calendar.book", None, 60),
        (403, "not_eligible"),
    )
    .await;
    // Malformed: condition, duration, agent, reason, tool.
    refused(
        "carol",
        ask("refund-bot", "stripe.refund", Some("args.amount >"), 60),
        (400, "bad_condition"),
    )
    .await;
    refused(
        "carol",
        ask("refund-bot", "stripe.refund", Some("secrets.x == 1"), 60),
        (400, "bad_condition"),
    )
    .await;
    refused(
        "carol",
        ask("refund-bot", "stripe.refund", Some("args.amount + 1.0"), 60),
        (400, "bad_condition"),
    )
    .await;
    refused(
        "carol",
        ask("refund-bot", "stripe.refund", None, 0),
        (400, "invalid_request"),
    )
    .await;
    refused(
        "carol",
        ask("refund-bot", "stripe.refund", None, 7 * 86400 + 1),
        (400, "invalid_request"),
    )
    .await;
    refused(
        "carol",
        ask("ghost-bot", "stripe.refund", None, 60),
        (400, "invalid_request"),
    )
    .await;
    refused(
        "carol",
        ask("refund-bot", "stripe..refund", None, 60),
        (400, "invalid_request"),
    )
    .await;
    let mut no_reason = ask("refund-bot", "stripe.refund", None, 60);
    no_reason.reason = " ".into();
    refused("carol", no_reason, (400, "reason_required")).await;
    // Nothing was stored, and an agent token cannot even ask.
    assert!(env
        .client
        .grants(env.key("carol"), true)
        .await
        .unwrap()
        .is_empty());
    let signed = gavel::client::Client::sign_grant(
        env.key("carol"),
        &ask("refund-bot", "stripe.refund", None, 60),
    );
    let (status, body) = env
        .client
        .raw(
            Method::POST,
            "/v1/grants",
            Some(env.token("refund-bot")),
            Some(&signed),
        )
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (403, &json!("agent_forbidden"))
    );
    // A person with no role reads nothing.
    let e = env
        .client
        .grants(env.key("henry"), false)
        .await
        .unwrap_err();
    assert_eq!(code(e), (403, "role_required".into()));
}

#[tokio::test]
async fn a_grant_never_lets_its_signer_approve_their_own_request_or_the_owner_approve() {
    let env = Env::start(GRANT_POLICY).await;
    // bob may grant mailer's digests (finance approver; the rule keeps no owner apart), but
    // mailer acts on bob's behalf: bob's grant must not approve bob's own request.
    let bobs = grant(&env, "bob", &ask("mailer", "email.digest", None, 3600))
        .await
        .unwrap();
    let on_behalf_of_bob = env.act("mailer", "email.digest", json!({}), "m").await;
    assert_eq!(
        on_behalf_of_bob.verdict,
        Verdict::Pending,
        "{on_behalf_of_bob:?}"
    );
    assert!(on_behalf_of_bob.grant.is_none());
    // carol's grant for the same calls applies.
    let carols = grant(&env, "carol", &ask("mailer", "email.digest", None, 3600))
        .await
        .unwrap();
    let allowed = env
        .act("mailer", "email.digest", json!({"n": 2}), "m")
        .await;
    assert_eq!(allowed.grant.as_deref(), Some(carols.id.as_str()));
    let listed = env.client.grants(env.key("bob"), false).await.unwrap();
    let uses = |id: &str| listed.iter().find(|g| g.id == id).unwrap().uses;
    assert_eq!((uses(&bobs.id), uses(&carols.id)), (0, 1));

    // assistant acts for carol or erin: carol's grant covers erin's requests, not her own.
    let g = grant(
        &env,
        "carol",
        &ask("assistant", "stripe.refund", None, 3600),
    )
    .await
    .unwrap();
    let mut for_carol = request("stripe.refund", json!({"amount": 2000.0}), "a");
    for_carol.on_behalf_of = Some("carol".into());
    let own = env.submit("assistant", for_carol).await;
    assert_eq!(own.verdict, Verdict::Pending, "{own:?}");
    let mut for_erin = request("stripe.refund", json!({"amount": 2000.0}), "a");
    for_erin.on_behalf_of = Some("erin".into());
    let others = env.submit("assistant", for_erin).await;
    assert_eq!(others.grant.as_deref(), Some(g.id.as_str()));
}

fn sign(env: &Env, who: &str, body: &GrantBody) -> SignedGrant {
    SignedGrant {
        body: body.clone(),
        signature: env.key(who).sign(Purpose::Grant, body),
    }
}

async fn post(env: &Env, signed: &impl serde::Serialize) -> (u16, Value) {
    let (status, body) = env
        .client
        .raw(Method::POST, "/v1/grants", None, Some(signed))
        .await
        .unwrap();
    (status.as_u16(), body)
}

#[tokio::test]
async fn forged_tampered_stale_and_replayed_grants_are_refused() {
    let env = Env::start(GRANT_POLICY).await;
    let body = GrantBody {
        agent: "refund-bot".into(),
        tool: "stripe.refund".into(),
        when: None,
        for_secs: 600,
        reason: "r".into(),
        approver: "carol".into(),
        issued_at: now_rfc3339(),
    };
    // Signed by someone else's key, in carol's name.
    let forged = sign(&env, "dave", &body);
    assert_eq!(post(&env, &forged).await.0, 401);
    // Carol's signature over another body.
    let mut tampered = sign(&env, "carol", &body);
    tampered.body.for_secs = 7 * 86400;
    assert_eq!(post(&env, &tampered).await.0, 401);
    // A decision's signature is not a grant's.
    let mut other_purpose = sign(&env, "carol", &body);
    other_purpose.signature = env.key("carol").sign(Purpose::Decision, &body);
    assert_eq!(post(&env, &other_purpose).await.0, 401);
    let mut stale_body = body.clone();
    stale_body.issued_at = "2020-01-01T00:00:00.000Z".into();
    let (status, err) = post(&env, &sign(&env, "carol", &stale_body)).await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (400, &json!("stale_signature"))
    );
    let good = sign(&env, "carol", &body);
    let (status, created) = post(&env, &good).await;
    assert_eq!(status, 200, "{created}");
    // The same signed grant again: refused, nothing more stored.
    let (status, err) = post(&env, &good).await;
    assert_eq!((status, &err["error"]["code"]), (409, &json!("replayed")));
    assert_eq!(
        env.client
            .grants(env.key("carol"), false)
            .await
            .unwrap()
            .len(),
        1
    );
    // An absent condition is signed absent; `"when": null` reads as absent too.
    let mut other = body.clone();
    other.reason = "another".into();
    let mut with_null = serde_json::to_value(sign(&env, "carol", &other)).unwrap();
    with_null["when"] = Value::Null;
    assert_eq!(post(&env, &with_null).await.0, 200);
    // A condition added after signing is not what was signed.
    let mut widened = serde_json::to_value(sign(&env, "carol", &other)).unwrap();
    widened["when"] = json!("true");
    assert_eq!(post(&env, &widened).await.0, 401);

    // A revocation signed for another grant, or replayed.
    let id = created["id"].as_str().unwrap().to_string();
    let e = env
        .client
        .raw(
            Method::POST,
            "/v1/grants/grt_other/revoke",
            None,
            Some(&revoke_body(&env, "carol", &id)),
        )
        .await
        .unwrap();
    assert_eq!(
        (e.0.as_u16(), &e.1["error"]["code"]),
        (400, &json!("grant_mismatch"))
    );
    let rb = revoke_body(&env, "carol", &id);
    let path = format!("/v1/grants/{id}/revoke");
    let first = env
        .client
        .raw(Method::POST, &path, None, Some(&rb))
        .await
        .unwrap();
    assert_eq!(first.0.as_u16(), 200, "{}", first.1);
    let again = env
        .client
        .raw(Method::POST, &path, None, Some(&rb))
        .await
        .unwrap();
    assert_eq!(again.0.as_u16(), 409, "{}", again.1);
}

fn revoke_body(env: &Env, who: &str, id: &str) -> gavel::protocol::SignedGrantRevoke {
    let body = gavel::protocol::GrantRevokeBody {
        grant: id.into(),
        reason: "done".into(),
        revoker: who.into(),
        issued_at: now_rfc3339(),
    };
    gavel::protocol::SignedGrantRevoke {
        signature: env.key(who).sign(Purpose::GrantRevoke, &body),
        body,
    }
}

#[tokio::test]
async fn consoles_hear_grants_live_and_find_live_ones_in_the_snapshot() {
    let env = Env::start(GRANT_POLICY).await;
    let (mut ws, _, _) = stream_as(&env.url(), env.key("alice")).await;
    let g = grant(
        &env,
        "carol",
        &ask("refund-bot", "stripe.refund", None, 3600),
    )
    .await
    .unwrap();
    let heard = wait_for(&mut ws, |m| matches!(m, ServerMessage::GrantChanged { .. })).await;
    let ServerMessage::GrantChanged { grant: got } = heard else {
        unreachable!()
    };
    assert_eq!((got.id.as_str(), got.uses), (g.id.as_str(), 0));
    refund(&env, json!({"amount": 2000.0})).await;
    let used = wait_for(&mut ws, |m| matches!(m, ServerMessage::GrantChanged { .. })).await;
    assert!(matches!(used, ServerMessage::GrantChanged { grant } if grant.uses == 1));
    let other = grant(&env, "carol", &ask("mailer", "email.digest", None, 3600))
        .await
        .unwrap();
    env.client
        .revoke_grant(env.key("carol"), &other.id, "done")
        .await
        .unwrap();
    let revoked = wait_for(
        &mut ws,
        |m| matches!(m, ServerMessage::GrantChanged { grant } if grant.revoked.is_some()),
    )
    .await;
    assert!(matches!(revoked, ServerMessage::GrantChanged { grant } if grant.id == other.id));
    // A console opening now sees the live grant only.
    let (_ws2, _, snapshot) = stream_as(&env.url(), env.key("erin")).await;
    let ServerMessage::Snapshot(snap) = snapshot else {
        panic!("a snapshot")
    };
    let ids: Vec<&str> = snap.grants.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, [g.id.as_str()]);
    assert_eq!(snap.grants[0].uses, 1);
}

#[tokio::test]
async fn escalations_say_whether_a_grant_may_cover_them() {
    let env = Env::start(GRANT_POLICY).await;
    let large = refund(&env, json!({"amount": 2000.0})).await;
    let huge = refund(&env, json!({"amount": 20000.0})).await;
    let email = env.act("mailer", "email.send", json!({}), "m").await;
    let grantable = |o: &gavel::protocol::ActionOutcome| {
        let env = &env;
        let id = o.escalation.clone().unwrap();
        async move { env.escalation(&id).await.rule.grantable }
    };
    assert!(grantable(&large).await);
    assert!(!grantable(&huge).await, "two approvals");
    assert!(!grantable(&email).await, "not grantable");
}

#[tokio::test]
async fn audit_verify_replays_grants_and_catches_a_tampered_grants_row() {
    let mut env = Env::start(GRANT_POLICY).await;
    let g = grant(
        &env,
        "carol",
        &ask("refund-bot", "stripe.refund", Some(USD), 3600),
    )
    .await
    .unwrap();
    refund(&env, json!({"amount": 1500.0, "currency": "usd"})).await;
    let r = grant(&env, "carol", &ask("mailer", "email.digest", None, 3600))
        .await
        .unwrap();
    env.client
        .revoke_grant(env.key("alice"), &r.id, "done")
        .await
        .unwrap();
    env.stop().await;
    let records = env.records();
    verify(&records.path(), &Expect::default()).unwrap();

    let tamper = |name: &str, sql: &str| {
        let dir = env.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(records.path(), db_path(&dir)).unwrap();
        let c = Connection::open(db_path(&dir)).unwrap();
        c.execute(sql, []).unwrap();
        match verify(&db_path(&dir), &Expect::default()) {
            Err(VerifyError::State(p)) => p,
            other => panic!("{name}: expected a state table problem, got {other:?}"),
        }
    };
    let p = tamper(
        "uses",
        &format!("UPDATE grants SET uses = 0 WHERE id = '{}'", g.id),
    );
    assert!(p.contains(&g.id) && p.contains("used"), "{p}");
    let p = tamper(
        "widened",
        &format!(
            "UPDATE grants SET body = json_set(body, '$.when', 'true') WHERE id = '{}'",
            g.id
        ),
    );
    assert!(p.contains(&g.id), "{p}");
    let p = tamper(
        "extended",
        &format!(
            "UPDATE grants SET body = json_set(body, '$.expires_at', '2099-01-01T00:00:00Z') WHERE id = '{}'",
            g.id
        ),
    );
    assert!(p.contains(&g.id), "{p}");
    let p = tamper(
        "unrevoked",
        &format!(
            "UPDATE grants SET revoked_at = NULL, body = json_remove(body, '$.revoked') WHERE id = '{}'",
            r.id
        ),
    );
    assert!(p.contains(&r.id) && p.contains("revocation"), "{p}");
    let p = tamper(
        "inserted",
        "INSERT INTO grants (id, body, expires_at) SELECT 'grt_forged', json_set(body, '$.id', 'grt_forged'), expires_at FROM grants LIMIT 1",
    );
    assert!(p.contains("grt_forged"), "{p}");
    let p = tamper("unlinked", "UPDATE actions SET grant_id = NULL");
    assert!(p.contains("grant"), "{p}");
}

#[test]
fn grantable_is_only_for_review_rules_and_is_refused_elsewhere_with_its_place() {
    let env = Env::new(
        r#"
[[rule]]
id = "reads"
tools = ["*.get"]
effect = "allow"
reason = "Read-only calls"
grantable = true
"#,
    );
    let err = gavel::server::load_config(&env.policy, &env.roster)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("policy.toml:7"), "{err}");
    assert!(
        err.contains("`grantable` only applies to effect = \"review\""),
        "{err}"
    );
    let ok = gavel::server::load_config(
        &{
            std::fs::write(&env.policy, GRANT_POLICY).unwrap();
            env.policy.clone()
        },
        &env.roster,
    );
    assert!(ok.is_ok());
}
