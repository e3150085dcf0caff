//! `[reconcile]` of callrec.toml (feature `run`): the CDR file `cr-uploader` reconciles
//! every `interval`, mailing the report through `[notify]` when it finds a problem.
//!
//! ```toml
//! [reconcile]
//! cdr = "/var/log/asterisk/cdr-csv/Master.csv"   # relative paths: relative to data_dir
//! format = "asterisk"                            # asterisk | freeswitch | cucm | csv
//! # columns = "caller=src,callee=dst,start=start,duration=billsec"   # csv only
//! interval = "1d"                                # 1m ..= 30d, default 1d
//! # tz = "Europe/Berlin"                         # default installation.timezone
//! # match_window = 10                            # seconds
//! # short_tolerance = 5                          # seconds
//! ```

use std::time::Duration;

use cr_config::{Config, ConfigError, parse_duration};
use serde::Deserialize;

use crate::cdr::Format;
use crate::run::Job;

/// `[reconcile]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    cdr: String,
    format: String,
    columns: Option<String>,
    #[serde(default = "default_interval")]
    interval: String,
    tz: Option<String>,
    #[serde(default = "default_window")]
    match_window: u32,
    #[serde(default = "default_tolerance")]
    short_tolerance: u32,
}

fn default_interval() -> String {
    "1d".to_owned()
}
fn default_window() -> u32 {
    10
}
fn default_tolerance() -> u32 {
    5
}

/// The shortest `[reconcile] interval`.
pub const MIN_RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
/// The longest `[reconcile] interval`.
pub const MAX_RECONCILE_INTERVAL: Duration = Duration::from_secs(30 * 86_400);

/// `[reconcile]`, validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Schedule {
    /// The run (every call of the file; the file is read anew each time).
    pub job: Job,
    /// How often.
    pub interval: Duration,
}

impl Schedule {
    /// `[reconcile]` validated (`None` without the section), or every problem in it at its
    /// key.
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, Vec<ConfigError>> {
        let Some(raw) = cfg.section::<Raw>("reconcile").map_err(|e| vec![e])? else {
            return Ok(None);
        };
        let mut problems = Vec::new();
        let format = Format::parse(&raw.format, raw.columns.as_deref())
            .map_err(|e| problems.push(cfg.error_at(if raw.columns.is_some() { "reconcile.columns" } else { "reconcile.format" }, e.to_string())))
            .ok();
        let zone_name = raw.tz.as_deref().or(cfg.installation.timezone.as_deref());
        let zone = match zone_name.map(str::parse::<chrono_tz::Tz>) {
            None => None,
            Some(Ok(z)) => Some(z),
            Some(Err(_)) => {
                problems.push(cfg.error_at("reconcile.tz", format!("{:?} is not an IANA time zone name", zone_name.unwrap_or(""))));
                None
            }
        };
        let interval = match parse_duration(&raw.interval) {
            Ok(d) if (MIN_RECONCILE_INTERVAL..=MAX_RECONCILE_INTERVAL).contains(&d) => d,
            Ok(_) => {
                problems.push(cfg.error_at("reconcile.interval", format!("{:?}: between \"1m\" and \"30d\"", raw.interval)));
                Duration::ZERO
            }
            Err(e) => {
                problems.push(cfg.error_at("reconcile.interval", e));
                Duration::ZERO
            }
        };
        let Some(format) = format else { return Err(problems) };
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut job = Job::new(cfg.resolve_path(&raw.cdr), format, zone);
        job.options.match_window = chrono::Duration::seconds(i64::from(raw.match_window));
        job.options.short_tolerance = chrono::Duration::seconds(i64::from(raw.short_tolerance));
        Ok(Some(Self { job, interval }))
    }
}
