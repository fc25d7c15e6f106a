//! Commands for people and scripts: pending, decide, kill.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::client::Client;
use crate::config::{person_settings, ConfigFile};
use crate::protocol::canonical::short_digest;
use crate::protocol::{inert, inert_json_pretty, PersonKey, Scope, Vote};

/// Where a person command goes and as whom: flags, then GAVEL_SERVER / GAVEL_KEY /
/// GAVEL_CA_CERT, then the `[console]` table of the user's config file.
#[derive(clap::Args, Debug)]
pub struct Connection {
    /// Server URL; repeat it (or separate URLs with commas) for replicas: the next is tried
    /// when one does not answer or answers 503 (default: GAVEL_SERVER, the config file, then
    /// http://127.0.0.1:7878)
    #[arg(long, value_name = "URL")]
    pub server: Vec<String>,
    /// Your private key file (default: GAVEL_KEY, the config file, or the only key in the keys dir)
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// A private CA certificate (PEM) to trust for an https:// server (default: GAVEL_CA_CERT,
    /// then the config file)
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl Connection {
    pub(super) fn open(&self) -> anyhow::Result<(Client, PersonKey)> {
        let file = ConfigFile::load_user()?;
        let s = person_settings(
            &self.server,
            self.key.clone(),
            self.ca_cert.clone(),
            &file.console,
        )
        .map_err(anyhow::Error::msg)?;
        let key = PersonKey::read(&s.key)?;
        Ok((Client::for_servers(s.servers, s.ca_cert.as_deref())?, key))
    }
}

#[derive(clap::Args, Debug)]
pub struct PendingArgs {
    #[command(flatten)]
    pub conn: Connection,
    /// Print the escalations as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct DecideArgs {
    /// One or more escalation ids (from `gavel pending`), then approve or deny; each is
    /// fetched, shown and signed on its own
    #[arg(required = true, num_args = 2.., value_name = "ESCALATION… approve|deny")]
    pub words: Vec<String>,
    /// Why (required to deny; the agent reads it)
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("state").required(true).args(["on", "off"])))]
pub struct KillArgs {
    /// global, agent:ID or tool:NAME
    pub scope: String,
    /// Turn the switch on: matching actions are denied, pending escalations cancelled
    #[arg(long)]
    pub on: bool,
    /// Turn the switch off
    #[arg(long)]
    pub off: bool,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub conn: Connection,
}

pub async fn pending(args: PendingArgs) -> anyhow::Result<ExitCode> {
    let (client, key) = args.conn.open()?;
    let list = client.escalations(&key).await?;
    if args.json {
        println!("{}", inert_json_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    for e in &list {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}/{}",
            e.id,
            inert(&e.action.agent),
            inert(&e.action.tool),
            e.rule.id,
            e.deadline
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            e.approvals_received(),
            e.approvals_required
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ESC… approve|deny` → the ids, each once and in order, and the vote.
fn ids_and_vote(words: &[String]) -> anyhow::Result<(Vec<&str>, Vote)> {
    let Some((verdict, ids)) = words.split_last() else {
        anyhow::bail!("name one or more escalations, then approve or deny");
    };
    let vote = match verdict.as_str() {
        "approve" => Vote::Approve,
        "deny" => Vote::Deny,
        other => anyhow::bail!(
            "the last word must be approve or deny (got `{}`)",
            inert(other)
        ),
    };
    let mut unique: Vec<&str> = Vec::with_capacity(ids.len());
    for id in ids {
        if matches!(id.as_str(), "approve" | "deny") {
            anyhow::bail!("approve or deny comes once, after the escalations");
        }
        if !unique.contains(&id.as_str()) {
            unique.push(id);
        }
    }
    Ok((unique, vote))
}

/// Decides one or several escalations, each signed separately after what it signs is shown.
/// One escalation: its result, or the server's refusal as the error. Several: a result line
/// each (`ID: …`), going on past a refusal, then an error naming those that failed.
pub async fn decide(args: DecideArgs) -> anyhow::Result<ExitCode> {
    let (ids, vote) = ids_and_vote(&args.words)?;
    if vote == Vote::Deny && args.reason.trim().is_empty() {
        anyhow::bail!("a deny needs --reason TEXT (the agent reads it)");
    }
    let (client, key) = args.conn.open()?;
    if let [id] = ids.as_slice() {
        println!(
            "{}",
            decide_one(&client, &key, id, vote, &args.reason).await?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = Vec::new();
    for id in &ids {
        match decide_one(&client, &key, id, vote, &args.reason).await {
            Ok(result) => println!("{}: {result}", inert(id)),
            Err(e) => {
                println!("{}: refused: {}", inert(id), inert(&format!("{e:#}")));
                failed.push(inert(id).into_owned());
            }
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} decisions failed: {}",
            failed.len(),
            ids.len(),
            failed.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetches `id`, shows on stderr what will be signed, signs and sends it: the result line.
async fn decide_one(
    client: &Client,
    key: &PersonKey,
    id: &str,
    vote: Vote,
    reason: &str,
) -> anyhow::Result<String> {
    let esc = client
        .escalation(key, id)
        .await
        .with_context(|| format!("fetching escalation {}", inert(id)))?;
    let decision = Client::sign_decision(key, &esc, vote, reason);
    eprintln!(
        "signing as {}: {} {} by {} (tool {}, rule {}), digest {}",
        key.id,
        if vote == Vote::Approve {
            "approve"
        } else {
            "deny"
        },
        esc.id,
        inert(&esc.action.agent),
        inert(&esc.action.tool),
        esc.rule.id,
        short_digest(&esc.digest)
    );
    eprintln!(
        "  args: {}",
        inert(&serde_json::to_string(&esc.action.args)?)
    );
    let ack = client.decide(&decision).await?;
    let state = serde_json::to_value(ack.escalation.state)?;
    Ok(format!(
        "{} {} ({}/{} approvals){}",
        if ack.recorded {
            "recorded:"
        } else {
            "already recorded:"
        },
        state.as_str().unwrap_or("?"),
        ack.escalation.approvals_received(),
        ack.escalation.approvals_required,
        ack.escalation
            .resolution_reason
            .as_deref()
            .map(|r| format!(": {}", inert(r)))
            .unwrap_or_default()
    ))
}

pub async fn kill(args: KillArgs) -> anyhow::Result<ExitCode> {
    let Some(scope) = Scope::parse(&args.scope) else {
        anyhow::bail!(
            "scope must be global, agent:ID or tool:NAME (got `{}`)",
            inert(&args.scope)
        );
    };
    let (client, key) = args.conn.open()?;
    if args.on {
        // Say what the switch will cancel before it does (the server cancels what is pending
        // when it lands, which may differ by then: the answer below says what it did).
        match client.escalations(&key).await {
            Ok(pending) => {
                let n = pending
                    .iter()
                    .filter(|e| scope.covers(&e.action.agent, &e.action.tool))
                    .count();
                println!(
                    "turning {} on will cancel {n} pending escalation{}",
                    inert(&scope.to_string()),
                    plural(n)
                );
            }
            // stdout, like the rest of the story: stderr keeps its one line for a failure.
            Err(e) => println!(
                "could not count the pending escalations it will cancel ({}); flipping anyway",
                inert(&e.to_string())
            ),
        }
    }
    let ack = client
        .flip(&key, &args.scope, args.on, &args.reason)
        .await?;
    let k = &ack.killswitch;
    println!(
        "kill switch {} is {} ({} by {})",
        inert(&k.scope),
        if k.on { "ON" } else { "off" },
        inert(&k.reason),
        k.by
    );
    if k.on {
        let n = ack.cancelled.len();
        println!(
            "cancelled {n} pending escalation{}{}{}",
            plural(n),
            if n > 0 { ": " } else { "" },
            ack.cancelled.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
