//! `crctl policy ...`: the recording policy of `[[users]]`, `[[groups]]`, `[[recordings]]`.
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use cr_policy::{CallFacts, Policy};

/// Policy sub-commands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print the decision for a call (docs/reference.md §2) as one JSON object on stdout.
    ///
    /// Exits 0 whether or not the call is recorded (see "record"); 2 when the call facts
    /// are not valid JSON or the configuration has errors. Group memberships are taken as
    /// the configuration gives them (`inactive`).
    Decide {
        /// Call facts as JSON, e.g.
        /// '{"direction":"incoming","caller":"+4930999888","callee":"300","diversions":["301"]}'.
        /// direction: incoming | outgoing | internal.
        #[arg(long)]
        call: String,
    },
}

/// Runs a policy sub-command.
pub fn run(cfg: &cr_config::Config, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Decide { call } => {
            let facts: CallFacts = serde_json::from_str(&call).with_context(|| {
                "--call is not valid call facts JSON; expected e.g. \
                 {\"direction\":\"incoming\",\"caller\":\"+4930999888\",\"callee\":\"300\"} \
                 with direction incoming, outgoing or internal"
            })?;
            let policy = Policy::from_config(cfg).map_err(|errs| {
                let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
                anyhow::anyhow!(
                    "the recording policy in the configuration has errors (see `crctl config check`):\n{}",
                    list.join("\n")
                )
            })?;
            // Log-ins and log-outs made at run time (crctl group, the API) live in the
            // journal: decide as the recorder would now.
            if let Ok(journal) = cr_journal::Journal::open_url(
                &cfg.journal.url,
                &cfg.installation.data_dir,
                &cr_journal::OpenOptions::new().create(false),
            ) {
                for m in journal.memberships().unwrap_or_default() {
                    let _ = policy.set_active(&m.group, &m.user, m.active);
                }
            }
            let decision = policy.decide(&facts);
            tracing::info!(record = decision.record, reason = %decision.reason.redacted(), "decision");
            println!("{}", serde_json::to_string(&decision).context("cannot write the decision as JSON")?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
