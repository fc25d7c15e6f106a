use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};

use crate::protocol::PublicKey;
use crate::server::audit::{latest_anchor, verify, Anchor, Expect};
use crate::server::store::db_path;
use crate::server::store::postgres::export::snapshot;
use crate::server::store::postgres::{redacted, PgReader};
use crate::server::store::Reads as _;

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the audit chain, its signed checkpoints and the state tables; names the first problem
    Verify {
        /// The server's data directory (may be in use by a running server)
        #[arg(long, required_unless_present = "store", conflicts_with = "store")]
        data: Option<PathBuf>,
        /// Instead of --data: the PostgreSQL store the replicas share (postgres://…; may be in
        /// use), copied as of one commit and verified like a data dir
        #[arg(long)]
        store: Option<String>,
        /// A checkpoint printed earlier by `gavel audit checkpoint` and kept elsewhere: the log
        /// must extend it (a cut tail, a deleted or a diverging log fails)
        #[arg(long)]
        anchor: Option<PathBuf>,
        /// The server's public key (ed25519:…), known from outside the data dir
        #[arg(long)]
        server_key: Option<String>,
    },
    /// Print the latest signed checkpoint as one JSON line, to keep elsewhere as an anchor
    Checkpoint {
        /// The server's data directory (may be in use by a running server)
        #[arg(long, required_unless_present = "store", conflicts_with = "store")]
        data: Option<PathBuf>,
        /// Instead of --data: the PostgreSQL store the replicas share (postgres://…)
        #[arg(long)]
        store: Option<String>,
    },
    /// What happened, through a server (auditor or lead): records by agent, time and kind
    Query(super::audit_remote::QueryArgs),
    /// Every record after --since-seq, then the signed checkpoint that ends them, for a SIEM
    Export(super::audit_remote::ExportArgs),
}

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Query(args) => super::runtime()?.block_on(super::audit_remote::query(args)),
        AuditCommand::Export(args) => super::runtime()?.block_on(super::audit_remote::export(args)),
        AuditCommand::Verify {
            data,
            store,
            anchor,
            server_key,
        } => {
            let expect = Expect {
                anchor: anchor
                    .map(|path| -> anyhow::Result<Anchor> {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("reading the anchor {}", path.display()))?;
                        Anchor::parse(&text)
                            .map_err(|e| anyhow::anyhow!("anchor {}: {e}", path.display()))
                    })
                    .transpose()?,
                server_key: server_key
                    .map(|k| PublicKey::parse(&k).context("--server-key"))
                    .transpose()?,
            };
            let report = match (data, store) {
                (Some(data), _) => verify(&db_path(&data), &expect)?,
                (None, Some(url)) => {
                    let copy = snapshot(&url)
                        .with_context(|| format!("copying the store at {}", redacted(&url)))?;
                    verify(copy.path(), &expect)?
                }
                (None, None) => anyhow::bail!("say which log: --data DIR or --store URL"),
            };
            let plural = if report.checkpoints == 1 { "" } else { "s" };
            println!(
                "ok: {} records, {} signed checkpoint{plural}, head {}; the state tables match the log",
                report.records, report.checkpoints, report.head
            );
            if let Some(before) = report.pruned_before {
                println!(
                    "action rows of allowed and denied calls before {} were pruned past keep_actions, as the log records; their audit records are checked",
                    before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
            match report.anchored_at {
                Some(seq) => println!("the log extends the anchor at record {seq}"),
                None => println!(
                    "note: without --anchor, a cut tail (the last records removed with their checkpoints) cannot be detected; keep the output of `gavel audit checkpoint` elsewhere and pass it"
                ),
            }
            if expect.server_key.is_none() {
                println!(
                    "note: without --server-key, the log is checked against the key it names itself"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint { data, store } => {
            let anchor = match (data, store) {
                (Some(data), _) => sqlite_anchor(&db_path(&data))?,
                (None, Some(url)) => {
                    let name = redacted(&url);
                    PgReader::connect(&url)
                        .and_then(|r| r.latest_anchor())
                        .with_context(|| format!("reading the store at {name}"))?
                        .ok_or_else(|| anyhow::anyhow!("{name} has no signed checkpoint yet"))?
                }
                (None, None) => anyhow::bail!("say which log: --data DIR or --store URL"),
            };
            println!("{}", serde_json::to_string(&anchor)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The newest signed checkpoint of the SQLite file at `path`.
fn sqlite_anchor(path: &std::path::Path) -> anyhow::Result<Anchor> {
    if !path.exists() {
        anyhow::bail!("{} does not exist", path.display());
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    latest_anchor(&conn)
        .with_context(|| format!("reading {}", path.display()))?
        .ok_or_else(|| anyhow::anyhow!("{} has no signed checkpoint yet", path.display()))
}
