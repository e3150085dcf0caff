//! `[retention]`: the installation's default retention period and how often the deletion
//! pass runs. The period of one configuration (`[[recordings]] retention`) is the
//! policy's and reaches the recorder through its decision.

use std::time::Duration;

use cr_config::{Config, ConfigError, parse_duration};
use cr_types::Period;
use serde::Deserialize;

/// `[retention]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetentionConfig {
    /// The period of sets whose configuration names none, e.g. `"10y"`; none: such sets
    /// never expire.
    pub default: Option<String>,
    /// How often the deletion pass of `cr-uploader` runs, e.g. `"1h"`.
    #[serde(default = "default_interval")]
    pub interval: String,
}

fn default_interval() -> String {
    "1h".to_owned()
}

/// `[retention]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionSettings {
    /// `default`: the period of sets whose configuration names none; `None`: they never
    /// expire.
    pub default: Option<Period>,
    /// `interval`: the deletion pass's period, [`MIN_INTERVAL`] ..= [`MAX_INTERVAL`].
    /// Default 1 hour (also without the section).
    pub interval: Duration,
}

/// The shortest `[retention] interval`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The longest `[retention] interval`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(30 * 86_400);

impl Default for RetentionSettings {
    /// No default period (sets never expire unless their configuration names a period),
    /// interval 1 hour.
    fn default() -> Self {
        Self { default: None, interval: Duration::from_secs(3600) }
    }
}

impl RetentionSettings {
    /// `[retention]` validated, or every problem found in it, each at its line and key;
    /// the defaults without the section.
    pub fn from_config(cfg: &Config) -> Result<Self, Vec<ConfigError>> {
        let Some(raw) = cfg.section::<RetentionConfig>("retention").map_err(|e| vec![e])? else {
            return Ok(Self::default());
        };
        let mut problems = Vec::new();
        let default = match raw.default.as_deref().map(Period::parse) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                problems.push(cfg.error_at("retention.default", e.to_string()));
                None
            }
        };
        let interval = match parse_duration(&raw.interval) {
            Ok(d) if (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) => d,
            Ok(_) => {
                problems.push(cfg.error_at(
                    "retention.interval",
                    format!("{:?}: the deletion pass must run between every minute and every 30 days (\"1m\" ..= \"30d\")", raw.interval),
                ));
                Duration::ZERO
            }
            Err(e) => {
                problems.push(cfg.error_at("retention.interval", e));
                Duration::ZERO
            }
        };
        if problems.is_empty() { Ok(Self { default, interval }) } else { Err(problems) }
    }
}

/// What `crctl config check` says about retention that is not an error: which
/// configurations' sets never expire (none names a period and `[retention] default` is
/// not set). Empty when every set expires.
pub fn never_expiring(cfg: &Config, settings: &RetentionSettings) -> Vec<String> {
    if settings.default.is_some() {
        return Vec::new();
    }
    let Ok(pc) = cr_policy::PolicyConfig::from_config(cfg) else { return Vec::new() };
    let without: Vec<&str> =
        pc.recordings.iter().filter(|r| r.retention.is_none()).map(|r| r.name.as_str()).collect();
    if without.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "no retention period for configuration(s) {}: their sets never expire (set `retention` there or [retention] default)",
        without.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    )]
}
