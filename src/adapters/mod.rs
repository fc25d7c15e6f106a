//! Adapters that put real agents behind gavel unchanged: the Claude Code `PreToolUse` hook and
//! the MCP stdio gate. Both talk to the server only through [`crate::client`] and
//! [`crate::protocol`], and both fail closed: every error becomes a deny with a readable reason.
//!
//! See `docs/ADAPTERS.md` for setup.

mod adjudicate;
mod claude_code;
mod gate;

use std::path::PathBuf;

use crate::client::{Client, ClientError};
use crate::config::{
    ConfigError, ConfigFile, ServerList, ENV_AGENT_TOKEN, ENV_CA_CERT, ENV_ON_BEHALF_OF, ENV_SERVER,
};
use crate::protocol::{inert, ActionOutcome, Resolution, Verdict, Vote};

pub use adjudicate::{adjudicate, adjudicate_watched, Budget, WITHDRAW_TIMEOUT};
pub use claude_code::run as run_claude_code;
pub use gate::run as run_gate;

/// Environment variable for the hook's timeout in seconds (the `timeout` of the hook entry in
/// Claude Code's settings).
pub const ENV_HOOK_TIMEOUT: &str = "GAVEL_HOOK_TIMEOUT";
/// Claude Code's default hook timeout.
pub const DEFAULT_HOOK_TIMEOUT_SECS: u64 = 600;

#[derive(clap::Args, Debug, Default)]
pub struct ClaudeCodeArgs {
    /// Server URL; repeat it (or separate URLs with commas) for replicas: the next is tried
    /// when one does not answer or answers 503, and a call is denied when none does (default:
    /// GAVEL_SERVER, then the config file, then http://127.0.0.1:7878)
    #[arg(long, value_name = "URL")]
    pub server: Vec<String>,
    /// The hook's `timeout` in Claude Code's settings, in seconds; gavel answers deny a little
    /// before it (default: GAVEL_HOOK_TIMEOUT, then the config file, then 600)
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The human the agent works for (default: GAVEL_ON_BEHALF_OF, then the config file)
    #[arg(long)]
    pub on_behalf_of: Option<String>,
    /// A private CA certificate (PEM) to trust for an https:// server (default: GAVEL_CA_CERT,
    /// then the config file)
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct GateArgs {
    /// Server URL; repeat it (or separate URLs with commas) for replicas: the next is tried
    /// when one does not answer or answers 503, and a call is denied when none does (default:
    /// GAVEL_SERVER, then the config file, then http://127.0.0.1:7878)
    #[arg(long, value_name = "URL")]
    pub server: Vec<String>,
    /// Name of the MCP server in policy tool names (`mcp.<name>.<tool>`); default: derived
    /// from the package, script or image the command runs (never from the server itself)
    #[arg(long)]
    pub name: Option<String>,
    /// The human the agent works for (default: GAVEL_ON_BEHALF_OF, then the config file)
    #[arg(long)]
    pub on_behalf_of: Option<String>,
    /// A private CA certificate (PEM) to trust for an https:// server (default: GAVEL_CA_CERT,
    /// then the config file)
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Gate a remote MCP server over Streamable HTTP (`--upstream URL`, `--name` required)
    /// instead of starting a command
    #[arg(long, requires_all = ["upstream", "name"], conflicts_with = "command")]
    pub http: bool,
    /// With --http: where the gate listens (default: 127.0.0.1:7879, loopback only)
    #[arg(long, value_name = "ADDR", requires = "http")]
    pub listen: Option<String>,
    /// With --http: the remote MCP server's endpoint, http:// or https:// (trusting the
    /// system's roots and --ca-cert)
    #[arg(long, value_name = "URL", requires = "http")]
    pub upstream: Option<String>,
    /// The MCP server command and its arguments
    #[arg(last = true, required_unless_present = "http")]
    pub command: Vec<String>,
}

/// Where an adapter finds the server and who it acts as. Flags win over the environment, the
/// environment over the `[adapter]` table of the config file (`GAVEL_CONFIG`, default
/// `~/.config/gavel/gavel.toml`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// The servers as given; checked when the client is made.
    pub server: ServerList,
    pub token: Option<String>,
    pub on_behalf_of: Option<String>,
    pub hook_timeout: Option<u64>,
    /// A private CA to trust for an `https://` server.
    pub ca_cert: Option<PathBuf>,
}

impl Settings {
    /// Resolve from flags, the process environment and the config file.
    pub fn resolve(
        server: &[String],
        on_behalf_of: Option<&str>,
        hook_timeout: Option<u64>,
        ca_cert: Option<&std::path::Path>,
    ) -> Result<Settings, ConfigError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let file = ConfigFile::load_user()?.adapter;
        let hook_env = env(ENV_HOOK_TIMEOUT).and_then(|v| v.trim().parse::<u64>().ok());
        Ok(Settings {
            server: ServerList::pick(
                server,
                env(ENV_SERVER),
                file.server.as_deref(),
                "[adapter] server",
            ),
            token: env(ENV_AGENT_TOKEN).or(file.agent_token),
            on_behalf_of: on_behalf_of
                .map(str::to_string)
                .or_else(|| env(ENV_ON_BEHALF_OF))
                .or(file.on_behalf_of),
            hook_timeout: hook_timeout.or(hook_env).or(file.hook_timeout),
            ca_cert: ca_cert
                .map(PathBuf::from)
                .or_else(|| env(ENV_CA_CERT).map(PathBuf::from))
                .or(file.ca_cert),
        })
    }

    /// The client for the servers, trusting the configured CA; a bad URL or CA file is an
    /// error the adapter answers as a deny.
    pub fn client(&self) -> Result<Client, ClientError> {
        let servers = self.server.parse().map_err(ClientError::Config)?;
        Client::for_servers(servers, self.ca_cert.as_deref())
    }
}

/// What an adapter tells its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruling {
    pub allow: bool,
    /// Readable by the agent and the person at the keyboard: one line, no control characters.
    pub reason: String,
}

impl Ruling {
    pub fn deny(reason: impl AsRef<str>) -> Ruling {
        Ruling {
            allow: false,
            reason: one_line(reason.as_ref()),
        }
    }
    fn allow(reason: impl AsRef<str>) -> Ruling {
        Ruling {
            allow: true,
            reason: one_line(reason.as_ref()),
        }
    }
}

fn one_line(s: &str) -> String {
    let s: String = s.chars().take(2000).collect();
    inert(&s).into_owned()
}

fn rule_text(o: &ActionOutcome) -> String {
    match &o.rule {
        Some(rule) => format!("rule {rule}: {}", o.reason),
        None => o.reason.clone(),
    }
}

/// The agent-facing ruling for an outcome the server gave. A final outcome's `reason` is the
/// server's account of the resolution; the approvers' own words come from the signed decisions.
pub fn ruling_of(o: &ActionOutcome) -> Ruling {
    let rule = o
        .rule
        .as_deref()
        .map(|r| format!(" (rule {r})"))
        .unwrap_or_default();
    match (o.verdict, o.resolution) {
        (Verdict::Allow, Some(Resolution::Approved)) => {
            Ruling::allow(format!("approved by {}{rule}", voters(o, Vote::Approve)))
        }
        (Verdict::Allow, _) => Ruling::allow(rule_text(o)),
        (Verdict::Deny, Some(Resolution::Denied)) if !o.decisions.is_empty() => {
            Ruling::deny(format!("denied by {}{rule}", voters(o, Vote::Deny)))
        }
        (Verdict::Deny, Some(Resolution::Expired)) => {
            Ruling::deny(format!("nobody decided before the deadline{rule}"))
        }
        (Verdict::Deny, Some(_)) => Ruling::deny(format!("{}{rule}", o.reason)),
        (Verdict::Deny, None) => Ruling::deny(rule_text(o)),
        (Verdict::Pending, _) => Ruling::deny(format!("still pending ({})", rule_text(o))),
    }
}

/// `carol: "looks fine", dave: "ok"` for the decisions with `vote`.
fn voters(o: &ActionOutcome, vote: Vote) -> String {
    let list: Vec<String> = o
        .decisions
        .iter()
        .filter(|d| d.body.verdict == vote)
        .map(|d| format!("{}: \"{}\"", d.body.approver, d.body.reason))
        .collect();
    if list.is_empty() {
        "the approvers".to_string()
    } else {
        list.join(", ")
    }
}

/// A random hex id for sessions the adapter has to invent.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // Uniqueness, not secrecy, is what matters here.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{nanos:x}{:x}", std::process::id());
    }
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DecisionBody, SignedDecision};

    fn outcome(verdict: Verdict, resolution: Option<Resolution>) -> ActionOutcome {
        ActionOutcome {
            id: "a1".into(),
            verdict,
            rule: Some("r1".into()),
            reason: "Because".into(),
            escalation: None,
            deadline: None,
            resolution,
            decisions: vec![],
            flagged: false,
            review: None,
            grant: None,
        }
    }

    fn decision(approver: &str, vote: Vote, reason: &str) -> SignedDecision {
        SignedDecision {
            body: DecisionBody {
                escalation: "e1".into(),
                digest: "d".into(),
                verdict: vote,
                reason: reason.into(),
                approver: approver.into(),
                issued_at: "2026-01-01T00:00:00.000Z".into(),
            },
            signature: "s".into(),
        }
    }

    #[test]
    fn only_an_allow_verdict_allows() {
        assert!(ruling_of(&outcome(Verdict::Allow, None)).allow);
        assert!(ruling_of(&outcome(Verdict::Allow, Some(Resolution::Approved))).allow);
        for r in [
            None,
            Some(Resolution::Denied),
            Some(Resolution::Expired),
            Some(Resolution::Cancelled),
        ] {
            assert!(!ruling_of(&outcome(Verdict::Deny, r)).allow);
        }
        // A pending outcome handed over as if final is a deny, never an allow.
        assert!(!ruling_of(&outcome(Verdict::Pending, None)).allow);
    }

    #[test]
    fn reasons_name_the_rule_and_the_approver() {
        let deny = ruling_of(&outcome(Verdict::Deny, None));
        assert_eq!(deny.reason, "rule r1: Because");
        let mut approved = outcome(Verdict::Allow, Some(Resolution::Approved));
        approved.decisions = vec![decision("carol", Vote::Approve, "looks fine")];
        assert_eq!(
            ruling_of(&approved).reason,
            "approved by carol: \"looks fine\" (rule r1)"
        );
        let mut denied = outcome(Verdict::Deny, Some(Resolution::Denied));
        denied.decisions = vec![
            decision("carol", Vote::Approve, "fine"),
            decision("dave", Vote::Deny, "not today"),
        ];
        assert_eq!(
            ruling_of(&denied).reason,
            "denied by dave: \"not today\" (rule r1)"
        );
        let expired = ruling_of(&outcome(Verdict::Deny, Some(Resolution::Expired)));
        assert!(expired.reason.contains("deadline"), "{}", expired.reason);
    }

    #[test]
    fn reasons_are_one_inert_line() {
        let mut o = outcome(Verdict::Deny, None);
        o.reason = "two\nlines \x1b[31mred".into();
        let r = ruling_of(&o);
        assert!(
            !r.reason.contains('\n') && !r.reason.contains('\x1b'),
            "{}",
            r.reason
        );
    }
}
