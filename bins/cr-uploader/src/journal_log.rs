//! Delivery state kept twice: in the spool's own files (what decides whether a set may
//! leave the spool, next to the set on the same file system) and in the journal (what
//! `crctl status` and `crctl search` show, and what auditors query). The spool files stay
//! authoritative: a journal that cannot be written is logged, never a reason to hold back or
//! redo a delivery.

use chrono::{DateTime, Utc};
use cr_journal::Journal;
use cr_storage::{DeliveryLog, DeliveryState, FileDeliveryLog, SpoolError};

/// [`FileDeliveryLog`] mirrored into the journal's uploads table.
pub struct JournalDeliveryLog {
    files: FileDeliveryLog,
    journal: Journal,
}

impl JournalDeliveryLog {
    /// Both logs.
    pub fn new(files: FileDeliveryLog, journal: Journal) -> Self {
        Self { files, journal }
    }
}

impl DeliveryLog for JournalDeliveryLog {
    fn record_attempt(&mut self, set: &str, target: &str, at: DateTime<Utc>) -> Result<(), SpoolError> {
        self.files.record_attempt(set, target, at)
    }

    fn record_success(
        &mut self,
        set: &str,
        target: &str,
        at: DateTime<Utc>,
        location: &str,
        dir: &[String],
    ) -> Result<(), SpoolError> {
        self.files.record_success(set, target, at, location, dir)?;
        if let Err(e) = self.journal.upload_done(set, target, location, dir, at) {
            tracing::warn!(set, target, "delivered, but the journal could not record it: {e}");
        }
        Ok(())
    }

    fn record_failure(&mut self, set: &str, target: &str, at: DateTime<Utc>, error: &str) -> Result<(), SpoolError> {
        self.files.record_failure(set, target, at, error)?;
        if let Err(e) = self.journal.upload_failed(set, target, error, at) {
            tracing::warn!(set, target, "the journal could not record a failed attempt: {e}");
        }
        Ok(())
    }

    fn state(&self, set: &str, target: &str) -> Result<DeliveryState, SpoolError> {
        self.files.state(set, target)
    }

    fn reopen(&mut self, set: &str, target: &str) -> Result<(), SpoolError> {
        self.files.reopen(set, target)?;
        if let Err(e) = self.journal.upload_reopened(set, target) {
            tracing::warn!(set, target, "the journal could not record that the set is to be delivered again: {e}");
        }
        Ok(())
    }
}
