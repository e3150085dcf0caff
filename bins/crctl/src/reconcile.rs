//! `crctl reconcile`: the PBX's call records against the journal (cr-reconcile).
//!
//! Exit status: 0 every call as the policy says; 1 a call MISSING or SHORT, or a row of the
//! CDR file that could not be read; 2 could not run.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use cr_reconcile::{Format, Job};

/// `crctl reconcile` arguments.
#[derive(Args)]
pub struct ReconcileArgs {
    /// The PBX's CDR file: Asterisk Master.csv, a FreeSWITCH mod_cdr_csv file, a CUCM CDR
    /// file, or any CSV file with a header row (see --columns).
    #[arg(long, value_name = "FILE")]
    pub cdr: PathBuf,
    /// The file's format.
    #[arg(long, value_parser = ["asterisk", "freeswitch", "cucm", "csv"])]
    pub format: String,
    /// For --format csv: which header column holds what, e.g.
    /// "call_id=uniqueid,caller=src,callee=dst,start=start,answer=answer,duration=billsec".
    /// Keys: call_id, caller, callee, original_callee, start, answer, end, duration;
    /// caller, callee, start and one of duration/end are required.
    #[arg(long, value_name = "MAP")]
    pub columns: Option<String>,
    /// Only calls connected at or after this time: RFC 3339 or a date (midnight in the
    /// installation's time zone).
    #[arg(long)]
    pub from: Option<String>,
    /// Only calls connected before this time: RFC 3339, or a date (that whole day).
    #[arg(long)]
    pub to: Option<String>,
    /// The zone of CDR times written without one (Asterisk, FreeSWITCH, CSV), an IANA
    /// name such as Europe/Berlin [default: installation.timezone; without either, such a
    /// time makes its row bad].
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// A set matches a call by parties when it started within this many seconds of the
    /// call's connection.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub match_window: u32,
    /// A set is SHORT when its media is shorter than the connected call by more than this
    /// many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub short_tolerance: u32,
    /// Print one JSON object (summary, calls, bad_rows, sets_without_call) instead of text.
    #[arg(long)]
    pub json: bool,
    /// List every call, also those RECORDED or NOT-RECORDED-AS-DECIDED.
    #[arg(long)]
    pub all: bool,
}

/// The job the arguments describe (also what cr-uploader's `[reconcile]` builds).
fn job(cfg: &cr_config::Config, a: &ReconcileArgs) -> anyhow::Result<Job> {
    let format = Format::parse(&a.format, a.columns.as_deref()).context("--format/--columns")?;
    let zone_name = a.tz.as_deref().or(cfg.installation.timezone.as_deref());
    let zone = zone_name
        .map(|n| n.parse::<chrono_tz::Tz>().map_err(|_| anyhow::anyhow!("time zone {n:?} is not an IANA time zone name")))
        .transpose()?;
    let tz = crate::journal_cmds::DisplayZone::of(cfg)?;
    let (from, to) = crate::journal_cmds::time_bounds(&tz, a.from.as_deref(), a.to.as_deref())?;
    let mut job = Job::new(&a.cdr, format, zone);
    job.from = from;
    job.to = to;
    job.options.match_window = chrono::Duration::seconds(i64::from(a.match_window));
    job.options.short_tolerance = chrono::Duration::seconds(i64::from(a.short_tolerance));
    Ok(job)
}

/// Runs `crctl reconcile`.
pub fn run(cfg: &cr_config::Config, a: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let job = job(cfg, &a)?;
    let journal = crate::journal_cmds::open(cfg, false)?;
    let report = cr_reconcile::run(cfg, &journal, &job)?;
    let file = a.cdr.display().to_string();
    if a.json {
        println!("{}", report.json(&file, a.all));
    } else {
        print!("{}", report.text(&file, a.all));
    }
    let s = &report.summary;
    tracing::info!(
        file = %file, calls = s.calls, missing = s.missing, short = s.short, bad_rows = s.bad_rows,
        "reconciled the PBX's call records"
    );
    Ok(if report.has_problems() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
