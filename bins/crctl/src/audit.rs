//! `crctl audit`: the audit trail (who did what, when) and the check of its hash chain.
//!
//! Exit status: 0 listed / the chain is intact; 1 `verify` found a broken link or a changed
//! row; 2 could not run; 3 refused (operator).
use std::process::ExitCode;

use clap::{Args, Subcommand};
use cr_journal::{AuditQuery, Role};

use crate::auth::{self, OperatorArgs};
use crate::journal_cmds::{DisplayZone, time_bounds};

/// `crctl audit` arguments: list events, or `verify`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    /// Events at or after this time: RFC 3339, or a date (midnight in the installation's
    /// time zone).
    #[arg(long)]
    from: Option<String>,
    /// Events before this time: RFC 3339, or a date, which includes that whole day.
    #[arg(long)]
    to: Option<String>,
    /// One JSON object per event (with its `prev_sha256` and `sha256`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    who: Option<OperatorArgs>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every event's SHA-256 and check that each names the one before it.
    Verify {
        #[command(flatten)]
        who: OperatorArgs,
    },
}

/// Runs `crctl audit`.
pub fn run(cfg: &cr_config::Config, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let journal = crate::journal_cmds::open(cfg, false)?;
    if let Some(AuditCommand::Verify { who }) = &args.command {
        auth::require(&journal, who, Role::Auditor, "verifying the audit trail")?;
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("checking the audit chain");
        let check = journal.verify_audit(|n| bar.set_position(n))?;
        bar.finish_and_clear();
        for p in &check.problems {
            println!("BROKEN event {}: {}", p.id, p.what);
        }
        let head = check.head.as_ref().map_or_else(|| "none".to_owned(), |h| format!("event {} {}", h.id, h.sha256));
        if check.problems.is_empty() {
            println!("OK {} events, head {head}", check.events);
            return Ok(ExitCode::SUCCESS);
        }
        println!("FAILED {} of {} events do not match, head {head}", check.problems.len(), check.events);
        return Ok(ExitCode::from(1));
    }
    let Some(who) = &args.who else {
        anyhow::bail!("crctl audit needs --operator NAME (an operator with role auditor or above)");
    };
    auth::require(&journal, who, Role::Auditor, "reading the audit trail")?;
    let tz = DisplayZone::of(cfg)?;
    let (from, to) = time_bounds(&tz, args.from.as_deref(), args.to.as_deref())?;
    let events = journal.audit_trail(&AuditQuery { from, to, ..Default::default() })?;
    for e in &events {
        if args.json {
            println!("{}", serde_json::to_string(e)?);
        } else {
            let ev = &e.event;
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                ev.id,
                tz.show(ev.at),
                ev.kind,
                ev.actor.as_deref().unwrap_or("-"),
                ev.set_id.as_deref().unwrap_or("-"),
                ev.details
            );
        }
    }
    if events.is_empty() {
        eprintln!("no audit events in that range");
    }
    Ok(ExitCode::SUCCESS)
}
