//! [`Journal`]: the handle every process opens.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::JournalError;
use crate::model::{
    AuditEvent, AuditKind, CallId, CallRecord, ChainEntry, ChainLink, Membership, NewCall,
    NewRecording, RecordingInfo, SearchHit, SearchQuery, Status, Upload,
};
use crate::chain::Reservation;
use crate::store::SqlStore;
use crate::url::JournalUrl;

/// How a journal is opened.
#[derive(Clone)]
pub struct OpenOptions {
    pub(crate) create: bool,
    pub(crate) busy_timeout: Duration,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) password: Option<String>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("create", &self.create)
            .field("busy_timeout", &self.busy_timeout)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            create: true,
            busy_timeout: Duration::from_secs(30),
            password: None,
        }
    }
}

impl OpenOptions {
    /// The defaults: create the journal when missing, wait up to 30 s for a lock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Create the journal (and its schema) when the file does not exist. Default: `true`.
    /// Read-mostly tools (`crctl status`, `crctl search`) pass `false` so that a wrong
    /// `data_dir` gives [`JournalError::NotFound`] instead of an empty new journal.
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// How long to wait for another process's write lock before giving up with
    /// [`JournalError::Busy`]. Default: 30 s. Sealing holds the lock for the time it takes
    /// to write and sign the set's metadata and checksum file (milliseconds), so the
    /// default leaves a wide margin.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The database password for PostgreSQL (ignored by SQLite). Default: none. A
    /// password is never written in the journal URL (it is refused there): resolve it
    /// from an environment variable or a file and pass it here.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
}

/// The journal: one log database shared by every configuration and every process of an
/// installation (the recorder, the uploader, `crctl`).
///
/// A handle is `Send + Sync`; calls on one handle are serialized. Processes and threads
/// that open their own handles write concurrently; SQLite's write lock is waited for (up to
/// the busy timeout), never reported as `SQLITE_BUSY`.
///
/// Every time is passed in: the journal never reads the clock.
pub struct Journal {
    store: SqlStore,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("journal", &self.store.name())
            .finish()
    }
}

/// The next link of the chain, reserved inside an open write transaction.
///
/// While it lives, no other process or handle can seal a set (they wait), so its number
/// and previous hash stay valid. [`commit`](Self::commit) writes the link, the recording,
/// its files, its uploads and a `set_sealed` audit event in one transaction. Dropping it
/// without committing (an error while writing the set, or a crash) rolls everything back:
/// the number was never used and the next set gets it. So the chain has no gap and no
/// duplicate, provided that set files whose link is not in the journal are treated as
/// unsealed (see the crate docs, "The chain").
///
/// Do not call other methods of the same [`Journal`] handle from the thread holding the
/// reservation: they return [`JournalError::ReservationOpen`] instead of deadlocking.
pub struct ChainReservation<'a> {
    inner: Reservation<'a>,
}

impl std::fmt::Debug for ChainReservation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainReservation")
            .field("link", self.inner.link())
            .finish()
    }
}

impl ChainReservation<'_> {
    /// The reserved sequence number and the previous set's checksum hash, to be written
    /// into the set's metadata.
    pub fn link(&self) -> &ChainLink {
        self.inner.link()
    }

    /// Commits the link with the SHA-256 (hex) of this set's checksum file, and records the
    /// sealed set: recording row, files, one `pending` upload per target, audit event
    /// `set_sealed`. `rec.set_id` must be the id the link was reserved for, and `rec.call`
    /// a call recorded with [`Journal::record_call`].
    pub fn commit(
        self,
        checksum_sha256: &str,
        rec: &NewRecording,
    ) -> Result<ChainEntry, JournalError> {
        self.inner.commit(checksum_sha256, rec)
    }

    /// Commits only the link (and a `set_sealed` audit event), for sets that are not
    /// recordings of this installation's calls (e.g. `crctl seal` of files a PBX wrote).
    pub fn commit_link(self, checksum_sha256: &str) -> Result<ChainEntry, JournalError> {
        self.inner.commit_link(checksum_sha256)
    }
}

impl Journal {
    /// Opens the journal named by `[journal] url`; relative SQLite paths are relative to
    /// `data_dir`. See [`JournalUrl::parse`] for the accepted forms.
    pub fn open_url(url: &str, data_dir: &Path, opts: &OpenOptions) -> Result<Self, JournalError> {
        match JournalUrl::parse(url, data_dir)? {
            JournalUrl::Sqlite(path) => Self::open_sqlite(&path, opts),
            JournalUrl::SqliteMemory => Self::open_in_memory(),
            #[cfg(feature = "postgres")]
            JournalUrl::Postgres(url) => Self::open_postgres(&url, opts),
        }
    }

    /// Opens (and creates or migrates) an SQLite journal file.
    pub fn open_sqlite(path: &Path, opts: &OpenOptions) -> Result<Self, JournalError> {
        Ok(Self {
            store: crate::sqlite::open(Some(path), opts)?,
        })
    }

    /// Opens (and creates or migrates) a PostgreSQL journal (feature `postgres`). The
    /// database must exist; `OpenOptions::create(false)` refuses one without callrec's
    /// tables. The busy timeout becomes the session's `lock_timeout`.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, opts: &OpenOptions) -> Result<Self, JournalError> {
        Ok(Self {
            store: crate::pg::open(url, opts)?,
        })
    }

    /// A journal in memory, gone when the handle is dropped (tests, examples).
    pub fn open_in_memory() -> Result<Self, JournalError> {
        Ok(Self {
            store: crate::sqlite::open(None, &OpenOptions::default())?,
        })
    }

    /// The journal's path (or URL), as used in messages.
    pub fn name(&self) -> &str {
        self.store.name()
    }

    /// The schema version of the database (the number of migrations applied).
    pub fn schema_version(&self) -> Result<i64, JournalError> {
        self.store.schema_version()
    }

    // ----- calls -------------------------------------------------------------------

    /// Records a call and the decision about it — recorded or not. The caller's and
    /// callee's digits are stored normalized for [`search`](Self::search).
    pub fn record_call(&self, call: &NewCall) -> Result<CallId, JournalError> {
        let ids = self.store.record_calls(std::slice::from_ref(call), false)?;
        ids.first().copied().ok_or_else(|| JournalError::Invalid {
            what: "call",
            value: call.pbx_call_id.clone(),
            reason: "the store returned no id".to_owned(),
        })
    }

    /// Records several calls as [`record_call`](Self::record_call) does, in one
    /// transaction: one disk sync for all, so a recorder that many calls reach at once
    /// decides them at the disk's pace per batch, not per call. A call not recorded is
    /// ended at its start. The ids come in the order of `calls`; on an error none is kept.
    pub fn record_calls(&self, calls: &[NewCall]) -> Result<Vec<CallId>, JournalError> {
        self.store.record_calls(calls, true)
    }

    /// Marks a call ended. Ending an ended call keeps the first end time.
    pub fn end_call(&self, id: CallId, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.store.end_call(id, at)
    }

    /// One call.
    pub fn call(&self, id: CallId) -> Result<Option<CallRecord>, JournalError> {
        self.store.call(id)
    }

    /// Recorded calls that started and have not ended (after a crash: the calls whose legs
    /// the recorder must recover), oldest first.
    pub fn open_calls(&self) -> Result<Vec<CallRecord>, JournalError> {
        self.store.open_calls()
    }

    // ----- the chain and sealed sets -------------------------------------------------

    /// Reserves the next chain link for set `set_id`, waiting while another process or
    /// handle holds a reservation. `at` becomes the seal time. See [`ChainReservation`].
    pub fn reserve_link(
        &self,
        set_id: &str,
        at: DateTime<Utc>,
    ) -> Result<ChainReservation<'_>, JournalError> {
        Ok(ChainReservation {
            inner: self.store.reserve_link(set_id, at)?,
        })
    }

    /// Seals with a closure: reserves the link, calls `seal(&link)` — which writes the
    /// set's metadata (with `link.seq` and `link.prev_sha256`), checksum file and
    /// signature, and returns the checksum file's SHA-256 and the recording — and commits.
    /// When `seal` fails nothing is committed and its error is returned.
    pub fn seal_with<E: From<JournalError>>(
        &self,
        set_id: &str,
        at: DateTime<Utc>,
        seal: impl FnOnce(&ChainLink) -> Result<(String, NewRecording), E>,
    ) -> Result<ChainEntry, E> {
        let res = self.reserve_link(set_id, at)?;
        let (sha, rec) = seal(res.link())?;
        Ok(res.commit(&sha, &rec)?)
    }

    /// The last committed link.
    pub fn chain_head(&self) -> Result<Option<ChainEntry>, JournalError> {
        self.store.chain_head()
    }

    /// Up to `limit` committed links from sequence number `from_seq` on, in order.
    pub fn chain(&self, from_seq: u64, limit: u32) -> Result<Vec<ChainEntry>, JournalError> {
        self.store.chain(from_seq, limit)
    }

    /// Everything about one sealed set: `None` when the journal has no such set (files of a
    /// set that is not here were never sealed).
    pub fn recording(&self, set_id: &str) -> Result<Option<RecordingInfo>, JournalError> {
        self.store.recording(set_id)
    }

    /// The set sealed for PBX call id `pbx_call_id`, if any (a call id is recorded once:
    /// the ingest API refuses a second one).
    pub fn set_of_pbx_call(&self, pbx_call_id: &str) -> Result<Option<String>, JournalError> {
        self.store.set_of_pbx_call(pbx_call_id)
    }

    /// Records where the set lies now (the spool directory).
    pub fn set_location(&self, set_id: &str, location: &str) -> Result<(), JournalError> {
        self.store.set_location(set_id, location)
    }

    /// Records that the local copy of a set was deleted (after delivery, or at the end of
    /// retention), with audit event `set_deleted`.
    pub fn set_deleted(
        &self,
        set_id: &str,
        at: DateTime<Utc>,
        actor: &str,
        reason: &str,
    ) -> Result<(), JournalError> {
        self.store.set_deleted(set_id, at, actor, reason)
    }

    // ----- uploads -------------------------------------------------------------------

    /// Uploads in state `pending`, oldest first, of one target or of all.
    pub fn pending_uploads(&self, target: Option<&str>) -> Result<Vec<Upload>, JournalError> {
        self.store.pending_uploads(target)
    }

    /// Queues a delivery of a sealed set to a target (again): a new upload, or a `failed`
    /// one back to `pending`. A `pending` or `done` upload stays as it is.
    pub fn queue_upload(
        &self,
        set_id: &str,
        target: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.store.queue_upload(set_id, target, at)
    }

    /// Records a failed attempt; the upload stays `pending` and is tried again.
    pub fn upload_failed(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.store
            .upload_attempt_failed(set_id, target, error, at, false)
    }

    /// Records a failed attempt after which the uploader gives up: state `failed`, shown
    /// by `crctl status` until an operator queues it again.
    pub fn upload_given_up(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.store
            .upload_attempt_failed(set_id, target, error, at, true)
    }

    /// Records a delivery (state `done`, the remote path, audit event `set_delivered`) and
    /// returns how many targets of the set are still undelivered: at 0 the local copy may
    /// be deleted.
    pub fn upload_done(
        &self,
        set_id: &str,
        target: &str,
        remote_path: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, JournalError> {
        self.store.upload_done(set_id, target, remote_path, at)
    }

    // ----- membership ----------------------------------------------------------------

    /// Records that `user` logged in (`active`) or out of `group`, with audit event
    /// `membership_changed`; returns the state before (`None`: never changed at run time).
    /// The journal does not know the directory: check group and user against the
    /// configuration first.
    pub fn set_membership(
        &self,
        group: &str,
        user: &str,
        active: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<bool>, JournalError> {
        self.store.set_membership(group, user, active, actor, at)
    }

    /// Every membership state changed at run time, by group and user. The recorder
    /// applies these over the configuration's `members` / `inactive` at start.
    pub fn memberships(&self) -> Result<Vec<Membership>, JournalError> {
        self.store.memberships()
    }

    /// A number that grows with every membership change (0: none yet). A process polls it
    /// cheaply and reloads [`memberships`](Self::memberships) when it changed.
    pub fn membership_stamp(&self) -> Result<i64, JournalError> {
        self.store.membership_stamp()
    }

    // ----- audit ---------------------------------------------------------------------

    /// Writes an audit event; `details` should be a JSON object. Returns its id. Events
    /// for sealing, delivery, deletion and membership are written by the methods that do
    /// those; call this for `KeyCreated`, `ConfigLoaded` and the like.
    pub fn audit(
        &self,
        kind: &AuditKind,
        at: DateTime<Utc>,
        actor: Option<&str>,
        set_id: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<i64, JournalError> {
        self.store.audit(kind, at, actor, set_id, details)
    }

    /// Up to `limit` audit events with an id above `after_id`, oldest first.
    pub fn audit_events(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>, JournalError> {
        self.store.audit_events(after_id, limit)
    }

    // ----- queries -------------------------------------------------------------------

    /// Active calls, backlog per target and the `error_limit` most recent errors of
    /// undelivered uploads; ages are computed against `now`.
    pub fn status(&self, now: DateTime<Utc>, error_limit: u32) -> Result<Status, JournalError> {
        self.store.status(now, error_limit)
    }

    /// Recordings whose caller or callee matches the number (see
    /// [`numbers_match`](crate::numbers_match)) and that started in `[from, to)`, oldest
    /// first, with their delivery per target.
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, JournalError> {
        self.store.search(q)
    }
}
