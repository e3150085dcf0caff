//! # cr-journal
//!
//! The log database of a callrec installation, shared by all recording configurations
//! (SPEC S1) and by every process: the recorder writes calls, decisions and sealed sets;
//! the uploader writes deliveries; `crctl` changes membership state and reads status and
//! search results. SQLite (bundled, WAL mode, busy timeout, versioned migrations) is the
//! default backend; with the feature `postgres`, `postgresql://` URLs open a PostgreSQL
//! journal that several recorder nodes share. Every operation is written once, in one SQL
//! dialect, over a small connection trait that each backend implements (connecting, the
//! schema version, the kinds of transaction, error mapping); the same tests run against
//! both.
//!
//! What it holds:
//! - **calls**: PBX call id, direction, caller, callee, diversions, start/end, the decision
//!   (recorded or not, configuration, reason) — also for calls deliberately not recorded;
//! - **recordings** (sealed sets): configuration, call, start/end, channel mode, files with
//!   size and SHA-256, certificate fingerprint, flags such as `recovered`, where the set
//!   lies, and its **chain** link;
//! - **uploads** per (set, target): `pending` / `done` / `failed`, attempts, last error,
//!   remote path;
//! - **membership state** changed at run time (S6), and **audit events**;
//! - each set's **expiry** (`expires_at`, fixed at sealing; [`Journal::extend_retention`]
//!   lengthens it, never shortens it).
//! - **legal holds** (by set or by party) and **four-eyes requests** (deleting a set,
//!   releasing a hold) that a second operator approves ([`Journal::place_hold`],
//!   [`Journal::approve`], [`Journal::hold_of`]).
//! - **deletions** per (set, target) of the deletion pass, and the chain's other sets:
//!   deletion receipts and audit checkpoints ([`NewChainSet`]);
//! - the **decision log**: every call not recorded and every call that failed to record,
//!   until a `decision-log` set seals it ([`Journal::unsealed_decisions`],
//!   [`ChainReservation::commit_decision_log`]).
//!
//! Every time is passed in as a `DateTime<Utc>`: the journal never reads the clock.
//!
//! ## The chain
//!
//! Every sealed set's metadata carries the installation's sequence number and the SHA-256
//! of the previous set's checksum file (64 zeros for the first set). The journal holds the
//! head. [`Journal::reserve_link`] opens a write transaction (`BEGIN IMMEDIATE`) and reads
//! the head; the recorder writes the metadata, checksum file and signature while holding
//! it; [`ChainReservation::commit`] stores the new link together with the recording in the
//! same transaction. Concurrent sealings — threads or processes — wait for each other, so
//! numbers are handed out 1, 2, 3... with each `prev_sha256` equal to the hash committed
//! just before.
//!
//! A crash between reserve and commit rolls the transaction back: the number was never
//! taken and the next set gets it, so the chain shows no gap. The set files written in the
//! meantime carry that number but no link in the journal: **a set is sealed when, and only
//! when, its link is committed.** The recorder writes the set under temporary names (or in a
//! staging directory), commits, then moves it into the spool; at start it deletes staged
//! sets that [`Journal::recording`] does not know and seals their legs again. Hash the
//! audio files before reserving, so that the lock is held only for writing and signing two
//! small files.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording, SearchQuery};
//!
//! let journal = Journal::open_in_memory()?;
//! let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
//! let call = journal.record_call(&NewCall {
//!     pbx_call_id: "a84b4c76e66710".into(),
//!     direction: Direction::Incoming,
//!     caller: "+49 30 999888".into(),
//!     callee: "300".into(),
//!     diversions: vec![],
//!     started_at: t0,
//!     record: true,
//!     configuration: Some("trading-desk".into()),
//!     reason: "incoming call to group trading (300)".into(),
//! })?;
//! let t1 = t0 + chrono::Duration::seconds(95);
//! journal.end_call(call, t1)?;
//!
//! // Seal: reserve the link, write it into the metadata, sign, commit.
//! let res = journal.reserve_link("20261126T090000Z-0001", t1)?;
//! assert_eq!(res.link().seq, 1);
//! assert_eq!(res.link().prev_sha256, cr_journal::GENESIS_SHA256);
//! let checksum_file_sha256 = "ab".repeat(32); // SHA-256 of 20261126T090000Z-0001.sha256
//! res.commit(&checksum_file_sha256, &NewRecording {
//!     set_id: "20261126T090000Z-0001".into(),
//!     call,
//!     configuration: "trading-desk".into(),
//!     started_at: t0,
//!     ended_at: t1,
//!     channels: "stereo".into(),
//!     files: vec![FileEntry { name: "20261126T090000Z-0001.wav".into(), size: 1_520_044, sha256: "cd".repeat(32) }],
//!     cert_fingerprint: "ef".repeat(32),
//!     flags: vec![],
//!     location: "/var/lib/callrec/spool/20261126T090000Z-0001".into(),
//!     targets: vec!["nas".into()],
//!     expires_at: None,
//! })?;
//!
//! // The next set links to this one.
//! let res = journal.reserve_link("20261126T091500Z-0002", t1)?;
//! assert_eq!(res.link().seq, 2);
//! assert_eq!(res.link().prev_sha256, checksum_file_sha256);
//! drop(res); // abandoned: nothing is kept, number 2 is still free
//! assert_eq!(journal.chain_head()?.unwrap().seq, 1);
//!
//! // The uploader delivers; search finds the set by the caller's number in another form.
//! journal.upload_done("20261126T090000Z-0001", "nas", "Aufzeichnung/2026/11/26", &["2026".into(), "11".into(), "26".into()], t1)?;
//! let hits = journal.search(&SearchQuery { number: Some("030 999888".into()), ..Default::default() })?;
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].duration_ms, 95_000);
//! assert_eq!(hits[0].deliveries[0].remote_path.as_deref(), Some("Aufzeichnung/2026/11/26"));
//! # Ok::<(), cr_journal::JournalError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod chain;
mod db;
mod decision_log;
mod deletion;
mod error;
mod holds;
mod journal;
mod model;
mod number;
mod operators;
mod ops;
#[cfg(feature = "postgres")]
mod pg;
mod quality;
mod queries;
mod reconcile;
mod retention;
mod schema;
mod sqlite;
mod store;
mod timestamps;
mod totp;
mod url;

pub use audit::{AUDIT_PAGE_MAX, AuditCheck, AuditFilter, AuditHead, AuditPage, AuditProblem, AuditQuery, ChainedEvent, PageStart, SinceCheckpoint};
pub use error::{BoxError, JournalError, Refusal};
pub use holds::{
    ApprovedDeletion, CASE_MAX_CHARS, Hold, HoldScope, NewHold, Request, RequestKind,
};
pub use journal::{ChainReservation, Journal, OpenOptions};
pub use cr_types::QualityRecord;
pub use model::{
    ActiveCall, AuditEvent, AuditKind, CallId, CallRecord, ChainEntry, ChainLink, DeletedBy,
    Deletion, DeletionConfirmed, DeletionState, Delivery, Direction, FLAG_RECOVERED, FileEntry,
    GENESIS_SHA256, Membership, NewCall, NewChainSet, NewRecording, RecordingInfo, SearchFlag, SearchHit,
    SearchPage, SearchQuery, SetKind, Status, TargetBacklog, Upload, UploadError, UploadState,
};
pub use operators::{MIN_PASSWORD_CHARS, Operator, Role};
pub use number::{
    PART_MAX_DIGITS, PART_MIN_DIGITS, SUFFIX_MIN_DIGITS, normalize_number, number_found, number_parts, numbers_match,
};
pub use reconcile::{MembershipChange, RecordedCall};
pub use retention::Extension;
pub use totp::{TOTP_DIGITS, TOTP_STEP_SECS, TotpEnrollment, TotpRefusal, totp_code};
pub use url::JournalUrl;
