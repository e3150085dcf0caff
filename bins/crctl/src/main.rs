//! `crctl`: the administrator's command line (docs/reference.md §4).
//!
//! Each sub-command lives in its own module; `main` only parses the arguments, loads the
//! configuration and maps the outcome to an exit code (0 ok, 1 a problem was found,
//! 2 could not run).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod audit;
mod auth;
mod check;
mod export;
mod holds;
mod journal_cmds;
mod keys;
mod onedrive;
mod policy;
mod reconcile;
mod retention;

/// Administer a callrec installation: keys and certificate, configuration checks, policy
/// decisions, sealing files into a recording set.
///
/// Exit status: 0 success, 1 a problem was found (e.g. `config check` found an error),
/// 2 could not run (bad arguments, unreadable configuration or keystore), 3 refused (wrong
/// operator name or password, a role that does not allow the command, the four-eyes
/// rule).
#[derive(Parser)]
#[command(version, about, long_about, after_long_help = cr_clidoc::REFERENCE)]
struct Cli {
    /// The configuration file (docs/reference.md §1).
    #[arg(long, short = 'c', global = true, default_value = "callrec.toml")]
    config: PathBuf,
    /// Log level filter (e.g. `info`, `debug`); `RUST_LOG` overrides it.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Key pair and keystore.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the certificate (PEM) and its SHA-256 fingerprint.
    Cert,
    /// Seal files that lie in one directory into a recording set: writes ID.sha256 and
    /// ID.sha256.SHA256withRSA.sig beside them.
    Seal {
        /// The set id (file name stem of the checksum file).
        #[arg(long)]
        id: String,
        /// The metadata and audio files of the set, all in one directory.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Recording policy commands.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Group membership: log a member in or out (the recorder follows at once).
    #[command(subcommand)]
    Group(journal_cmds::GroupCommand),
    /// Active calls, spool backlog per target, last errors, pending deletions (from the journal).
    Status,
    /// Delegated sign-in for OneDrive targets.
    #[command(subcommand)]
    Onedrive(onedrive::OneDriveCommand),
    /// Find recordings by party number and time range.
    Search(journal_cmds::SearchArgs),
    /// Write a disclosure package of a party's recordings (verified, signed, self-contained).
    Export(export::ExportArgs),
    /// Operator accounts (who may search, export, hold, approve, administer).
    #[command(subcommand)]
    Operator(auth::OperatorCommand),
    /// The audit trail: list events, or `verify` its hash chain.
    Audit(audit::AuditArgs),
    /// Legal holds: place, ask for release (four eyes), list.
    #[command(subcommand)]
    Hold(holds::HoldCommand),
    /// Ask for the deletion of a set recorded in error; a different supervisor approves it
    /// (`crctl approve`). Prints `REQUEST <id> delete set <id> pending approval`.
    Delete(holds::DeleteArgs),
    /// Approve another supervisor's request (a deletion or a hold's release). Prints
    /// `APPROVED <id> ...`.
    Approve(holds::ApproveArgs),
    /// The four-eyes requests waiting for a second supervisor or for the deletion pass
    /// (`--all`: also those carried out), one line each.
    Requests(holds::ListArgs),
    /// Retention: lengthen a set's retention (`extend`), run the deletion pass (`run`).
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Reconcile the PBX's call records (CDR file) against the journal: one verdict per
    /// call (RECORDED, SHORT, MISSING, NOT-RECORDED-AS-DECIDED, RECORDED-UNEXPECTEDLY) under
    /// the policy as it stood at the call; exit 1 when a call is MISSING or SHORT.
    Reconcile(reconcile::ReconcileArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create the RSA-2048 key pair, the keystore and the certificate (refuses to overwrite).
    Init,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the file and every reference in it; exit 1 when something is wrong.
    Check,
}

fn main() -> ExitCode {
    if let Some(code) = cr_clidoc::generate_if_asked(<Cli as clap::CommandFactory>::command) {
        return code;
    }
    cr_storage::private_umask();
    let cli = Cli::parse();
    init_logging(&cli.log);
    match run(cli) {
        Ok(code) => code,
        Err(e) if auth::is_refusal(&e) => {
            eprintln!("crctl: refused: {e:#}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("crctl: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return Ok(check::run(&cli.config));
    }
    let cfg = cr_config::Config::load(&cli.config).map_err(anyhow::Error::new)?;
    match cli.command {
        Command::Keys(KeysCommand::Init) => keys::init(&cfg),
        Command::Cert => keys::cert(&cfg),
        Command::Seal { id, files } => keys::seal(&cfg, &id, &files).context("sealing failed"),
        Command::Policy(cmd) => policy::run(&cfg, cmd),
        Command::Group(cmd) => journal_cmds::group(&cfg, cmd),
        Command::Status => journal_cmds::status(&cfg),
        Command::Onedrive(cmd) => onedrive::run(&cfg, cmd),
        Command::Search(args) => journal_cmds::search(&cfg, args),
        Command::Export(args) => export::run(&cfg, args),
        Command::Operator(cmd) => auth::run(&cfg, cmd),
        Command::Audit(args) => audit::run(&cfg, args),
        Command::Hold(cmd) => holds::hold(&cfg, cmd),
        Command::Delete(args) => holds::delete(&cfg, args),
        Command::Approve(args) => holds::approve(&cfg, args),
        Command::Requests(args) => holds::requests(&cfg, args),
        Command::Retention(cmd) => retention::run(&cfg, cmd),
        Command::Reconcile(args) => reconcile::run(&cfg, args),
        Command::Config(_) => unreachable!("handled above"),
    }
}
