//! `[pbx.siprec]` validated: listen addresses, RTP ports, SRTP, TLS files, limits and what
//! to do with a call no configuration records.

use std::time::Duration;

use cr_config::{Config, ConfigError, SipRecConfig, parse_duration};
use cr_pbx::driver::{SrsDriverConfig, TlsSettings};
use cr_pbx::{Decline, SrtpPolicy};

/// `[pbx.siprec]`, validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SipRecSettings {
    /// `listen`, each a valid `udp:`/`tcp:`/`tls:` address.
    pub listen: Vec<String>,
    /// `rtp_ports` as written (`LOW-HIGH`).
    pub rtp_ports: String,
    /// `srtp`.
    pub srtp: SrtpPolicy,
    /// `decline`: "reject" is 403, "accept" answers and drops the media.
    pub decline: Decline,
    /// `max_pending_invites_per_source`.
    pub max_pending_invites_per_source: usize,
    /// `tcp_idle_timeout`.
    pub tcp_idle_timeout: Duration,
    /// `tcp_max_connections`.
    pub tcp_max_connections: usize,
    /// The TLS files (resolved against `data_dir`) when `tls_certificate` and `tls_key`
    /// are given.
    pub tls: Option<TlsSettings>,
    /// Things an operator should know that are not errors.
    pub warnings: Vec<String>,
}

impl SipRecSettings {
    /// `[pbx.siprec]` validated, or every problem found in it; `None` without the section.
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, Vec<ConfigError>> {
        let Some(s) = &cfg.pbx.siprec else { return Ok(None) };
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        if s.listen.is_empty() {
            out.push(cfg.error_at(
                "pbx.siprec.listen",
                "no listen address: the SIPREC server would take no call (e.g. [\"udp:0.0.0.0:5060\"], or remove [pbx.siprec])",
            ));
        }
        let mut tls_listen = false;
        for (i, l) in s.listen.iter().enumerate() {
            match cr_pbx::driver::parse_listen(l) {
                Ok(l) => tls_listen |= l.transport == cr_pbx::Transport::Tls,
                Err(e) => out.push(cfg.error_at(&format!("pbx.siprec.listen[{i}]"), e.to_string())),
            }
        }
        match cr_pbx::driver::parse_port_range(&s.rtp_ports) {
            Err(e) => out.push(cfg.error_at("pbx.siprec.rtp_ports", e.to_string())),
            Ok((lo, hi)) => {
                if let Some((elo, ehi)) = ephemeral_ports()
                    && lo <= ehi
                    && elo <= hi
                {
                    warnings.push(format!(
                        "{}: pbx.siprec.rtp_ports {lo}-{hi} overlaps the kernel's ephemeral ports {elo}-{ehi} \
                         (net.ipv4.ip_local_port_range): outgoing connections of this host can take ports calls need",
                        cfg.path.display()
                    ));
                }
            }
        }
        let tcp_idle_timeout = parse_duration(&s.tcp_idle_timeout).unwrap_or_else(|e| {
            out.push(cfg.error_at("pbx.siprec.tcp_idle_timeout", e));
            Duration::ZERO
        });
        if s.tcp_max_connections == 0 {
            out.push(cfg.error_at("pbx.siprec.tcp_max_connections", "0 would refuse every SIP/TCP connection"));
        }
        let tls = tls_settings(cfg, s);
        if tls_listen || s.tls_certificate.is_some() || s.tls_key.is_some() {
            match (&tls, &s.tls_certificate) {
                (Some(settings), _) => match cr_pbx::driver::tls_server_config(settings) {
                    Err(cr_pbx::DriverError::Tls { key, reason }) => out.push(cfg.error_at(&format!("pbx.siprec.{key}"), reason)),
                    Err(e) => out.push(cfg.error_at("pbx.siprec.tls_certificate", e.to_string())),
                    Ok(_) => {}
                },
                (None, None) => out.push(cfg.error_at("pbx.siprec.listen", "a tls: listen address needs tls_certificate and tls_key (PEM files)")),
                (None, Some(_)) => out.push(cfg.error_at("pbx.siprec.tls_certificate", "tls_key (the PEM private key of tls_certificate) is missing")),
            }
        }
        let srtp = SrtpPolicy::parse(&s.srtp).unwrap_or_else(|e| {
            out.push(cfg.error_at("pbx.siprec.srtp", e.to_string()));
            SrtpPolicy::default()
        });
        let decline = match s.decline.as_str() {
            "reject" => Decline::Reject(403),
            "accept" => Decline::AcceptDropMedia,
            other => {
                out.push(cfg.error_at("pbx.siprec.decline", format!("{other:?}: use \"reject\" or \"accept\"")));
                Decline::Reject(403)
            }
        };
        if s.max_pending_invites_per_source == 0 {
            out.push(cfg.error_at(
                "pbx.siprec.max_pending_invites_per_source",
                "0 would refuse every call: use at least 1 (default 50)".to_owned(),
            ));
        }
        if !out.is_empty() {
            return Err(out);
        }
        Ok(Some(Self {
            listen: s.listen.clone(),
            rtp_ports: s.rtp_ports.clone(),
            srtp,
            decline,
            max_pending_invites_per_source: s.max_pending_invites_per_source,
            tcp_idle_timeout,
            tcp_max_connections: s.tcp_max_connections,
            tls,
            warnings,
        }))
    }

    /// The SIPREC server's driver configuration.
    pub fn driver_config(&self) -> SrsDriverConfig {
        let mut driver = SrsDriverConfig::new(self.listen.clone(), self.rtp_ports.clone());
        driver.srtp = self.srtp;
        driver.tls = self.tls.clone();
        driver.max_pending_per_source = self.max_pending_invites_per_source;
        driver.tcp_idle_timeout = self.tcp_idle_timeout;
        driver.tcp_max_connections = self.tcp_max_connections;
        driver
    }
}

/// The TLS settings of `[pbx.siprec]`, paths resolved against `data_dir`; None without
/// `tls_certificate` and `tls_key`.
fn tls_settings(cfg: &Config, s: &SipRecConfig) -> Option<TlsSettings> {
    Some(TlsSettings {
        certificate: cfg.resolve_path(s.tls_certificate.as_ref()?),
        key: cfg.resolve_path(s.tls_key.as_ref()?),
        client_ca: s.tls_client_ca.as_ref().map(|p| cfg.resolve_path(p)),
        client_fingerprints: s.tls_client_fingerprints.clone(),
    })
}

/// The kernel's ephemeral port range, where outgoing connections get their local port.
fn ephemeral_ports() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse().ok());
    Some((it.next()??, it.next()??))
}
