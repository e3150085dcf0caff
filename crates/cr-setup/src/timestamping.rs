//! `[timestamping]`: the RFC 3161 time-stamp authority (TSA) that time-stamps every sealed
//! set's checksum file, and the certificate(s) its tokens must chain to.

use std::path::PathBuf;
use std::time::Duration;

use cr_config::{Config, ConfigError, parse_duration};
use cr_sign::TsaTrust;
use serde::Deserialize;

/// `[timestamping]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampingConfig {
    tsa_url: String,
    tsa_cert: PathBuf,
    #[serde(default = "default_timeout")]
    timeout: String,
}

fn default_timeout() -> String {
    "30s".to_owned()
}

/// `[timestamping]`, validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TimestampingSettings {
    /// `tsa_url`: where time-stamp queries are POSTed (`http://` or `https://`).
    pub url: String,
    /// `tsa_cert`, resolved against `data_dir`: the TSA's certificate or its CA's (PEM, one
    /// or more certificates).
    pub cert_path: PathBuf,
    /// The certificates of `tsa_cert`.
    pub trust: TsaTrust,
    /// `timeout`: how long one query may take (default 30 s, 1 s ..= 5 min).
    pub timeout: Duration,
}

impl TimestampingSettings {
    /// `[timestamping]` validated, `None` without the section, or every problem at its
    /// line and key (the certificate file named).
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, Vec<ConfigError>> {
        let Some(raw) = cfg.section::<TimestampingConfig>("timestamping").map_err(|e| vec![e])? else {
            return Ok(None);
        };
        let mut problems = Vec::new();
        let url = raw.tsa_url.trim();
        let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        if host.is_some_and(|h| h.contains('@')) {
            // Not echoed: what precedes the @ may be a password.
            problems.push(cfg.error_at("timestamping.tsa_url", "holds a user name or password (before @): give the URL without them"));
        } else if host.is_none_or(str::is_empty) {
            problems.push(cfg.error_at(
                "timestamping.tsa_url",
                format!("{:?}: an http:// or https:// URL with a host is expected", raw.tsa_url),
            ));
        }
        let cert_path = cfg.resolve_path(&raw.tsa_cert);
        let trust = match TsaTrust::load(&cert_path) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(cfg.error_at("timestamping.tsa_cert", format!("not a readable certificate: {e}")));
                None
            }
        };
        let timeout = match parse_duration(&raw.timeout) {
            Ok(d) if (Duration::from_secs(1)..=Duration::from_secs(300)).contains(&d) => Some(d),
            Ok(_) => {
                problems.push(cfg.error_at("timestamping.timeout", format!("{:?}: between 1s and 5m", raw.timeout)));
                None
            }
            Err(e) => {
                problems.push(cfg.error_at("timestamping.timeout", format!("{:?}: {e}", raw.timeout)));
                None
            }
        };
        match (trust, timeout) {
            (Some(trust), Some(timeout)) if problems.is_empty() => Ok(Some(Self { url: url.to_owned(), cert_path, trust, timeout })),
            _ => Err(problems),
        }
    }
}
