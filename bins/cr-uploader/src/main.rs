//! `cr-uploader --config F [--once]`: delivers the spool to every target and runs the
//! deletion pass every `[retention] interval` (docs/reference.md §4).
//!
//! Exit status: 0 nothing is pending (with `--once`: everything was delivered and deleted),
//! 1 something is still pending or failed (`--once`), 2 it could not run (bad config,
//! unusable spool).
mod deletions;
mod journal_log;
mod reconcile;
mod quality;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Parser;
use cr_storage::{FileDeliveryLog, Notice, PassReport, Uploader};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::{error, info, warn};

/// Delivers sealed recording sets from the spool to every target of their configuration
/// (folder, SMB, SFTP, OneDrive), retrying each target with exponential back-off on its own,
/// and mails once when a target's outage starts, at `notify.reminder_interval`, and once
/// when it is over. A set leaves the spool only when every target confirmed it. At most
/// once a day it mails the list of the sets flagged `quality` at sealing since the last
/// list (ids, reasons, each leg's figures).
///
/// With `[timestamping]`, each pass first asks the TSA for an RFC 3161 time-stamp token over
/// every set's checksum file that lacks one, checks it (imprint, nonce, signer chained to
/// `tsa_cert`, signature) and stores it beside the set as `<id>.sha256.tsr`; the token is
/// delivered to every target like the set's other files, also when it arrives after the set
/// was delivered. A TSA that does not answer delays no delivery: the set is flagged
/// untimestamped and stays in the spool until its token is delivered.
///
/// Every `[retention] interval` (default 1h; the first soon after the start) it runs the
/// deletion pass of `crctl retention run`: expired and approved sets not under hold are
/// deleted from every target and the spool, and each deletion receipt sealed is delivered
/// like any set. A target failing in the pass is mailed as an upload outage is.
///
/// With a `[reconcile]` section, every `[reconcile] interval` (default 1d; the first soon
/// after the start) it reconciles the PBX's CDR file against the journal as `crctl
/// reconcile` does, and mails the report when a call is MISSING or SHORT or a row cannot
/// be read.
///
/// Exit status: 0 nothing pending; 1 (with --once) a delivery or a deletion is still pending
/// or failed, the deletion pass could not run, or the reconciliation found a problem; 2 could not run (bad configuration,
/// unusable spool).
#[derive(Parser)]
#[command(version, about, long_about, after_long_help = cr_clidoc::REFERENCE)]
struct Args {
    /// The configuration file (callrec.toml).
    #[arg(long)]
    config: PathBuf,
    /// One delivery pass over every target, then one deletion pass, then (if that sealed
    /// receipts or an audit checkpoint) one more delivery pass, then exit (status 0 when
    /// nothing is left pending).
    #[arg(long)]
    once: bool,
    /// Longest wait between passes when nothing is due, e.g. "5s" (new sets are picked up
    /// at this interval).
    #[arg(long, default_value = "5s")]
    poll: String,
}

fn main() -> ExitCode {
    if let Some(code) = cr_clidoc::generate_if_asked(<Args as clap::CommandFactory>::command) {
        return code;
    }
    cr_storage::private_umask();
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            error!("{e:#}");
            eprintln!("cr-uploader: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let cfg = cr_config::Config::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let poll = cr_config::parse_duration(&args.poll).map_err(|e| anyhow::anyhow!("--poll: {e}"))?;
    let setup = cr_setup::UploaderSetup::from_config(&cfg).map_err(|errs| {
        anyhow::anyhow!("the configuration has errors:\n{}", errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))
    })?;
    let (specs, zone, notify, retention, timestamping) = (setup.targets, setup.zone, setup.notify, setup.retention, setup.timestamping);
    // Two uploaders on one spool would deliver the same sets twice.
    let _instance = cr_storage::InstanceLock::acquire(&cfg.installation.data_dir, "cr-uploader")?;
    let spool = cr_storage::spool_from_config(&cfg).context("opening the spool")?;
    let files_log = FileDeliveryLog::new(spool.root());
    // The journal mirrors every delivery for `crctl status` / `crctl search`.
    let log: Box<dyn cr_storage::DeliveryLog + Send> =
        match cr_journal::Journal::open_url(&cfg.journal.url, &cfg.installation.data_dir, &cr_journal::OpenOptions::new()) {
            Ok(journal) => Box::new(journal_log::JournalDeliveryLog::new(files_log, journal)),
            Err(e) => {
                tracing::warn!("journal {}: {e}; deliveries are recorded in the spool only", cfg.journal.url);
                Box::new(files_log)
            }
        };
    let metrics = spool.root().join("uploader.prom");
    let mut digest = quality::Digest::load(spool.root()).context("the quality list's state")?;
    let mut up = Uploader::new(spool, log, zone);
    for s in &specs {
        up.add_target(s.build(), s.template.clone());
    }
    // The untimestamped flag of `crctl search` (a second handle: the first is the delivery log's).
    let mut stamps_journal = None;
    if let Some(ts) = &timestamping {
        let t = cr_storage::Timestamper::new(&ts.url, ts.trust.clone(), ts.timeout).map_err(|e| anyhow::anyhow!("[timestamping]: {e}"))?;
        up.set_timestamper(t);
        info!("time-stamps from {}; tokens must chain to {}", ts.url, ts.cert_path.display());
        stamps_journal = cr_journal::Journal::open_url(&cfg.journal.url, &cfg.installation.data_dir, &cr_journal::OpenOptions::new()).ok();
    }
    let (mailer, reminder, min_free) = match notify {
        Some(n) => (n.mailer, n.reminder, n.min_free_percent),
        None => (None, Duration::from_secs(3600), 10.0),
    };
    up.set_notifications(reminder, min_free);
    let mut deletions = deletions::Deletions::new(retention.interval, reminder);
    info!("deletion pass every {} s", retention.interval.as_secs());
    let mut reconciliations = cr_reconcile::Schedule::from_config(&cfg)
        .map_err(|errs| anyhow::anyhow!("[reconcile]:\n{}", errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")))?
        .map(|s| {
            info!("reconciliation of {} every {} s", s.job.cdr.display(), s.interval.as_secs());
            reconcile::Reconciliations::new(s)
        });
    // With --once: whether the reconciliation found a problem.
    let mut reconcile_problem = false;
    if mailer.is_none() {
        info!("no notify.email_to configured: outage notices go to this log only");
    }

    // S14: each target and whether it is reachable (OneDrive: cloud, tenant, drive).
    info!("installation {}: {} target(s), spool {}", cfg.installation.module_id, specs.len(), up.spool().root().display());
    for (spec, t) in specs.iter().zip(up.targets_mut()) {
        info!(target_name = %spec.name, "target {}: {} -> directory {:?}", spec.name, t.describe(), spec.template.as_str());
        match t.check() {
            Ok(detail) => info!(target_name = %spec.name, "target {} reachable: {detail}", spec.name),
            Err(e) => warn!(target_name = %spec.name, "target {} not reachable now: {e}", spec.name),
        }
        t.disconnect();
    }

    // The last deletion pass's result (`--once` runs one).
    let mut ran: Option<deletions::Ran> = None;
    loop {
        let backlog = up.backlog_bytes();
        let bar = (backlog > 0 && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(backlog);
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}") {
                b.set_style(style);
            }
            b
        });
        let report = up.pass(&Utc::now, &|n| {
            if let Some(b) = &bar {
                b.inc(n);
            }
        });
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        handle_report(&report, mailer.as_ref());
        record_timestamps(&report, stamps_journal.as_ref());
        write_metrics(&metrics, &report, deletions.pending_sets);
        if report.more_work {
            continue;
        }
        digest.run(&cfg, mailer.as_ref(), Utc::now());
        // The deletion pass runs between delivery passes; what it seals (receipts, audit
        // checkpoints) lies in the spool and is delivered by the next delivery pass, which
        // `--once` runs too.
        if !(args.once && ran.is_some()) && deletions.due(Instant::now()) {
            let r = deletions.run(&cfg, mailer.as_ref());
            write_metrics(&metrics, &report, deletions.pending_sets);
            ran = Some(r);
            if r.sealed {
                continue;
            }
        }
        if let Some(r) = reconciliations.as_mut()
            && r.due(Instant::now())
        {
            reconcile_problem = r.run(&cfg, mailer.as_ref());
        }
        if args.once {
            let unfinished = ran.is_some_and(|r| r.unfinished) || reconcile_problem;
            return Ok(if report.pending_sets == 0 && report.failed.is_empty() && !unfinished {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        let now = Utc::now();
        let wait = report
            .next_due
            .and_then(|t| (t - now).to_std().ok())
            .map_or(poll, |d| d.min(poll))
            .min(deletions.until_due(Instant::now()))
            .min(reconciliations.as_ref().map_or(Duration::MAX, |r| r.until_due(Instant::now())))
            .max(Duration::from_millis(200));
        std::thread::sleep(wait);
    }
}

fn handle_report(r: &PassReport, mailer: Option<&cr_storage::Mailer>) {
    for (target, set, e) in &r.failed {
        warn!(target_name = %target, set = %set, "{e}");
    }
    for e in &r.spool_errors {
        warn!("spool: {e}");
    }
    for n in &r.notices {
        notify(n, mailer);
    }
    if r.delivered > 0 || !r.removed.is_empty() {
        info!("pass: {} deliveries confirmed, {} set(s) left the spool, {} waiting", r.delivered, r.removed.len(), r.pending_sets);
    }
}

/// The time-stamp pass in the journal: sets waiting for a token are flagged untimestamped,
/// stored tokens clear the flag.
fn record_timestamps(r: &PassReport, journal: Option<&cr_journal::Journal>) {
    let (Some(t), Some(j)) = (&r.timestamps, journal) else { return };
    let now = Utc::now();
    for id in &t.waiting {
        let error = t.failed.iter().find(|(s, _)| s == id).map(|(_, e)| e.as_str());
        if let Err(e) = j.timestamp_pending(id, error, now) {
            warn!(set = %id, "the journal could not flag the set untimestamped: {e}");
        }
    }
    for (id, info) in &t.stored {
        if let Err(e) = j.timestamp_stored(id, &info.gen_time, &info.tsa, now) {
            warn!(set = %id, "the journal could not record the time-stamp: {e}");
        }
    }
}

/// `uploader.prom`: the last delivery pass's gauges and the sets whose deletion is pending.
fn write_metrics(metrics: &Path, r: &PassReport, deletions_pending: usize) {
    let stamps = r.timestamps.as_ref().map_or(0, |t| t.waiting.len());
    let text = format!(
        "# HELP callrec_spool_free_percent Free space of the spool's file system.\n# TYPE callrec_spool_free_percent gauge\ncallrec_spool_free_percent {:.2}\n# HELP callrec_spool_pending_sets Sets waiting for at least one target.\n# TYPE callrec_spool_pending_sets gauge\ncallrec_spool_pending_sets {}\n# HELP callrec_upload_failing_targets Targets whose last attempt failed.\n# TYPE callrec_upload_failing_targets gauge\ncallrec_upload_failing_targets {}\n# HELP callrec_deletions_pending Sets whose deletion a target (or the spool) has not confirmed yet, after the last deletion pass.\n# TYPE callrec_deletions_pending gauge\ncallrec_deletions_pending {}\n# HELP callrec_timestamps_pending Sets in the spool still without their RFC 3161 time-stamp token.\n# TYPE callrec_timestamps_pending gauge\ncallrec_timestamps_pending {}\n",
        r.free_percent.unwrap_or(f64::NAN),
        r.pending_sets,
        r.failed.len(),
        deletions_pending,
        stamps
    );
    let tmp = metrics.with_extension("tmp");
    if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, metrics)).is_err() {
        warn!("could not write {}", metrics.display());
    }
}

/// Logs a notice (outages and quality lists at WARN) and mails it when mail is
/// configured; `false` when the mail could not be sent.
fn notify(n: &Notice, mailer: Option<&cr_storage::Mailer>) -> bool {
    use cr_storage::NoticeKind::*;
    let first = n.body("");
    let first = first.lines().next().unwrap_or("");
    match n.kind {
        OutageStarted | Reminder | LowSpace | DeletionFailing | DeletionStillFailing | QualityFlagged => warn!("{first}"),
        _ => info!("{first}"),
    }
    if n.kind == QualityFlagged {
        for set in &n.flagged {
            warn!(set = %set.set_id, reasons = ?set.reasons, "flagged quality: {}", set.leg_lines().join("; "));
        }
    }
    if let Some(m) = mailer
        && let Err(e) = m.send(n)
    {
        error!("could not send the notification mail: {e}");
        return false;
    }
    true
}
