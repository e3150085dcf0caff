//! `crctl config check`: every crate checks the part of the configuration it owns.
use std::path::Path;

use cr_config::{Config, ConfigError};
use std::process::ExitCode;

/// Loads and validates the file; prints each problem as `FILE:LINE: key `K`: message`.
pub fn run(path: &Path) -> ExitCode {
    let cfg = match cr_config::Config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let mut problems: Vec<cr_config::ConfigError> = Vec::new();
    problems.extend(crate::keys::check(&cfg));
    problems.extend(crate::policy::check(&cfg));
    problems.extend(check_announcements(&cfg));
    if let Err(errs) = cr_storage::targets_from_config(&cfg) {
        problems.extend(errs);
    }
    if let Err(errs) = cr_storage::notifier_from_config(&cfg) {
        problems.extend(errs);
    }
    if let Err(e) = cr_storage::zone_from_config(&cfg) {
        problems.push(e);
    }
    problems.extend(check_pbx(&cfg));
    problems.extend(check_folders(&cfg));
    if let Err(e) = cr_journal::JournalUrl::parse(&cfg.journal.url, &cfg.installation.data_dir) {
        problems.push(cfg.error_at("journal.url", e.to_string()));
    }
    if problems.is_empty() {
        println!("{}: OK", path.display());
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        ExitCode::from(1)
    }
}

/// Every announcement must load and convert now, not at the first call (S12).
fn check_announcements(cfg: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for (i, r) in cfg.recordings.iter().enumerate() {
        for (key, file) in [("announcement_incoming", &r.announcement_incoming), ("announcement_outgoing", &r.announcement_outgoing)] {
            let Some(file) = file else { continue };
            let path = cfg.resolve_path(file);
            // A missing file is reported by the policy check already.
            if path.exists()
                && let Err(e) = cr_audio::Announcement::load(&path)
            {
                out.push(cfg.error_at(&format!("recordings[{i}].{key}"), format!("cannot be played: {e}")));
            }
        }
    }
    out
}

/// `[pbx.siprec]` listen addresses and RTP port range; `[pbx.api]`.
fn check_pbx(cfg: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    if let Some(s) = &cfg.pbx.siprec {
        if s.listen.is_empty() {
            out.push(cfg.error_at(
                "pbx.siprec.listen",
                "no listen address: the SIPREC server would take no call (e.g. [\"udp:0.0.0.0:5060\"], or remove [pbx.siprec])",
            ));
        }
        for (i, l) in s.listen.iter().enumerate() {
            if let Err(e) = cr_pbx::driver::parse_listen(l) {
                out.push(cfg.error_at(&format!("pbx.siprec.listen[{i}]"), e.to_string()));
            }
        }
        match cr_pbx::driver::parse_port_range(&s.rtp_ports) {
            Err(e) => out.push(cfg.error_at("pbx.siprec.rtp_ports", e.to_string())),
            Ok((lo, hi)) => {
                if let Some((elo, ehi)) = ephemeral_ports()
                    && lo <= ehi
                    && elo <= hi
                {
                    eprintln!(
                        "warning: {}: pbx.siprec.rtp_ports {lo}-{hi} overlaps the kernel's ephemeral ports {elo}-{ehi} \
                         (net.ipv4.ip_local_port_range): outgoing connections of this host can take ports calls need",
                        cfg.path.display()
                    );
                }
            }
        }
        if let Err(e) = cr_config::parse_duration(&s.tcp_idle_timeout) {
            out.push(cfg.error_at("pbx.siprec.tcp_idle_timeout", e));
        }
        if s.tcp_max_connections == 0 {
            out.push(cfg.error_at("pbx.siprec.tcp_max_connections", "0 would refuse every SIP/TCP connection"));
        }
        let tls_listen = s.listen.iter().any(|l| cr_pbx::driver::parse_listen(l).is_ok_and(|l| l.transport == cr_pbx::Transport::Tls));
        let tls_files = s.tls_certificate.is_some() || s.tls_key.is_some();
        if tls_listen || tls_files {
            match (&s.tls_certificate, &s.tls_key) {
                (Some(cert), Some(key)) => {
                    let settings = cr_pbx::driver::TlsSettings {
                        certificate: cfg.resolve_path(cert),
                        key: cfg.resolve_path(key),
                        client_ca: s.tls_client_ca.as_ref().map(|p| cfg.resolve_path(p)),
                        client_fingerprints: s.tls_client_fingerprints.clone(),
                    };
                    match cr_pbx::driver::tls_server_config(&settings) {
                        Err(cr_pbx::DriverError::Tls { key, reason }) => out.push(cfg.error_at(&format!("pbx.siprec.{key}"), reason)),
                        Err(e) => out.push(cfg.error_at("pbx.siprec.tls_certificate", e.to_string())),
                        Ok(_) => {}
                    }
                }
                (None, _) => out.push(cfg.error_at("pbx.siprec.listen", "a tls: listen address needs tls_certificate and tls_key (PEM files)")),
                (_, None) => out.push(cfg.error_at("pbx.siprec.tls_certificate", "tls_key (the PEM private key of tls_certificate) is missing")),
            }
        }
        if let Err(e) = cr_pbx::SrtpPolicy::parse(&s.srtp) {
            out.push(cfg.error_at("pbx.siprec.srtp", e.to_string()));
        }
        if !matches!(s.decline.as_str(), "reject" | "accept") {
            out.push(cfg.error_at("pbx.siprec.decline", format!("{:?}: use \"reject\" or \"accept\"", s.decline)));
        }
        if s.max_pending_invites_per_source == 0 {
            out.push(cfg.error_at(
                "pbx.siprec.max_pending_invites_per_source",
                "0 would refuse every call: use at least 1 (default 50)".to_owned(),
            ));
        }
    }
    // `[pbx.api]`: the same validation the recorder does at start (tokens, leg_dirs, limits).
    match cfg.api_settings() {
        Ok(Some(api)) => {
            for note in &api.notes {
                eprintln!("{}: note: {note}", cfg.path.display());
            }
        }
        Ok(None) => {}
        Err(errs) => out.extend(errs),
    }
    out
}

/// A folder target's base folder must exist now: the uploader never creates it (a missing
/// mount point must not fill the local disk), so a typo would hold every set in the spool.
fn check_folders(cfg: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for (i, t) in cfg.targets.iter().enumerate() {
        if t.kind != "folder" {
            continue;
        }
        let Some(p) = t.path.as_ref().filter(|p| !p.as_os_str().is_empty()) else { continue };
        let path = cfg.resolve_path(p);
        if !path.is_dir() {
            out.push(cfg.error_at(
                &format!("targets[{i}].path"),
                format!("{} is not an existing folder: create it, or mount what should be there", path.display()),
            ));
        }
    }
    out
}

/// The kernel's ephemeral port range, where outgoing connections get their local port.
fn ephemeral_ports() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse().ok());
    Some((it.next()??, it.next()??))
}
