//! One reconciliation run against an installation (feature `run`): the CDR file read from
//! disk, the policy from the configuration, the sets and membership history from the
//! journal. `crctl reconcile` and `cr-uploader`'s `[reconcile]` schedule both call [`run`].

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use cr_journal::{Journal, JournalError, RecordedCall};

use crate::cdr::{CdrRows, Format, read_cdr};
use crate::error::CdrError;
use crate::reconcile::{Options, reconcile};
use crate::report::Report;

/// Sets read from the journal per query.
const PAGE: u32 = 50_000;

/// What to reconcile.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Job {
    /// The CDR file.
    pub cdr: PathBuf,
    /// Its format.
    pub format: Format,
    /// The zone of times written without one (`--tz`, else `installation.timezone`).
    pub zone: Option<Tz>,
    /// Only calls connected at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only calls connected before this time.
    pub to: Option<DateTime<Utc>>,
    /// Tolerances.
    pub options: Options,
}

impl Job {
    /// A job for `cdr` in `format`, all of its calls, default tolerances.
    pub fn new(cdr: impl Into<PathBuf>, format: Format, zone: Option<Tz>) -> Self {
        Self { cdr: cdr.into(), format, zone, from: None, to: None, options: Options::default() }
    }
}

/// Why a run could not be made (bad rows are not errors: they are in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The CDR file cannot be opened.
    #[error("cannot open the CDR file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CDR file cannot be read as its format.
    #[error("CDR file {path}: {source}")]
    Cdr {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CdrError,
    },
    /// The configuration's recording policy has errors.
    #[error("the recording policy in the configuration has errors (see `crctl config check`): {0}")]
    Policy(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Reads the job's CDR file, keeps the calls in its time range, and reconciles them
/// against `journal` under the policy of `cfg`.
pub fn run(cfg: &cr_config::Config, journal: &Journal, job: &Job) -> Result<Report, RunError> {
    let policy = cr_policy::Policy::from_config(cfg)
        .map_err(|errs| RunError::Policy(errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    let file = std::fs::File::open(&job.cdr).map_err(|source| RunError::Open { path: job.cdr.clone(), source })?;
    let mut rows = read_cdr(&job.format, job.zone, std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(|source| RunError::Cdr { path: job.cdr.clone(), source })?;
    keep_range(&mut rows, job.from, job.to);
    let sets = match span(&rows) {
        None => Vec::new(),
        Some((first, last)) => {
            let w = job.options.match_window;
            sets_between(journal, first - w, last + w + Duration::milliseconds(1))?
        }
    };
    let history = journal.membership_history()?;
    Ok(reconcile(&policy, &job.options, rows, sets, history))
}

/// Drops the calls outside `[from, to)`, counting them as skipped.
fn keep_range(rows: &mut CdrRows, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) {
    let before = rows.calls.len();
    rows.calls.retain(|c| from.is_none_or(|f| c.started_at >= f) && to.is_none_or(|t| c.started_at < t));
    rows.skipped += (before - rows.calls.len()) as u64;
}

fn span(rows: &CdrRows) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = rows.calls.iter().map(|c| c.started_at).min()?;
    let last = rows.calls.iter().map(|c| c.started_at).max()?;
    Some((first, last))
}

/// Every sealed set whose recording started in `[from, to)`, page by page.
fn sets_between(journal: &Journal, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<RecordedCall>, JournalError> {
    let mut all: Vec<RecordedCall> = Vec::new();
    loop {
        let after = all.last().map(|s| (s.started_at, s.set_id.clone()));
        let page = journal.recorded_calls(Some(from), Some(to), after.as_ref().map(|(t, id)| (*t, id.as_str())), PAGE)?;
        let done = page.len() < PAGE as usize;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}
