//! `crctl onedrive authorize TARGET` / `crctl onedrive code TARGET CODE`: delegated sign-in
//! for a OneDrive target (S25). The refresh token is stored encrypted in the data dir.
use std::process::ExitCode;

use clap::Subcommand;

/// OneDrive sub-commands.
#[derive(Subcommand)]
pub enum OneDriveCommand {
    /// Print the sign-in link for a delegated OneDrive target: open it, sign in as the
    /// recording user, and copy the `code` from the address you are sent to.
    Authorize {
        /// The target's name in the configuration.
        target: String,
    },
    /// Redeem the code from the sign-in and store the refresh token (encrypted, in the data
    /// dir); the uploader uses and renews it from then on.
    Code {
        /// The target's name in the configuration.
        target: String,
        /// The `code` parameter from the redirect address.
        code: String,
    },
}

/// Runs a OneDrive sub-command.
pub fn run(cfg: &cr_config::Config, cmd: OneDriveCommand) -> anyhow::Result<ExitCode> {
    let name = match &cmd {
        OneDriveCommand::Authorize { target } | OneDriveCommand::Code { target, .. } => target.clone(),
    };
    let spec = cr_storage::target_from_config(cfg, &name).map_err(|errs| {
        anyhow::anyhow!(errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    })?;
    let settings = spec
        .onedrive()
        .ok_or_else(|| anyhow::anyhow!("target {name:?} is not a OneDrive target"))?;
    match cmd {
        OneDriveCommand::Authorize { .. } => {
            println!("{}", cr_storage::authorize_url(settings)?);
            eprintln!("Open the link, sign in, then run: crctl --config {} onedrive code {name} CODE", cfg.path.display());
        }
        OneDriveCommand::Code { code, .. } => {
            cr_storage::redeem_code(settings, &code)?;
            println!("target {name}: signed in; the refresh token is stored in the data dir");
        }
    }
    Ok(ExitCode::SUCCESS)
}
