use serde_json::json;

use super::*;

fn record(seq: u64, kind: &str, actor: &str, body: Value) -> AuditRecord {
    AuditRecord {
        seq,
        time: chrono::Utc::now(),
        kind: kind.into(),
        actor: actor.into(),
        body,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

#[test]
fn records_map_to_events_with_stable_ids() {
    let flip = record(
        12,
        "killswitch",
        "dave",
        json!({"scope": "global", "on": true, "reason": "runaway", "operator": "dave",
               "issued_at": "t", "signature": "s", "agent": null}),
    );
    let ev = from_record(&flip).unwrap();
    assert_eq!(
        (ev.id.as_str(), ev.kind),
        ("evt_12", EventType::KillswitchFlipped)
    );
    assert_eq!(ev.data.on, Some(true));
    assert_eq!(ev.data.reason.as_deref(), Some("runaway"));

    let handed = record(
        13,
        "escalation_handed_over",
        "server",
        json!({"escalation": "esc_1", "action": "act_1", "agent": "deployer", "from": "ops",
               "to": "backup", "deadline": "2030-01-01T00:00:00Z"}),
    );
    let ev = from_record(&handed).unwrap();
    assert_eq!(ev.kind, EventType::EscalationResolved);
    assert_eq!(ev.data.resolution.as_deref(), Some("handed_over"));
    assert_eq!(ev.data.group.as_deref(), Some("backup"));

    let breaker = record(
        14,
        BREAKER_TRIPPED_KIND,
        "server",
        json!({"breaker": "fatigue", "agent": "refund-bot", "reason": "too many"}),
    );
    let ev = from_record(&breaker).unwrap();
    assert_eq!(ev.kind, EventType::BreakerTripped);
    assert_eq!(ev.data.breaker.as_deref(), Some("fatigue"));

    assert!(from_record(&record(15, "refused", "x", json!({}))).is_none());
    // A record that does not read as its kind is no event (and is logged).
    assert!(from_record(&record(16, "killswitch", "dave", json!({"scope": 1}))).is_none());
}

#[test]
fn long_text_is_cut() {
    let long = "x".repeat(5000);
    let t = text(&long);
    assert_eq!(t.chars().count(), MAX_TEXT + 1);
}
