//! `crctl export`: the disclosure package of one party's recordings (cr-export).
//!
//! Finds the party's sets as `crctl search` does, reads each back from where it lies (the
//! spool, a folder target it was delivered to, else an SFTP, SMB or OneDrive target, from
//! the directory recorded at delivery), verifies it with the certificate before
//! it enters the package, and writes the package into `--out`, which must not exist or be
//! empty. An audit event `exported` names the request, the party and the sets.
//!
//! Exit status: 0 every matching set is in the package; 1 a problem was found — no set
//! matches (nothing written), a set did not verify or could not be found (the package holds
//! the others, its manifest names the problem; nothing is written when no set verified);
//! 2 could not run (bad arguments, `--out` not empty, no journal, keystore).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use cr_export::{ExportRecord, PackageWriter, Request, SetOutcome};
use cr_journal::{AuditKind, SearchHit, SearchQuery};

use crate::journal_cmds::{self, DisplayZone};

/// `crctl export` arguments.
#[derive(Args)]
pub struct ExportArgs {
    /// The party number (caller or callee) whose calls are asked for, in any form; matched
    /// as `crctl search --number` matches.
    #[arg(long)]
    pub party: String,
    /// How the number matches, and the time range.
    #[command(flatten)]
    pub range: journal_cmds::MatchArgs,
    /// The request's reference (letter, ticket), written into the manifest and the audit log.
    #[arg(long)]
    pub request: String,
    /// The package directory: must not exist, or be empty. Never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Who makes the export (role auditor or above), named in the manifest and the audit
    /// log.
    #[command(flatten)]
    pub who: crate::auth::OperatorArgs,
    /// Print one JSON object (the outcome) instead of text lines.
    #[arg(long)]
    pub json: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

fn progress(n: usize, quiet: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if quiet || n < 2 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sets {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// `crctl export`.
pub fn run(cfg: &cr_config::Config, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let (tz, (from, to)) = journal_cmds::time_range(cfg, &args.range)?;
    if args.request.trim().is_empty() {
        anyhow::bail!("--request must name the request (e.g. the letter's or ticket's reference)");
    }
    // Refuse a full --out before reading anything.
    if std::fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(cr_export::ExportError::OutNotEmpty(args.out.clone()).into());
    }
    let journal = journal_cmds::open(cfg, false)?;
    let operator = crate::auth::require(&journal, &args.who, cr_journal::Role::Auditor, "exporting recordings")?;
    let hits = journal.search(&SearchQuery {
        number: Some(args.party.clone()),
        exact: args.range.exact,
        from,
        to,
        limit: None,
        ..Default::default()
    })?;
    if hits.is_empty() {
        eprintln!("crctl export: no recordings of party {} match: nothing exported, {} not written", args.party, args.out.display());
        return Ok(ExitCode::from(1));
    }
    let copies: Vec<cr_export::SetCopy> = hits.iter().map(|h| cr_export::locate(cfg, h)).collect();
    let identity = crate::keys::open_identity(cfg)?;
    let now = Utc::now();
    let mut request = Request::new(&args.request, &args.party, now);
    request.from = from;
    request.to = to;
    request.operator = Some(operator.name.clone());
    let mut writer = PackageWriter::new(&args.out, request, &identity)?;
    if let Some(z) = tz.named() {
        writer = writer.time_zone(z);
    }
    let bar = progress(hits.len(), args.no_progress || args.json);
    for (hit, copy) in hits.iter().zip(copies) {
        let line = added(copy.add_to(&mut writer, hit)?, &tz, hit);
        let Some(line) = line else { continue };
        match &bar {
            Some(b) => b.println(&line),
            None if !args.json => println!("{line}"),
            None => {}
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if writer.exported().is_empty() {
        let outcome = ExportRecord::nothing(&args.request, &args.party, writer.not_exported());
        if args.json {
            println!("{}", serde_json::to_string(&outcome)?);
        }
        eprintln!("crctl export: no set of party {} verified: nothing exported, {} not written", args.party, args.out.display());
        return Ok(ExitCode::from(1));
    }
    let summary = writer.finish().context("writing the package")?;
    let m = &summary.manifest;
    let outcome = ExportRecord::written(&summary);
    journal
        .audit(&AuditKind::Exported, now, Some(&operator.name), None, &serde_json::to_value(&outcome)?)
        .context("the package is written, but the journal could not record the export")?;
    if args.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        println!(
            "package {}: {} set(s) exported, {} not exported, {} files; SHA256SUMS {}",
            summary.dir.display(),
            m.sets.len(),
            m.not_exported.len(),
            summary.files,
            summary.sums_sha256
        );
    }
    Ok(if m.not_exported.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The output line for a set the writer took or refused.
fn added(outcome: SetOutcome, tz: &DisplayZone, hit: &SearchHit) -> Option<String> {
    match outcome {
        SetOutcome::Exported(s) => Some(format!("EXPORTED {} ({}) from {}", s.call.id, describe(tz, hit), s.read_from)),
        SetOutcome::Refused(n) => Some(format!("FAILED {}: {}", n.call.id, n.problems.join("; "))),
        _ => None,
    }
}

fn describe(tz: &DisplayZone, hit: &SearchHit) -> String {
    format!("{}, {} -> {}, {}", tz.show(hit.started_at), hit.caller, hit.callee, journal_cmds::duration(hit.duration_ms))
}
