//! `crctl policy ...` (filled in with cr-policy).
use std::process::ExitCode;

use clap::Subcommand;

/// Policy sub-commands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print the decision for a call (CONTRACT §2) as JSON on stdout.
    Decide {
        /// Call facts as JSON, e.g. '{"direction":"incoming","caller":"+4930999888","callee":"300"}'.
        #[arg(long)]
        call: String,
    },
}

/// Runs a policy sub-command.
pub fn run(_cfg: &cr_config::Config, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Decide { .. } => anyhow::bail!("policy decide is not implemented yet"),
    }
}

/// Checks `[[users]]`, `[[groups]]`, `[[recordings]]`.
pub fn check(_cfg: &cr_config::Config) -> Vec<cr_config::ConfigError> {
    Vec::new()
}
