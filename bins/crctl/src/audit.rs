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
    /// Recompute every event's SHA-256 and check that each names the one before it. With
    /// `--checkpoints DIR` also compare the journal with every audit checkpoint sealed into
    /// the recording chain that lies in DIR (e.g. a folder target): a journal rewritten
    /// after a checkpoint no longer matches its signed head.
    Verify {
        /// A directory (searched recursively) holding audit-checkpoint sets.
        #[arg(long, value_name = "DIR")]
        checkpoints: Option<std::path::PathBuf>,
        /// The certificate the checkpoints are verified with (default: the installation's
        /// `cert.pem` beside the keystore).
        #[arg(long, value_name = "FILE", requires = "checkpoints")]
        cert: Option<std::path::PathBuf>,
        #[command(flatten)]
        who: OperatorArgs,
    },
}

/// Runs `crctl audit`.
pub fn run(cfg: &cr_config::Config, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let journal = crate::journal_cmds::open(cfg, false)?;
    if let Some(AuditCommand::Verify { who, checkpoints, cert }) = &args.command {
        auth::require(&journal, who, Role::Auditor, "verifying the audit trail")?;
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("checking the audit chain");
        let check = journal.verify_audit(|n| bar.set_position(n))?;
        bar.finish_and_clear();
        for p in &check.problems {
            println!("BROKEN event {}: {}", p.id, p.what);
        }
        let head = check.head.as_ref().map_or_else(|| "none".to_owned(), |h| format!("event {} {}", h.id, h.sha256));
        let mut checkpoint_problems = 0;
        if let Some(dir) = checkpoints {
            let cert_path = cert.clone().unwrap_or_else(|| cfg.keystore_path().with_file_name("cert.pem"));
            let cert = cr_sign::Certificate::load(&cert_path).map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
            let (found, broken) = compare_checkpoints(&journal, dir, &cert)?;
            checkpoint_problems = broken;
            if found == 0 {
                println!("BROKEN no audit checkpoint in {}: nothing to compare the journal with", dir.display());
                checkpoint_problems += 1;
            }
        }
        if check.problems.is_empty() && checkpoint_problems == 0 {
            println!("OK {} events, head {head}", check.events);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "FAILED {} of {} events do not match, {checkpoint_problems} checkpoint problem(s), head {head}",
            check.problems.len(),
            check.events
        );
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

/// Compares the journal with every audit checkpoint in `dir` whose seal verifies with
/// `cert`; prints `CHECKPOINT <id> event N matches` or a `BROKEN` line per checkpoint.
/// Returns (checkpoints found, problems).
fn compare_checkpoints(journal: &cr_journal::Journal, dir: &std::path::Path, cert: &cr_sign::Certificate) -> anyhow::Result<(usize, usize)> {
    use cr_types::chain_set::{AuditCheckpoint, KindOnly, SetKind};
    let sums = cr_sign::find_checksum_files(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let (mut found, mut broken) = (0, 0);
    for sum in sums {
        let Some(id) = cr_sign::set_id(&sum).map(str::to_owned) else { continue };
        let meta_path = sum.with_file_name(format!("{id}.json"));
        let Ok(text) = std::fs::read(&meta_path) else { continue };
        if !serde_json::from_slice::<KindOnly>(&text).is_ok_and(|k| k.kind == SetKind::AuditCheckpoint) {
            continue;
        }
        found += 1;
        let report = cr_sign::verify_set(&sum, cert);
        if !report.problems.is_empty() {
            let what: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
            println!("BROKEN checkpoint {id}: its seal does not verify: {}", what.join("; "));
            broken += 1;
            continue;
        }
        let cp: AuditCheckpoint = match serde_json::from_slice(&text) {
            Ok(cp) => cp,
            Err(e) => {
                println!("BROKEN checkpoint {id}: {}: {e}", meta_path.display());
                broken += 1;
                continue;
            }
        };
        let q = cr_journal::AuditQuery { after_id: cp.audit_event_id - 1, limit: 1, ..Default::default() };
        let event = journal.audit_trail(&q)?.into_iter().next().filter(|e| e.event.id == cp.audit_event_id);
        match event.and_then(|e| e.sha256) {
            Some(sha) if sha == cp.audit_event_sha256 => println!("CHECKPOINT {id} event {} matches", cp.audit_event_id),
            Some(sha) => {
                println!(
                    "BROKEN checkpoint {id}: event {} in the journal has SHA-256 {sha}, the sealed checkpoint says {}",
                    cp.audit_event_id, cp.audit_event_sha256
                );
                broken += 1;
            }
            None => {
                println!("BROKEN checkpoint {id}: event {} is missing from the journal", cp.audit_event_id);
                broken += 1;
            }
        }
    }
    Ok((found, broken))
}
