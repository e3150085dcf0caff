//! `GET /v1/health`: whether the recorder can take a call now, and why not, for a PBX or a
//! load balancer to read (docs/reference.md "Health").

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{PORTS_PER_CALL, Recorder, lock};

/// The health answer's body.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Whether a call can be recorded now (every check passed).
    pub can_record: bool,
    /// Each check.
    pub checks: Checks,
    /// The failed checks' messages, joined by `; ` (absent when healthy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The checks of [`Health`].
#[derive(Debug, Serialize)]
pub struct Checks {
    /// The journal answers.
    pub journal: Check,
    /// The spool is writable and has `[pbx] min_spool_free_percent` free.
    pub spool: SpoolCheck,
    /// RTP ports for one more call (SIPREC only; absent without `[pbx.siprec]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtp_ports: Option<PortsCheck>,
}

/// One check.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Passed.
    pub ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The spool check.
#[derive(Debug, Serialize)]
pub struct SpoolCheck {
    /// Passed.
    pub ok: bool,
    /// Free space on its file system, percent (absent when it cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_percent: Option<f64>,
    /// The floor, `[pbx] min_spool_free_percent`.
    pub min_free_percent: f64,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The RTP port check.
#[derive(Debug, Serialize)]
pub struct PortsCheck {
    /// Passed.
    pub ok: bool,
    /// Even ports of `rtp_ports` free now.
    pub free: u64,
    /// Even ports of `rtp_ports`.
    pub total: u64,
    /// Ports one call needs.
    pub needed: u64,
}

impl Recorder {
    /// Every check of `/v1/health`.
    pub fn health(&self) -> Health {
        let mut problems = Vec::new();
        let rtp_ports = self.metrics.siprec.get().map(|s| {
            let free = s.rtp_ports_free.load(Ordering::Relaxed);
            let total = s.rtp_ports_total.load(Ordering::Relaxed);
            let ok = free >= PORTS_PER_CALL;
            if !ok {
                problems.push(format!("no RTP ports for a call: {free} of {total} free in rtp_ports, a call needs {PORTS_PER_CALL}"));
            }
            PortsCheck { ok, free, total, needed: PORTS_PER_CALL }
        });
        let journal = match lock(&self.journal).schema_version() {
            Ok(_) => Check { ok: true, error: None },
            Err(e) => {
                problems.push(format!("journal: {e}"));
                Check { ok: false, error: Some(e.to_string()) }
            }
        };
        let spool = self.spool_check();
        if let Some(e) = &spool.error {
            problems.push(e.clone());
        }
        let can_record = problems.is_empty();
        Health {
            status: if can_record { "ok" } else { "unavailable" },
            can_record,
            checks: Checks { journal, spool, rtp_ports },
            error: (!can_record).then(|| problems.join("; ")),
        }
    }

    fn spool_check(&self) -> SpoolCheck {
        let min = self.cfg.pbx.min_spool_free_percent;
        let root = self.spool.root();
        let probe = root.join(".health");
        let written = std::fs::write(&probe, b"ok");
        let _ = std::fs::remove_file(&probe);
        let free = self.spool.free_percent().ok();
        let error = match (written, free) {
            (Err(e), _) => Some(format!("spool {}: {e}", root.display())),
            (Ok(()), Some(f)) if f < min => Some(format!(
                "spool {}: {f:.1}% free, below [pbx] min_spool_free_percent ({min})",
                root.display()
            )),
            _ => None,
        };
        SpoolCheck { ok: error.is_none(), free_percent: free, min_free_percent: min, error }
    }
}
