//! What the document says about request bodies holds at the server: every body a schema
//! refuses (made from a good body by one change: a required field left out, a field of the wrong
//! type, too long, too small, off its pattern, format or enum, a field the schema closes out) is
//! refused with 400 and changes nothing, and the bodies a schema accepts with only the required
//! fields (and nulls where it allows them) are accepted.

use gavel::protocol::now_rfc3339;
use gavel::protocol::signing::Purpose;
use gavel::protocol::PersonKey;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Env, POLICY};
use crate::spec::{accepted, call, signed, Auth, Spec};

/// A body one change away from a good one, that the schema refuses.
struct Variant {
    what: String,
    body: Value,
    /// Whether to sign it again after the change (not when the change is to the signature).
    resign: bool,
}

/// Values of every JSON type; a "wrong type" is the first of these a property refuses.
fn other_types() -> [Value; 6] {
    [
        json!(true),
        json!(12345),
        json!(1.5),
        json!("x"),
        json!([]),
        json!({}),
    ]
}

/// Every single-change body the schema refuses, each checked to be refused by the schema.
fn refused_variants(spec: &Spec, schema: &Value, good: &Value) -> Vec<Variant> {
    let validator = spec.validator(schema);
    assert!(validator.is_valid(good), "the good body fits: {good}");
    let s = spec.resolve(schema);
    let mut out = Vec::new();
    let mut push = |what: String, body: Value, field: &str| {
        if validator.is_valid(&body) {
            return false;
        }
        let resign = field != "signature";
        out.push(Variant { what, body, resign });
        true
    };
    for field in s["required"].as_array().unwrap() {
        let field = field.as_str().unwrap();
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        assert!(push(format!("without `{field}`"), body, field), "{field}");
    }
    for (field, p) in s["properties"].as_object().unwrap() {
        let with = |v: Value| {
            let mut body = good.clone();
            body[field] = v;
            body
        };
        for v in other_types() {
            if push(format!("`{field}` as {v}"), with(v), field) {
                break;
            }
        }
        let p = spec.resolve(p);
        if let Some(max) = p["maxLength"].as_u64() {
            let v = "x".repeat(max as usize + 1);
            assert!(push(format!("`{field}` too long"), with(json!(v)), field));
        }
        if let Some(min) = p["minimum"].as_f64() {
            assert!(push(
                format!("`{field}` below {min}"),
                with(json!(min - 1.0)),
                field
            ));
        }
        if p["format"] == "date-time" {
            let body = with(json!("yesterday"));
            assert!(push(format!("`{field}` not a date-time"), body, field));
        }
        if p["pattern"].is_string() {
            assert!(push(
                format!("`{field}` off its pattern"),
                with(json!(" ")),
                field
            ));
        }
        let enumerated = p["enum"].is_array() || p["oneOf"].is_array();
        if enumerated {
            push(
                format!("`{field}` not one of its values"),
                with(json!("bogus")),
                field,
            );
        }
    }
    if s["additionalProperties"] == json!(false) {
        let body = with_extra(good);
        assert!(push("with a field it does not name".into(), body, "extra"));
    }
    out
}

fn with_extra(good: &Value) -> Value {
    let mut body = good.clone();
    body["unexpected"] = json!("field");
    body
}

/// Sends every refused variant and expects 400 (or 422).
async fn all_refused(
    env: &Env,
    spec: &Spec,
    path: &str,
    auth: Auth<'_>,
    good: &Value,
    key: Option<(&PersonKey, Purpose)>,
) {
    let schema = spec.request_schema(&Method::POST, path);
    let variants = refused_variants(spec, &schema, good);
    assert!(variants.len() >= 4, "{path}: {} variants", variants.len());
    for v in variants {
        let body = match key {
            Some((key, purpose)) if v.resign => signed(key, purpose, v.body),
            _ => v.body,
        };
        assert!(
            !spec.validator(&schema).is_valid(&body),
            "{path} {}",
            v.what
        );
        let auth = match &auth {
            Auth::Agent(a) => Auth::Agent(a),
            _ => Auth::None,
        };
        let answer = call(env, spec, Method::POST, path, auth, Some(&body)).await;
        assert!(
            matches!(answer.status, 400 | 422),
            "{path} {}: the schema refuses it, the server answered {} {}",
            v.what,
            answer.status,
            answer.body
        );
    }
}

#[tokio::test]
async fn action_requests_the_schema_refuses_are_refused_and_minimal_ones_accepted() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    let path = "/v1/actions";
    let good = json!({"tool": "orders.get", "args": {"id": "o-17"}, "session": "s",
            "rationale": "a look", "cost": 0.5, "parent": "t-1", "context": {"cwd": "/"}});
    all_refused(&env, &spec, path, Auth::Agent("refund-bot"), &good, None).await;

    let schema = spec.request_schema(&Method::POST, path);
    let s = spec.resolve(&schema).clone();
    let required: Vec<&str> = s["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(required, ["tool", "session"]);
    let minimal: Value = required
        .iter()
        .map(|f| (f.to_string(), good[f].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let out = accepted(
        &env,
        &spec,
        Method::POST,
        path,
        Auth::Agent("refund-bot"),
        Some(&minimal),
    )
    .await;
    assert_eq!(out["verdict"], "allow");
    let mut nulls = minimal.clone();
    let validator = spec.validator(&schema);
    for field in s["properties"].as_object().unwrap().keys() {
        let mut with_null = nulls.clone();
        with_null[field] = Value::Null;
        if !required.contains(&field.as_str()) && validator.is_valid(&with_null) {
            nulls = with_null;
        }
    }
    assert!(
        nulls["on_behalf_of"].is_null() && nulls["cost"].is_null(),
        "{nulls}"
    );
    let out = accepted(
        &env,
        &spec,
        Method::POST,
        path,
        Auth::Agent("refund-bot"),
        Some(&nulls),
    )
    .await;
    assert_eq!(out["verdict"], "allow");
}

#[tokio::test]
async fn signed_bodies_the_schema_refuses_are_refused_and_good_ones_accepted() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    let agent = Auth::Agent("refund-bot");
    let refund =
        |amount: f64| json!({"tool": "stripe.refund", "args": {"amount": amount}, "session": "s"});
    let big = accepted(
        &env,
        &spec,
        Method::POST,
        "/v1/actions",
        agent,
        Some(&refund(5000.0)),
    )
    .await;
    let flagged = accepted(
        &env,
        &spec,
        Method::POST,
        "/v1/actions",
        Auth::Agent("refund-bot"),
        Some(&refund(500.0)),
    )
    .await;
    let esc = big["escalation"].as_str().unwrap();
    let digest = env.escalation(esc).await.digest;
    let (alice, carol, erin) = (env.key("alice"), env.key("carol"), env.key("erin"));

    let path = format!("/v1/escalations/{esc}/decisions");
    let good = signed(
        carol,
        Purpose::Decision,
        json!({"escalation": esc, "digest": digest,
            "verdict": "approve", "reason": "ok", "approver": "carol", "issued_at": now_rfc3339()}),
    );
    all_refused(
        &env,
        &spec,
        &path,
        Auth::None,
        &good,
        Some((carol, Purpose::Decision)),
    )
    .await;
    let ack = accepted(&env, &spec, Method::POST, &path, Auth::None, Some(&good)).await;
    assert_eq!(
        ack["escalation"]["state"], "approved",
        "the refusals changed nothing"
    );

    let good = signed(
        alice,
        Purpose::KillSwitch,
        json!({"scope": "tool:x.get", "on": true,
            "reason": "test", "operator": "alice", "issued_at": now_rfc3339()}),
    );
    all_refused(
        &env,
        &spec,
        "/v1/killswitches",
        Auth::None,
        &good,
        Some((alice, Purpose::KillSwitch)),
    )
    .await;
    accepted(
        &env,
        &spec,
        Method::POST,
        "/v1/killswitches",
        Auth::None,
        Some(&good),
    )
    .await;

    let action = flagged["id"].as_str().unwrap();
    let path = format!("/v1/flagged/{action}/review");
    let good = signed(
        erin,
        Purpose::FlagReview,
        json!({"action": action, "review": "acknowledge",
            "note": "fine", "reviewer": "erin", "issued_at": now_rfc3339()}),
    );
    all_refused(
        &env,
        &spec,
        &path,
        Auth::None,
        &good,
        Some((erin, Purpose::FlagReview)),
    )
    .await;
    accepted(&env, &spec, Method::POST, &path, Auth::None, Some(&good)).await;
}
