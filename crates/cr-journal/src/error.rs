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
    /// A hold or four-eyes rule refuses the change; nothing was written (see [`Refusal`]).
    #[error("{0}")]
    Rule(#[from] Refusal),
}

/// Why a hold or four-eyes operation was refused. [`is_rule`](Self::is_rule) tells the
/// refusals that protect recordings (the four-eyes rule, a legal hold) from those that
/// only say the change was already made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The operator who made a request tried to approve it: a different one must.
    #[error("request {request} was made by {operator}; a different supervisor must approve it")]
    OwnRequest {
        /// The request.
        request: i64,
        /// The operator who made it and tried to approve it.
        operator: String,
    },
    /// The set is under a standing legal hold and may not be deleted.
    #[error("set {set_id} is under legal hold (case {case}); release the hold first")]
    Held {
        /// The set.
        set_id: String,
        /// The case of the (first placed) hold that covers it.
        case: String,
    },
    /// The request was approved already (and perhaps carried out).
    #[error("request {request} is not pending: it was approved by {approved_by}")]
    NotPending {
        /// The request.
        request: i64,
        /// Who approved it.
        approved_by: String,
    },
    /// A standing hold of the same case exists; release it or choose another case name.
    #[error("case {case} already has a standing hold (placed by {placed_by})")]
    CaseStanding {
        /// The case.
        case: String,
        /// Who placed the standing hold.
        placed_by: String,
    },
    /// The same change was requested before (and is pending, approved or done).
    #[error("{what} was requested already (request {request})")]
    AlreadyRequested {
        /// The pending request.
        request: i64,
        /// What it asks for, e.g. `deletion of set "X"`.
        what: String,
    },
}

impl Refusal {
    /// True for the refusals that protect recordings — the four-eyes rule
    /// ([`OwnRequest`](Self::OwnRequest)) and a legal hold ([`Held`](Self::Held)); false
    /// for those that say the change is already made or asked for.
    pub fn is_rule(&self) -> bool {
        matches!(self, Refusal::OwnRequest { .. } | Refusal::Held { .. })
    }
}
