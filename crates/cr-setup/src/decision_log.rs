//! `[decision_log]`: how often the recorder seals the decision log (calls not recorded and
//! calls that failed to record) into the chain, and where the sets go.

use std::time::Duration;

use cr_config::{Config, ConfigError, parse_duration};
use serde::Deserialize;

/// `[decision_log]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DecisionLogConfig {
    /// How often entries are sealed into a `decision-log` set, e.g. `"1h"`.
    #[serde(default = "default_interval")]
    pub seal_interval: String,
    /// The targets the sets go to; none written: every `[[targets]]` entry.
    pub targets: Option<Vec<String>>,
}

fn default_interval() -> String {
    "1h".to_owned()
}

/// The longest `[decision_log] seal_interval`: the log is sealed at least hourly.
pub const MAX_SEAL_INTERVAL: Duration = Duration::from_secs(3600);
/// The shortest `[decision_log] seal_interval`.
pub const MIN_SEAL_INTERVAL: Duration = Duration::from_secs(1);

/// `[decision_log]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecisionLogSettings {
    /// `seal_interval`, [`MIN_SEAL_INTERVAL`] ..= [`MAX_SEAL_INTERVAL`]; default 1 hour.
    pub seal_interval: Duration,
    /// `targets`; default every `[[targets]]` entry, in file order.
    pub targets: Vec<String>,
}

impl DecisionLogSettings {
    /// `[decision_log]` validated (every target name must be a `[[targets]]` entry), or
    /// every problem found in it, each at its line and key; the defaults without it.
    pub fn from_config(cfg: &Config) -> Result<Self, Vec<ConfigError>> {
        let all = cfg.names_of("targets");
        let Some(raw) = cfg.section::<DecisionLogConfig>("decision_log").map_err(|e| vec![e])? else {
            return Ok(Self { seal_interval: MAX_SEAL_INTERVAL, targets: all });
        };
        let mut problems = Vec::new();
        let seal_interval = match parse_duration(&raw.seal_interval) {
            Ok(d) if (MIN_SEAL_INTERVAL..=MAX_SEAL_INTERVAL).contains(&d) => d,
            Ok(_) => {
                problems.push(cfg.error_at(
                    "decision_log.seal_interval",
                    format!("{:?}: the decision log is sealed at least hourly (\"1s\" ..= \"1h\")", raw.seal_interval),
                ));
                Duration::ZERO
            }
            Err(e) => {
                problems.push(cfg.error_at("decision_log.seal_interval", e));
                Duration::ZERO
            }
        };
        let targets = match raw.targets {
            None => all,
            Some(list) => {
                for (i, t) in list.iter().enumerate() {
                    if !all.contains(t) {
                        problems.push(cfg.error_at(
                            &format!("decision_log.targets[{i}]"),
                            format!("{t:?} is not the name of a [[targets]] entry"),
                        ));
                    }
                }
                list
            }
        };
        if problems.is_empty() { Ok(Self { seal_interval, targets }) } else { Err(problems) }
    }
}
