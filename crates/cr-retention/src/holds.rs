//! What the pass asks about holds and four-eyes deletion requests. The journal answers
//! once holds and requests are in it; until then [`NoHolds`] says there are none.

use chrono::{DateTime, Utc};
use cr_journal::JournalError;

/// A deletion request that a second supervisor approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedDeletion {
    /// The request number.
    pub request: i64,
    /// The set to delete.
    pub set_id: String,
    /// The reason given.
    pub reason: String,
    /// The supervisor who asked.
    pub requested_by: String,
    /// The other supervisor, who approved.
    pub approved_by: String,
    /// When it was approved.
    pub approved_at: DateTime<Utc>,
}

/// Holds and approved requests, as the pass needs them.
pub trait Holds {
    /// The case of a standing hold that covers `set_id`, if any.
    fn hold_of(&self, set_id: &str) -> Result<Option<String>, JournalError>;
    /// Approved deletion requests not carried out yet.
    fn approved_deletions(&self) -> Result<Vec<ApprovedDeletion>, JournalError>;
    /// Records that request `request` was carried out, with the receipt sealed for it.
    fn deletion_request_done(&self, request: i64, receipt_set_id: &str, at: DateTime<Utc>) -> Result<(), JournalError>;
}

/// No holds and no requests: an installation whose journal has neither.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHolds;

impl Holds for NoHolds {
    fn hold_of(&self, _set_id: &str) -> Result<Option<String>, JournalError> {
        Ok(None)
    }
    fn approved_deletions(&self) -> Result<Vec<ApprovedDeletion>, JournalError> {
        Ok(Vec::new())
    }
    fn deletion_request_done(&self, _request: i64, _receipt: &str, _at: DateTime<Utc>) -> Result<(), JournalError> {
        Ok(())
    }
}
