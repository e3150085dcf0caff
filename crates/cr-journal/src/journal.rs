//! [`Journal`]: the handle every process opens.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::JournalError;
use crate::model::{ChainEntry, ChainLink, NewRecording};
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
    pub(crate) store: SqlStore,
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
    pub(crate) inner: Reservation<'a>,
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

    /// Commits the link with a set of the chain that records no call: a deletion receipt
    /// (audit event `receipt_sealed`; the set it names is marked deleted in the same
    /// transaction, with audit event `set_deleted` naming the receipt) or an audit
    /// checkpoint (audit event `audit_checkpoint`). Files and one `pending` upload per
    /// target are recorded as for a recording.
    pub fn commit_chain_set(
        self,
        checksum_sha256: &str,
        set: &crate::NewChainSet,
    ) -> Result<ChainEntry, JournalError> {
        self.inner.commit_chain_set(checksum_sha256, set)
    }

    /// Commits the link with a decision-log set ([`SetKind::DecisionLog`](crate::SetKind))
    /// and marks the decision-log entries `entries` sealed in it, in the same transaction
    /// (audit event `decision_log_sealed`). An entry that is sealed already or unknown
    /// refuses the commit (nothing is committed): every entry is sealed exactly once.
    pub fn commit_decision_log(
        self,
        checksum_sha256: &str,
        set: &crate::NewChainSet,
        entries: &[u64],
    ) -> Result<ChainEntry, JournalError> {
        self.inner.commit_decision_log(checksum_sha256, set, entries)
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

}
