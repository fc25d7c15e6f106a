//! `gavel extend`: move an escalation's deadline within its rule's `extend` allowance, signed.

use std::process::ExitCode;

use super::people::Connection;
use crate::client::Client;
use crate::protocol::inert;

#[derive(clap::Args, Debug)]
pub struct ExtendArgs {
    /// The escalation (from `gavel pending`)
    pub escalation: String,
    /// How much to add to its deadline, e.g. 10m (at most what is left of the rule's `extend`)
    #[arg(long, value_name = "DURATION")]
    pub by: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub conn: Connection,
}

pub async fn extend(args: ExtendArgs) -> anyhow::Result<ExitCode> {
    let by = crate::duration::parse(&args.by, crate::duration::POLICY_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("--by: {e}"))?;
    if args.reason.trim().is_empty() {
        anyhow::bail!("--reason must say why (it goes into the audit log)");
    }
    let (client, key) = args.conn.open()?;
    let signed = Client::sign_extend(&key, &args.escalation, by.as_secs(), &args.reason);
    let ack = client.extend(&signed).await?;
    let h = &ack.escalation.handling;
    println!(
        "extended {} by {}: deadline {} ({} of {} allowance used)",
        inert(&ack.escalation.id),
        crate::duration::format(by),
        ack.escalation
            .deadline
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        crate::duration::format(std::time::Duration::from_secs(h.extended_secs)),
        crate::duration::format(std::time::Duration::from_secs(h.extend_allowed_secs)),
    );
    Ok(ExitCode::SUCCESS)
}
