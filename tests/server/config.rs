use std::process::Command;

use crate::common::{Env, POLICY};

/// Runs `gavel serve` with the given policy and roster text; returns its one-line error.
fn refused(policy: &str, roster: Option<&str>) -> String {
    // `gavel serve --data`: nothing may appear in the data dir.
    let env = Env::sqlite(policy);
    if let Some(r) = roster {
        std::fs::write(&env.roster, r).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&env.data)
        .arg("--policy")
        .arg(&env.policy)
        .arg("--roster")
        .arg(&env.roster)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server must refuse to start");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!env.data.join("gavel.db").exists(), "nothing written");
    err
}

fn rule(extra: &str) -> String {
    format!("[[rule]]\nid = \"ok\"\neffect = \"allow\"\nreason = \"fine\"\n\n[[rule]]\nid = \"broken\"\ntools = [\"x.*\"]\n{extra}\n")
}

#[test]
fn every_config_error_names_file_entry_and_position() {
    // Bad TOML.
    let e = refused("[[rule]\nid = 1", None);
    assert!(e.contains("policy.toml:1:"), "{e}");

    // Unknown key, with the rule it is in.
    let e = refused(
        &rule("effect = \"allow\"\nreason = \"r\"\nwhn = \"true\""),
        None,
    );
    assert!(
        e.contains("policy.toml:") && e.contains("rule \"broken\"") && e.contains("whn"),
        "{e}"
    );

    // A CEL condition that does not parse: the line of the condition.
    let e = refused(
        &rule("effect = \"deny\"\nreason = \"r\"\nwhen = \"args.amount >\""),
        None,
    );
    assert!(
        e.contains("policy.toml:11:")
            && e.contains("rule \"broken\"")
            && e.contains("condition does not parse"),
        "{e}"
    );

    // A condition on an unknown variable.
    let e = refused(
        &rule("effect = \"deny\"\nreason = \"r\"\nwhen = \"user.admin\""),
        None,
    );
    assert!(
        e.contains("rule \"broken\"") && e.contains("unknown variable `user`"),
        "{e}"
    );

    // An unknown approver group.
    let e = refused(
        &rule("effect = \"review\"\nreason = \"r\"\napprovers = \"legal\"\ntimeout = \"5m\""),
        None,
    );
    assert!(
        e.contains("policy.toml:11:") && e.contains("unknown group \"legal\""),
        "{e}"
    );

    // More approvals than the group has approvers.
    let e = refused(&rule("effect = \"review\"\nreason = \"r\"\napprovers = \"ops\"\napprovals = 2\ntimeout = \"5m\""), None);
    assert!(e.contains("cannot be met"), "{e}");

    // A bad timeout, and review-only keys on other effects.
    let e = refused(
        &rule("effect = \"review\"\nreason = \"r\"\napprovers = \"ops\"\ntimeout = \"soon\""),
        None,
    );
    assert!(
        e.contains("rule \"broken\"") && e.contains("timeout"),
        "{e}"
    );
    let e = refused(
        &rule("effect = \"deny\"\nreason = \"r\"\napprovers = \"ops\""),
        None,
    );
    assert!(e.contains("only applies to effect = \"review\""), "{e}");

    // A bad effect value.
    let e = refused(&rule("effect = \"maybe\"\nreason = \"r\""), None);
    assert!(e.contains("rule \"broken\"") && e.contains("maybe"), "{e}");

    // Duplicate rule id.
    let e = refused(
        &format!(
            "{}\n[[rule]]\nid = \"ok\"\neffect = \"deny\"\nreason = \"again\"\n",
            rule("effect = \"deny\"\nreason = \"r\"")
        ),
        None,
    );
    assert!(
        e.contains("policy.toml:13:")
            && e.contains("rule \"ok\"")
            && e.contains("duplicate rule id"),
        "{e}"
    );

    // Roster: malformed key, duplicate id, unknown key, bad token hash, unknown owner.
    let person = |id: &str, key: &str| {
        format!("[[person]]\nid = \"{id}\"\nkey = \"{key}\"\nroles = [\"approver\"]\ngroups = [\"ops\"]\n\n")
    };
    let good_key = gavel::protocol::PersonKey::generate("x")
        .public()
        .to_string();
    let e = refused(POLICY, Some(&person("zed", "ed25519:not-base64")));
    assert!(
        e.contains("roster.toml:3:") && e.contains("person \"zed\"") && e.contains("malformed key"),
        "{e}"
    );
    let e = refused(
        POLICY,
        Some(&format!(
            "{}{}",
            person("zed", &good_key),
            person("zed", &good_key)
        )),
    );
    assert!(
        e.contains("roster.toml:8:") && e.contains("duplicate person id"),
        "{e}"
    );
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[person]]\nid = \"y\"\nkey = \"{good_key}\"\nrole = [\"approver\"]\n",
            person("zed", &good_key)
        )),
    );
    assert!(e.contains("person \"y\"") && e.contains("role"), "{e}");
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[agent]]\nid = \"bot\"\ntoken_sha256 = \"abc\"\n",
            person("zed", &good_key)
        )),
    );
    assert!(
        e.contains("agent \"bot\"") && e.contains("64 hex digits"),
        "{e}"
    );
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[agent]]\nid = \"bot\"\nowner = \"nobody\"\ntoken_sha256 = \"{}\"\n",
            person("zed", &good_key),
            "a".repeat(64)
        )),
    );
    assert!(e.contains("owner \"nobody\""), "{e}");

    // Missing files.
    let env = Env::sqlite(POLICY);
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--data"])
        .arg(&env.data)
        .args(["--policy", "/nonexistent/policy.toml", "--roster"])
        .arg(&env.roster)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("/nonexistent/policy.toml")
            && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn the_shipped_examples_load() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (policy, roster) = gavel::server::load_config(
        std::path::Path::new(&format!("{root}/assets/policy.toml")),
        std::path::Path::new(&format!("{root}/assets/roster.toml")),
    )
    .unwrap();
    assert!(policy.rules.len() >= 10);
    assert_eq!(roster.agents.len(), 5);
}

/// A `[[person]]` entry (6 lines with the blank one after it; `key` is on its third line).
fn person(id: &str, key: &str) -> String {
    format!("[[person]]\nid = \"{id}\"\nkey = \"{key}\"\nroles = [\"approver\"]\ngroups = [\"ops\"]\n\n")
}

fn new_key() -> String {
    gavel::protocol::PersonKey::generate("x")
        .public()
        .to_string()
}

#[test]
fn one_key_or_one_id_for_two_holders_is_refused() {
    let (k1, k2) = (new_key(), new_key());
    // One key under two people would let one person cast both votes of a two-person rule.
    let e = refused(
        POLICY,
        Some(&format!("{}{}", person("zed", &k1), person("yan", &k1))),
    );
    assert!(
        e.contains("roster.toml:9:7: person \"yan\"")
            && e.contains("duplicate key")
            && e.contains("person \"zed\" at ")
            && e.contains("roster.toml:3:7"),
        "{e}"
    );
    // The same id again names where the first one is.
    let e = refused(
        POLICY,
        Some(&format!("{}{}", person("zed", &k1), person("zed", &k2))),
    );
    assert!(
        e.contains("roster.toml:8:")
            && e.contains("duplicate person id")
            && e.contains("roster.toml:2:6"),
        "{e}"
    );
    // Ids that differ only in case, among people or between a person and an agent.
    let e = refused(
        POLICY,
        Some(&format!("{}{}", person("zed", &k1), person("Zed", &k2))),
    );
    assert!(
        e.contains("person \"Zed\"")
            && e.contains("ignoring case")
            && e.contains("person \"zed\" is at"),
        "{e}"
    );
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[agent]]\nid = \"ZED\"\ntoken_sha256 = \"{}\"\n",
            person("zed", &k1),
            "a".repeat(64)
        )),
    );
    assert!(
        e.contains("roster.toml:8:") && e.contains("agent \"ZED\"") && e.contains("ignoring case"),
        "{e}"
    );
    // Two agents with one token: the second names the first.
    let agent = |id: &str| {
        format!(
            "[[agent]]\nid = \"{id}\"\ntoken_sha256 = \"{}\"\n\n",
            "b".repeat(64)
        )
    };
    let e = refused(
        POLICY,
        Some(&format!(
            "{}{}{}",
            person("zed", &k1),
            agent("a1"),
            agent("a2")
        )),
    );
    assert!(
        e.contains("agent \"a2\"")
            && e.contains("duplicate token_sha256")
            && e.contains("agent \"a1\" at"),
        "{e}"
    );
}

#[test]
fn ids_are_plain_ascii_and_bounded() {
    let k = new_key();
    for (id, why) in [
        ("zed\u{200b}", "plain ASCII"), // zero-width space
        ("z\u{0435}d", "plain ASCII"),  // Cyrillic e
        ("zed ", "plain ASCII"),
        (" zed", "plain ASCII"),
        ("-zed", "plain ASCII"),
        ("zed\u{202e}", "plain ASCII"), // right-to-left override
        ("zed:ops", "plain ASCII"),
        ("", "must not be empty"),
        ("server", "reserved"), // the audit log's own actor
        ("Server", "reserved"),
    ] {
        let e = refused(POLICY, Some(&person(id, &k)));
        assert!(
            e.contains("roster.toml:2:6") && e.contains(why),
            "{id:?}: {e}"
        );
        assert!(
            !e.contains('\u{200b}') && !e.contains('\u{202e}'),
            "shown escaped: {e}"
        );
    }
    let long = "z".repeat(65);
    let e = refused(POLICY, Some(&person(&long, &k)));
    assert!(e.contains("longer than 64"), "{e}");
    let e = refused(
        POLICY,
        Some(&format!(
            "{}[[agent]]\nid = \"bot\u{2060}\"\ntoken_sha256 = \"{}\"\n",
            person("zed", &k),
            "a".repeat(64)
        )),
    );
    assert!(
        e.contains("agent \"bot") && e.contains("plain ASCII"),
        "{e}"
    );
}

#[test]
fn acts_for_names_people_in_the_roster() {
    let k = new_key();
    let agent = |acts_for: &str| {
        format!(
            "{}[[agent]]\nid = \"bot\"\nacts_for = {acts_for}\ntoken_sha256 = \"{}\"\n",
            person("zed", &k),
            "a".repeat(64)
        )
    };
    for (acts_for, why) in [
        ("[\"nobody\"]", "\"nobody\" is not a person in the roster"),
        ("[\"Zed\"]", "\"Zed\" is not a person in the roster"),
        ("[\"zed\", \"zed\"]", "\"zed\" is named twice"),
        ("[\"bot\"]", "\"bot\" is not a person in the roster"),
    ] {
        let e = refused(POLICY, Some(&agent(acts_for)));
        assert!(
            e.contains("roster.toml:9:") && e.contains("agent \"bot\"") && e.contains(why),
            "{acts_for}: {e}"
        );
    }
    let e = refused(POLICY, Some(&agent("\"zed\"")));
    assert!(
        e.contains("roster.toml:9:")
            && e.contains("agent \"bot\"")
            && e.contains("expected a sequence"),
        "{e}"
    );
}

#[test]
fn the_auditor_role_is_a_role() {
    let src = gavel::config::SourceFile::new(
        "roster.toml",
        format!(
            "[[person]]\nid = \"grace\"\nkey = \"{}\"\nroles = [\"auditor\"]\n",
            new_key()
        ),
    );
    let roster = gavel::server::roster::Roster::parse(&src).unwrap();
    assert_eq!(
        roster.person("grace").unwrap().info.roles,
        [gavel::protocol::Role::Auditor]
    );
}
