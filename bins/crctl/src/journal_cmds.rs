//! `crctl group`, `crctl status`, `crctl search`: commands on the journal (cr-journal).
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Membership sub-commands.
#[derive(Subcommand)]
pub enum GroupCommand {
    /// Log USER out of GROUP: calls through the group no longer record them.
    Logout {
        /// Group id.
        group: String,
        /// User id.
        user: String,
    },
    /// Log USER back in to GROUP.
    Login {
        /// Group id.
        group: String,
        /// User id.
        user: String,
    },
}

/// `crctl search` arguments.
#[derive(Args)]
pub struct SearchArgs {
    /// A party number (caller or callee), in any form the PBX sends.
    #[arg(long)]
    pub number: Option<String>,
    /// Start of the time range (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs a group sub-command.
pub fn group(_cfg: &cr_config::Config, _cmd: GroupCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("group login/logout is not implemented yet")
}

/// `crctl status`.
pub fn status(_cfg: &cr_config::Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("status is not implemented yet")
}

/// `crctl search`.
pub fn search(_cfg: &cr_config::Config, _args: SearchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("search is not implemented yet")
}
