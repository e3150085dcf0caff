//! `[console]`: where cr-console, the web console, listens, its TLS certificate and key, and its session and
//! lock-out rules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cr_config::{Config, ConfigError, parse_duration};
use serde::Deserialize;

/// `[console]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleConfig {
    #[serde(default = "default_listen")]
    listen: String,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default = "default_idle")]
    idle_timeout: String,
    #[serde(default = "default_failures")]
    lockout_failures: u32,
    #[serde(default = "default_lockout")]
    lockout_time: String,
}

fn default_listen() -> String {
    "127.0.0.1:8443".to_owned()
}
fn default_idle() -> String {
    "15m".to_owned()
}
fn default_failures() -> u32 {
    5
}
fn default_lockout() -> String {
    "15m".to_owned()
}

/// `[console]`, validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsoleSettings {
    /// Where it listens.
    pub listen: SocketAddr,
    /// PEM certificate chain and key; `None`: plain HTTP, allowed on a loopback address only.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// This many wrong passwords for one name within `lockout_time` lock the name out for
    /// the rest of that time.
    pub lockout_failures: u32,
    /// See `lockout_failures`.
    pub lockout_time: Duration,
}

impl ConsoleSettings {
    /// `[console]` validated (the defaults without the section), or every problem at its
    /// line and key.
    pub fn from_config(cfg: &Config) -> Result<Self, Vec<ConfigError>> {
        let raw = cfg.section::<ConsoleConfig>("console").map_err(|e| vec![e])?.unwrap_or(ConsoleConfig {
            listen: default_listen(),
            certificate: None,
            key: None,
            idle_timeout: default_idle(),
            lockout_failures: default_failures(),
            lockout_time: default_lockout(),
        });
        let mut problems = Vec::new();
        let listen = raw.listen.parse::<SocketAddr>().map_err(|e| problems.push(cfg.error_at("console.listen", format!("{:?}: {e}", raw.listen)))).ok();
        let mut duration = |key: &str, v: &str| match parse_duration(v) {
            Ok(d) if d >= Duration::from_secs(60) && d <= Duration::from_secs(86_400) => Some(d),
            Ok(_) => {
                problems.push(cfg.error_at(key, format!("{v:?}: between 1m and 24h")));
                None
            }
            Err(e) => {
                problems.push(cfg.error_at(key, format!("{v:?}: {e}")));
                None
            }
        };
        let idle = duration("console.idle_timeout", &raw.idle_timeout);
        let lockout = duration("console.lockout_time", &raw.lockout_time);
        if !(1..=100).contains(&raw.lockout_failures) {
            problems.push(cfg.error_at("console.lockout_failures", format!("{}: between 1 and 100", raw.lockout_failures)));
        }
        let tls = match (raw.certificate, raw.key) {
            (Some(c), Some(k)) => Some((cfg.resolve_path(c), cfg.resolve_path(k))),
            (None, None) => None,
            (Some(_), None) => {
                problems.push(cfg.error_at("console.key", "a certificate needs its key"));
                None
            }
            (None, Some(_)) => {
                problems.push(cfg.error_at("console.certificate", "a key needs its certificate"));
                None
            }
        };
        if let Some(addr) = listen
            && tls.is_none()
            && !addr.ip().is_loopback()
        {
            problems.push(cfg.error_at(
                "console.listen",
                format!("{addr} is not a loopback address: set console.certificate and console.key (plain HTTP only on loopback)"),
            ));
        }
        match (listen, idle, lockout) {
            (Some(listen), Some(idle_timeout), Some(lockout_time)) if problems.is_empty() => {
                Ok(Self { listen, tls, idle_timeout, lockout_failures: raw.lockout_failures, lockout_time })
            }
            _ => Err(problems),
        }
    }
}
