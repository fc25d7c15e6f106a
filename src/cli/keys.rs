use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::protocol::canonical::sha256_hex;
use crate::protocol::PersonKey;

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// The person's id in the roster
    #[arg(long)]
    pub id: String,
    /// Where to write the private key (default: the user config dir, keys/ID.key)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    if args.id.is_empty()
        || !args
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        anyhow::bail!("--id must be letters, digits, '-', '_', '.' or '@'");
    }
    let path = args
        .out
        .unwrap_or_else(|| crate::config::default_key_path(&args.id));
    let key = PersonKey::generate(&args.id);
    key.write_new(&path)?;
    eprintln!(
        "wrote private key for {} to {} (mode 0600)",
        args.id,
        path.display()
    );
    println!("{}", key.public());
    Ok(ExitCode::SUCCESS)
}

/// A 256-bit random token; the roster stores only its SHA-256.
pub fn new_agent_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("gvl_{}", hex::encode(bytes))
}

pub fn agent_token() -> anyhow::Result<ExitCode> {
    let token = new_agent_token();
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}").context("writing to stdout")?;
    writeln!(out, "{}", sha256_hex(token.as_bytes())).context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
