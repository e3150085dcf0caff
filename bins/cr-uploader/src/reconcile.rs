//! The scheduled reconciliation inside the uploader (`[reconcile]`, issue 15): every
//! `interval` the PBX's CDR file is reconciled against the journal as `crctl reconcile`
//! does; when a call is MISSING or SHORT, or a row cannot be read, the report is mailed
//! through `[notify]` (and logged at WARN either way).

use std::time::{Duration, Instant};

use cr_reconcile::Schedule;
use cr_storage::Mailer;
use tracing::{error, info, warn};

/// The schedule and when the next run is due.
pub(crate) struct Reconciliations {
    schedule: Schedule,
    /// `None`: now (the first run follows the first delivery pass).
    next: Option<Instant>,
}

impl Reconciliations {
    pub(crate) fn new(schedule: Schedule) -> Self {
        Self { schedule, next: None }
    }

    pub(crate) fn due(&self, now: Instant) -> bool {
        self.next.is_none_or(|t| now >= t)
    }

    pub(crate) fn until_due(&self, now: Instant) -> Duration {
        self.next.map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    /// Runs one reconciliation now and schedules the next; returns whether it found a
    /// problem (or could not run).
    pub(crate) fn run(&mut self, cfg: &cr_config::Config, mailer: Option<&Mailer>) -> bool {
        self.next = Some(Instant::now() + self.schedule.interval);
        let file = self.schedule.job.cdr.display().to_string();
        let result = cr_journal::Journal::open_url(&cfg.journal.url, &cfg.installation.data_dir, &cr_journal::OpenOptions::new())
            .map_err(cr_reconcile::RunError::from)
            .and_then(|j| cr_reconcile::run(cfg, &j, &self.schedule.job));
        let (subject, body) = match result {
            Ok(report) => {
                let s = &report.summary;
                if !report.has_problems() {
                    info!(file = %file, calls = s.calls, "reconciliation: every call as the policy says");
                    return false;
                }
                warn!(file = %file, calls = s.calls, missing = s.missing, short = s.short, bad_rows = s.bad_rows, "reconciliation found problems");
                (
                    format!("{} MISSING, {} SHORT, {} bad rows", s.missing, s.short, s.bad_rows),
                    format!("Reconciliation of the PBX's call records {file} against the journal found problems.\n\n{}", report.text(&file, false)),
                )
            }
            Err(e) => {
                error!(file = %file, "reconciliation could not run: {e}");
                ("could not run".to_owned(), format!("Reconciliation of the PBX's call records {file} could not run: {e}\n"))
            }
        };
        if let Some(m) = mailer {
            let subject = format!("[callrec {}] reconciliation: {subject}", m.module_id());
            if let Err(e) = m.send_text(&subject, body) {
                error!("could not send the reconciliation mail: {e}");
            }
        }
        true
    }
}
