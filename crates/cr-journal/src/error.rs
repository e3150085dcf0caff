//! The journal's error type.

/// A boxed error from the storage backend (SQLite today, PostgreSQL later).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong with the journal. Every variant names the journal (its path or URL)
/// and what was being done, so an operator can act on the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// `[journal] url` names a backend that is not built yet (PostgreSQL).
    #[error(
        "journal url {url:?}: {backend} is not supported yet by this build (cr-journal feature `postgres`); use \"sqlite:journal.sqlite\" (a file in data_dir) or \"sqlite:/absolute/path\""
    )]
    Unsupported {
        /// The URL as configured.
        url: String,
        /// The backend it names.
        backend: &'static str,
    },
    /// `[journal] url` cannot be understood.
    #[error("journal url {url:?} is not valid: {reason}")]
    BadUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The journal file does not exist and creating it was not asked for.
    #[error("there is no journal at {path} (has cr-recorder run with this configuration?)")]
    NotFound {
        /// The file looked for.
        path: String,
    },
    /// The journal could not be opened or prepared (permissions, missing directory,
    /// not a database, disk full).
    #[error("cannot open the journal {journal}: {source}")]
    Open {
        /// Path or URL of the journal.
        journal: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The journal was written by a newer callrec whose schema this program does not know.
    #[error(
        "the journal {journal} has schema version {found}, newer than this program knows ({known}): upgrade callrec before using it"
    )]
    SchemaTooNew {
        /// Path or URL of the journal.
        journal: String,
        /// Version found in the file.
        found: i64,
        /// Newest version this program knows.
        known: i64,
    },
    /// Another process held the journal's write lock longer than the busy timeout.
    #[error(
        "the journal {journal} stayed locked by another process for longer than the busy timeout while trying to {op}; is a callrec process hanging?"
    )]
    Busy {
        /// Path or URL of the journal.
        journal: String,
        /// What was being done.
        op: &'static str,
    },
    /// A database operation failed.
    #[error("journal {journal}: cannot {op}: {source}")]
    Db {
        /// Path or URL of the journal.
        journal: String,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A row the operation refers to does not exist.
    #[error("journal {journal}: {what} not found")]
    Missing {
        /// Path or URL of the journal.
        journal: String,
        /// What was looked for, e.g. `recording set "X"`.
        what: String,
    },
    /// A value handed to the journal is not acceptable.
    #[error("journal: {what} {value:?} is not valid: {reason}")]
    Invalid {
        /// Which value, e.g. `set id`.
        what: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The journal holds a value this program cannot read (a corrupted or hand-edited row).
    #[error(
        "journal {journal}: stored {what} {value:?} cannot be read; was the database edited by hand?"
    )]
    Corrupt {
        /// Path or URL of the journal.
        journal: String,
        /// Which value.
        what: &'static str,
        /// The stored value.
        value: String,
    },
    /// The operation is not allowed: a wrong operator name or password, a role that does
    /// not allow it, the four-eyes rule. Nothing was changed.
    #[error("refused: {reason}")]
    Refused {
        /// Why, in words an operator can act on (never a password).
        reason: String,
    },
    /// The same thread called the journal while it holds an open chain reservation on the
    /// same handle; that would deadlock. Use a second handle or finish the reservation.
    #[error(
        "journal {journal}: this thread holds an open chain reservation on this handle; commit or drop it first (or open a second Journal)"
    )]
    ReservationOpen {
        /// Path or URL of the journal.
        journal: String,
    },
}
