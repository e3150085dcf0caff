//! # cr-setup
//!
//! One composition step for `callrec.toml`, in the manner of ripgrep's `HiArgs`: the parsed
//! file ([`cr_config::Config`]) becomes validated library objects in one place. Every value
//! is checked once, here, by the function of the crate that owns it; `crctl config check`
//! ([`Checked::from_config`]) and the daemons ([`RecorderSetup::from_config`],
//! [`UploaderSetup::from_config`]) call the same functions, so a file `config check` accepts
//! starts every daemon, and a daemon refuses a file with the message `config check` gives.
//!
//! Each part takes only what its program needs: the recorder does not resolve the
//! targets' secrets (the uploader's), the uploader does not build the recording policy.
//!
//! | part | checked by |
//! | --- | --- |
//! | `[installation] timezone`, `[[targets]]`, `[notify]` | cr-storage |
//! | `[[users]]`, `[[groups]]`, `[[recordings]]` (and their target names) | cr-policy |
//! | `[keystore]` | cr-sign |
//! | `[pbx.siprec]` | [`SipRecSettings`] (here, with cr-pbx's parsers) |
//! | `[pbx.api]` | [`cr_config::ApiSettings`] |
//! | `[journal]` | cr-journal |
//! | `[retention]` | [`RetentionSettings`] (here; the periods are [`cr_types::Period`]s) |
//! | `[decision_log]` | [`DecisionLogSettings`] (here) |
//! | `[console]` | [`ConsoleSettings`] (here; the TLS files are loaded by cr-console) |
//! | `[timestamping]` | [`TimestampingSettings`] (here; the certificate is read by cr-sign) |
//! | `[quality]` | [`quality_from_config`] (here; the thresholds are [`cr_types::QualityThresholds`]) |
//! | `[reconcile]` | `cr_reconcile::Schedule` (cr-reconcile's; `crctl config check` and cr-uploader alike) |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod console;
mod decision_log;
mod files;
mod quality;
mod retention;
mod siprec;
mod timestamping;

pub use retention::{MAX_INTERVAL, MIN_INTERVAL, RetentionConfig, RetentionSettings, never_expiring};
pub use console::ConsoleSettings;
pub use decision_log::{DecisionLogConfig, DecisionLogSettings, MAX_SEAL_INTERVAL, MIN_SEAL_INTERVAL};
pub use quality::quality_from_config;
pub use siprec::SipRecSettings;
pub use timestamping::TimestampingSettings;

use cr_config::{ApiSettings, Config, ConfigError};
use cr_policy::Policy;
use cr_storage::{NotifySetup, TargetSpec, Zone};

/// Every problem of a file, each with its file, line and key.
pub type Problems = Vec<ConfigError>;

/// The problems one per line, for a daemon's start-up error.
pub fn join(problems: &[ConfigError]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// What the recorder runs with: `[[users]]`/`[[groups]]`/`[[recordings]]` as a policy,
/// `[pbx.siprec]` and `[pbx.api]` validated.
#[derive(Debug)]
#[non_exhaustive]
pub struct RecorderSetup {
    /// The recording policy.
    pub policy: Policy,
    /// `[pbx.siprec]`, if present.
    pub siprec: Option<SipRecSettings>,
    /// `[pbx.api]`, if present.
    pub api: Option<ApiSettings>,
    /// `[retention]`: the default period of sets whose configuration names none (the
    /// configuration's own period is in the policy's decision).
    pub retention: RetentionSettings,
    /// `[decision_log]`: how often the decision log is sealed, and where it goes.
    pub decision_log: DecisionLogSettings,
    /// `[quality]`: when a sealed set is flagged `quality`.
    pub quality: cr_types::QualityThresholds,
    /// Things an operator should know that are not errors (logged at start).
    pub notes: Vec<String>,
}

impl RecorderSetup {
    /// Validates the recorder's part of the file; every problem at once.
    pub fn from_config(cfg: &Config) -> Result<Self, Problems> {
        let mut problems = Vec::new();
        let policy = collect(Policy::from_config(cfg), &mut problems);
        let siprec = collect(SipRecSettings::from_config(cfg), &mut problems).flatten();
        let api = collect(cfg.api_settings(), &mut problems).flatten();
        let retention = collect(RetentionSettings::from_config(cfg), &mut problems);
        let decision_log = collect(DecisionLogSettings::from_config(cfg), &mut problems);
        problems.extend(spool_floor(cfg));
        let quality = collect(quality_from_config(cfg), &mut problems);
        let (Some(policy), Some(retention), Some(decision_log), Some(quality), true) =
            (policy, retention, decision_log, quality, problems.is_empty())
        else {
            return Err(problems);
        };
        let mut notes: Vec<String> = siprec.iter().flat_map(|s| s.warnings.clone()).collect();
        notes.extend(api.iter().flat_map(|a| a.notes.clone()));
        notes.extend(never_expiring(cfg, &retention));
        Ok(Self { policy, siprec, api, retention, decision_log, quality, notes })
    }
}

/// What the uploader runs with: the targets (secrets resolved), the time zone of the
/// directory templates and `[notify]`.
#[derive(Debug)]
#[non_exhaustive]
pub struct UploaderSetup {
    /// The targets, in file order.
    pub targets: Vec<TargetSpec>,
    /// `installation.timezone`.
    pub zone: Zone,
    /// `[notify]`, if present.
    pub notify: Option<NotifySetup>,
    /// `[retention]`: above all `interval`, the deletion pass's period.
    pub retention: RetentionSettings,
    /// `[timestamping]`, if present: every set waits in the spool for its time-stamp token.
    pub timestamping: Option<TimestampingSettings>,
}

impl UploaderSetup {
    /// Validates the uploader's part of the file; every problem at once. A recording that
    /// names a target the file does not have is refused here too (its sets could never be
    /// delivered).
    pub fn from_config(cfg: &Config) -> Result<Self, Problems> {
        let mut problems = Vec::new();
        let targets = collect(cr_storage::targets_from_config(cfg), &mut problems);
        problems.extend(cr_policy::check_target_names(cfg));
        let zone = collect(cr_storage::zone_from_config(cfg).map_err(|e| vec![e]), &mut problems);
        let notify = collect(cr_storage::notifier_from_config(cfg), &mut problems);
        let retention = collect(RetentionSettings::from_config(cfg), &mut problems);
        let timestamping = collect(TimestampingSettings::from_config(cfg), &mut problems);
        match (targets, zone, notify, retention, timestamping) {
            (Some(targets), Some(zone), Some(notify), Some(retention), Some(timestamping)) if problems.is_empty() => {
                Ok(Self { targets, zone, notify, retention, timestamping })
            }
            _ => Err(problems),
        }
    }
}

/// The whole file checked, as `crctl config check` does: every part of every program, the
/// keystore, the journal URL, and the files the configuration names (announcements that
/// must play, folder targets that must exist).
#[derive(Debug)]
#[non_exhaustive]
pub struct Checked {
    /// Notes and warnings that are not errors, one a line, without the file name.
    pub notes: Vec<String>,
    /// Warnings, each naming the file already.
    pub warnings: Vec<String>,
    /// The problems; none when the file is good.
    pub problems: Problems,
}

impl Checked {
    /// Checks everything; every problem, each reported once.
    pub fn from_config(cfg: &Config) -> Self {
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        let keystore = cr_sign::check_configured(cfg);
        problems.extend(keystore.problems);
        warnings.extend(keystore.warnings);
        problems.extend(cr_policy::check_config(cfg));
        problems.extend(files::announcements_play(cfg));
        problems.extend(cr_storage::targets_from_config(cfg).err().unwrap_or_default());
        problems.extend(cr_storage::notifier_from_config(cfg).err().unwrap_or_default());
        problems.extend(cr_storage::zone_from_config(cfg).err());
        match SipRecSettings::from_config(cfg) {
            Ok(s) => warnings.extend(s.into_iter().flat_map(|s| s.warnings)),
            Err(e) => problems.extend(e),
        }
        match cfg.api_settings() {
            Ok(a) => notes.extend(a.into_iter().flat_map(|a| a.notes)),
            Err(e) => problems.extend(e),
        }
        match RetentionSettings::from_config(cfg) {
            Ok(r) => notes.extend(never_expiring(cfg, &r)),
            Err(e) => problems.extend(e),
        }
        problems.extend(ConsoleSettings::from_config(cfg).err().unwrap_or_default());
        problems.extend(TimestampingSettings::from_config(cfg).err().unwrap_or_default());
        problems.extend(DecisionLogSettings::from_config(cfg).err().unwrap_or_default());
        problems.extend(spool_floor(cfg));
        problems.extend(quality_from_config(cfg).err().unwrap_or_default());
        problems.extend(cr_reconcile::Schedule::from_config(cfg).err().unwrap_or_default());
        problems.extend(files::folders_exist(cfg));
        if let Err(e) = cr_journal::JournalUrl::parse(&cfg.journal.url, &cfg.installation.data_dir) {
            problems.push(cfg.error_at("journal.url", e.to_string()));
        }
        Self { notes, warnings, problems }
    }
}

/// `[pbx] min_spool_free_percent` out of 0 ..= 100.
fn spool_floor(cfg: &Config) -> Option<ConfigError> {
    let v = cfg.pbx.min_spool_free_percent;
    (!(0.0..=100.0).contains(&v)).then(|| cfg.error_at("pbx.min_spool_free_percent", format!("{v}: must be between 0 and 100")))
}

/// The value of `r`, or `None` with its problems added to `problems`.
fn collect<T>(r: Result<T, Problems>, problems: &mut Problems) -> Option<T> {
    r.map_err(|e| problems.extend(e)).ok()
}
