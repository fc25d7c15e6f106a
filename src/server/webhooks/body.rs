//! The three bodies a webhook can ask for: gavel's own JSON, a Slack incoming-webhook message,
//! and a PagerDuty Events API v2 event.

use serde_json::{json, Value};

use super::events::Event;
use crate::config::webhook::{EventType, WebhookFormat};
use crate::protocol::sanitize::inert;

/// PagerDuty refuses a summary over 1024 characters.
const PD_SUMMARY: usize = 1024;

pub fn render(format: WebhookFormat, routing_key: Option<&str>, ev: &Event) -> Value {
    match format {
        WebhookFormat::Json => json!(ev),
        WebhookFormat::Slack => slack(ev),
        WebhookFormat::Pagerduty => pagerduty(routing_key.unwrap_or_default(), ev),
    }
}

/// One line saying what happened, for people.
pub fn summary(ev: &Event) -> String {
    let d = &ev.data;
    let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let call = format!("{} → {}", s(&d.agent), s(&d.tool));
    match ev.kind {
        EventType::EscalationCreated => format!(
            "gavel: {call} needs {} approval(s) from {} ({})",
            d.approvals_required.unwrap_or(1),
            s(&d.group),
            s(&d.reason)
        ),
        EventType::EscalationNearDeadline => format!(
            "gavel: {call} is still undecided; its deadline is {} ({})",
            d.deadline.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s(&d.group)
        ),
        EventType::EscalationResolved => format!(
            "gavel: {call}: {}{}",
            s(&d.resolution),
            d.resolution_reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        EventType::KillswitchFlipped => format!(
            "gavel: kill switch {} turned {} by {} ({})",
            s(&d.scope),
            if d.on == Some(true) { "ON" } else { "off" },
            s(&d.operator),
            s(&d.reason)
        ),
        EventType::BreakerTripped => format!(
            "gavel: breaker {} tripped for {} ({})",
            s(&d.breaker),
            s(&d.agent),
            s(&d.reason)
        ),
    }
}

/// Slack reads `&`, `<` and `>` as markup (links, mentions such as `<!channel>`): escaped, so
/// a tool name cannot page a whole channel. Invisible and control characters are shown inert.
fn slack_text(s: &str) -> String {
    inert(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(ev: &Event) -> Value {
    let text = slack_text(&summary(ev));
    let mut fields = Vec::new();
    let d = &ev.data;
    for (name, value) in [
        ("Escalation", d.escalation.as_deref()),
        ("Agent", d.agent.as_deref()),
        ("Tool", d.tool.as_deref()),
        ("Rule", d.rule.as_deref()),
        ("Group", d.group.as_deref()),
        ("Resolution", d.resolution.as_deref()),
        ("Scope", d.scope.as_deref()),
    ] {
        if let Some(v) = value {
            fields
                .push(json!({ "type": "mrkdwn", "text": format!("*{name}*\n{}", slack_text(v)) }));
        }
    }
    if let Some(deadline) = d.deadline {
        fields.push(
            json!({ "type": "mrkdwn", "text": format!("*Deadline*\n{}", deadline.to_rfc3339()) }),
        );
    }
    let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })];
    if !fields.is_empty() {
        // Slack allows ten fields per section.
        fields.truncate(10);
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("{} · {}", ev.kind.name(), ev.id) }]
    }));
    json!({ "text": text, "blocks": blocks })
}

fn pagerduty(routing_key: &str, ev: &Event) -> Value {
    let d = &ev.data;
    let (action, dedup_key, severity) = match ev.kind {
        EventType::EscalationCreated => ("trigger", d.escalation.clone(), "warning"),
        EventType::EscalationNearDeadline => ("trigger", d.escalation.clone(), "error"),
        EventType::EscalationResolved if d.resolution.as_deref() == Some("handed_over") => {
            ("trigger", d.escalation.clone(), "warning")
        }
        EventType::EscalationResolved => ("resolve", d.escalation.clone(), "info"),
        EventType::KillswitchFlipped => (
            if d.on == Some(true) {
                "trigger"
            } else {
                "resolve"
            },
            d.scope.as_ref().map(|s| format!("killswitch:{s}")),
            "critical",
        ),
        EventType::BreakerTripped => (
            "trigger",
            Some(format!(
                "breaker:{}:{}",
                d.breaker.as_deref().unwrap_or(""),
                d.agent.as_deref().unwrap_or("")
            )),
            "error",
        ),
    };
    let dedup_key = dedup_key.unwrap_or_else(|| ev.id.clone());
    if action == "resolve" {
        return json!({ "routing_key": routing_key, "event_action": action, "dedup_key": dedup_key });
    }
    let summary: String = summary(ev).chars().take(PD_SUMMARY).collect();
    json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": "gavel",
            "severity": severity,
            "timestamp": ev.time.to_rfc3339(),
            "component": d.tool,
            "group": d.agent,
            "class": ev.kind.name(),
            "custom_details": d,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::webhooks::events::EventData;

    #[test]
    fn slack_text_cannot_mention_link_or_hide() {
        let ev = Event {
            id: "evt_1".into(),
            kind: EventType::EscalationCreated,
            time: chrono::Utc::now(),
            data: EventData {
                agent: Some("bot\u{202e}gnp.exe".into()),
                tool: Some("<!channel> & <https://evil.example|click>".into()),
                ..EventData::default()
            },
        };
        let body = slack(&ev).to_string();
        assert!(
            !body.contains("<!channel>") && !body.contains("<https://"),
            "{body}"
        );
        assert!(body.contains("&lt;!channel&gt; &amp;"), "{body}");
        assert!(
            !body.contains('\u{202e}') && body.contains("\\\\u{202e}"),
            "{body}"
        );
    }

    #[test]
    fn pagerduty_resolves_on_the_escalation_it_triggered() {
        let mut ev = Event {
            id: "evt_2".into(),
            kind: EventType::EscalationResolved,
            time: chrono::Utc::now(),
            data: EventData {
                escalation: Some("esc_9".into()),
                resolution: Some("denied".into()),
                ..EventData::default()
            },
        };
        let resolve = pagerduty("key", &ev);
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(resolve["dedup_key"], "esc_9");
        ev.data.resolution = Some("handed_over".into());
        assert_eq!(pagerduty("key", &ev)["event_action"], "trigger");
    }
}
