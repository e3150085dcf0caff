//! The interface every storage backend implements. SQLite is the one backend today;
//! PostgreSQL (several recorder nodes sharing one journal) implements the same trait.

use chrono::{DateTime, Utc};

use crate::error::JournalError;
use crate::model::{
    AuditEvent, AuditKind, CallId, CallRecord, ChainEntry, ChainLink, Membership, NewCall,
    NewRecording, RecordingInfo, SearchHit, SearchQuery, Status, Upload,
};

/// A storage backend. The semantics of each method are documented on
/// [`Journal`](crate::Journal), which forwards to it.
pub(crate) trait Store: Send + Sync {
    fn name(&self) -> &str;
    fn schema_version(&self) -> Result<i64, JournalError>;

    /// All in one transaction; `end_declined`: calls not recorded get `ended_at = started_at`.
    fn record_calls(&self, calls: &[NewCall], end_declined: bool) -> Result<Vec<CallId>, JournalError>;
    fn end_call(&self, id: CallId, at: DateTime<Utc>) -> Result<(), JournalError>;
    fn call(&self, id: CallId) -> Result<Option<CallRecord>, JournalError>;
    fn open_calls(&self) -> Result<Vec<CallRecord>, JournalError>;

    fn reserve_link<'a>(
        &'a self,
        set_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Box<dyn Reservation + 'a>, JournalError>;
    fn chain_head(&self) -> Result<Option<ChainEntry>, JournalError>;
    fn chain(&self, from_seq: u64, limit: u32) -> Result<Vec<ChainEntry>, JournalError>;
    fn recording(&self, set_id: &str) -> Result<Option<RecordingInfo>, JournalError>;
    fn set_of_pbx_call(&self, pbx_call_id: &str) -> Result<Option<String>, JournalError>;

    fn pending_uploads(&self, target: Option<&str>) -> Result<Vec<Upload>, JournalError>;
    fn queue_upload(
        &self,
        set_id: &str,
        target: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;
    fn upload_attempt_failed(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<(), JournalError>;
    fn upload_done(
        &self,
        set_id: &str,
        target: &str,
        remote_path: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, JournalError>;
    fn set_location(&self, set_id: &str, location: &str) -> Result<(), JournalError>;
    fn set_deleted(
        &self,
        set_id: &str,
        at: DateTime<Utc>,
        actor: &str,
        reason: &str,
    ) -> Result<(), JournalError>;

    fn set_membership(
        &self,
        group: &str,
        user: &str,
        active: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<bool>, JournalError>;
    fn memberships(&self) -> Result<Vec<Membership>, JournalError>;
    fn membership_stamp(&self) -> Result<i64, JournalError>;

    fn audit(
        &self,
        kind: &AuditKind,
        at: DateTime<Utc>,
        actor: Option<&str>,
        set_id: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<i64, JournalError>;
    fn audit_events(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>, JournalError>;

    fn status(&self, now: DateTime<Utc>, error_limit: u32) -> Result<Status, JournalError>;
    fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, JournalError>;
}

/// An open reservation of the next chain link (see [`ChainReservation`](crate::ChainReservation)).
pub(crate) trait Reservation {
    fn link(&self) -> &ChainLink;
    fn commit_link(self: Box<Self>, checksum_sha256: &str) -> Result<ChainEntry, JournalError>;
    fn commit(
        self: Box<Self>,
        checksum_sha256: &str,
        rec: &NewRecording,
    ) -> Result<ChainEntry, JournalError>;
}

/// The details of the `set_sealed` audit event, the same for every backend.
pub(crate) fn sealed_details(entry: &ChainEntry, rec: &NewRecording) -> serde_json::Value {
    serde_json::json!({
        "seq": entry.seq,
        "prev_sha256": entry.prev_sha256,
        "sha256": entry.sha256,
        "configuration": rec.configuration,
        "call": rec.call.0,
        "files": rec.files.len(),
        "flags": rec.flags,
        "targets": rec.targets,
    })
}

/// What every backend checks of a call before storing it.
pub(crate) fn check_new_call(call: &NewCall) -> Result<(), JournalError> {
    if call.record && call.configuration.is_none() {
        return Err(JournalError::Invalid {
            what: "call decision",
            value: call.pbx_call_id.clone(),
            reason: "a recorded call must name its configuration".to_owned(),
        });
    }
    Ok(())
}

/// The diversions column: a JSON array of the numbers.
pub(crate) fn diversions_json(call: &NewCall) -> String {
    serde_json::Value::from(call.diversions.clone()).to_string()
}
