use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::ConfigFile;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn parse(text: &str) -> Result<Vec<WebhookEntry>, ConfigError> {
    ConfigFile::parse(
        &SourceFile::new("gavel.toml", text),
        Path::new("/etc/gavel"),
    )
    .map(|f| f.webhooks)
}

#[test]
fn defaults_and_every_key() {
    let hooks = parse(&format!(
        "[[webhook]]\nurl = \"https://hooks.example/a\"\nsecret = \"{SECRET}\"\n\n\
         [[webhook]]\nid = \"pager\"\nurl = \"http://127.0.0.1:9/x\"\nformat = \"pagerduty\"\n\
         routing_key_env = \"PD_KEY\"\nevents = [\"escalation.created\", \"escalation.resolved\", \"escalation.created\"]\n\
         near_deadline = \"2m\"\ntimeout = \"3s\"\nretry_backoff = \"50ms\"\ngive_up_after = \"1h\"\nca_cert = \"ca.pem\"\n"
    ))
    .unwrap();
    assert_eq!(hooks.len(), 2);
    let a = &hooks[0];
    assert_eq!(a.format, WebhookFormat::Json);
    assert_eq!(a.events, EventType::ALL.to_vec());
    assert_eq!(a.near_deadline, Duration::from_secs(300));
    assert_eq!(a.timeout, Duration::from_secs(10));
    assert_eq!(a.give_up_after, Duration::from_secs(86_400));
    assert!(a.id.starts_with("url-"));
    assert!(
        !format!("{a:?}").contains("MfKQ"),
        "secrets are not printed"
    );
    let b = &hooks[1];
    assert_eq!(b.id, "pager");
    assert_eq!(
        b.events,
        vec![EventType::EscalationCreated, EventType::EscalationResolved]
    );
    assert_eq!(b.retry_backoff, Duration::from_millis(50));
    assert_eq!(b.ca_cert.as_deref(), Some(Path::new("/etc/gavel/ca.pem")));
    match &b.routing_key {
        Some(Secret::Env { var, at }) => {
            assert_eq!(var, "PD_KEY");
            assert_eq!((at.line, at.entry.as_str()), (9, "webhook \"pager\""));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mistakes_name_file_line_and_webhook() {
    let json =
        |extra: &str| format!("[[webhook]]\nid = \"h\"\nurl = \"https://x.example/\"\n{extra}");
    let signed = |extra: &str| json(&format!("secret = \"{SECRET}\"\n{extra}"));
    for (text, at, what) in [
        (signed("events = [\"escalation.opened\"]\n"), "gavel.toml:5:", "escalation.opened"),
        (signed("retries = 3\n"), "gavel.toml:5:", "retries"),
        (signed("format = \"teams\"\n"), "gavel.toml:5:", "teams"),
        (signed("near_deadline = \"5 minutes\"\n"), "gavel.toml:5:", "near_deadline"),
        (signed("events = []\n"), "gavel.toml:5:", "events"),
        (json(""), "gavel.toml:3:", "secret"),
        (json("secret = \"hunter2\"\n"), "gavel.toml:4:", "whsec_"),
        (json("secret = \"whsec_c2hvcnQ=\"\n"), "gavel.toml:4:", "24 to 64 bytes"),
        (
            json(&format!("secret = \"{SECRET}\"\nsecret_env = \"S\"\n")),
            "gavel.toml:5:",
            "not both",
        ),
        (json("format = \"pagerduty\"\n"), "gavel.toml:4:", "routing_key"),
        (
            json("format = \"slack\"\nrouting_key = \"k\"\n"),
            "gavel.toml:5:",
            "only applies",
        ),
        (
            "[[webhook]]\nurl = \"ftp://x.example/\"\nformat = \"slack\"\n".to_string(),
            "gavel.toml:2:",
            "http",
        ),
        (
            "[[webhook]]\nurl = \"https://x/\"\nformat = \"slack\"\n[[webhook]]\nurl = \"https://x/\"\nformat = \"slack\"\n"
                .to_string(),
            "gavel.toml:5:",
            "same id",
        ),
    ] {
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.starts_with(at), "{text}: {e}");
        assert!(e.contains("webhook") && e.contains(what), "{text}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn every_event_name_is_accepted() {
    let names: Vec<String> = EventType::ALL
        .iter()
        .map(|e| format!("\"{}\"", e.name()))
        .collect();
    let hooks = parse(&format!(
        "[[webhook]]\nurl = \"https://x/\"\nformat = \"slack\"\nevents = [{}]\n",
        names.join(", ")
    ))
    .unwrap();
    assert_eq!(hooks[0].events, EventType::ALL.to_vec());
}
