//! The values that go into the journal and come out of it.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The flag of a set that the recorder sealed from legs a crash left behind (S32).
pub const FLAG_RECOVERED: &str = "recovered";

pub use cr_types::GENESIS_SHA256;

/// What a set of the chain is: the workspace's one type for it.
pub use cr_types::SetKind;

/// Direction of a call (docs/reference.md §2): the workspace's one direction type.
pub use cr_types::Direction;

/// The journal's id of a call row (not the PBX's call id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CallId(pub i64);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A call as the recorder saw it and what the policy decided — also for calls that are
/// deliberately not recorded (then `record` is false and `reason` says why).
#[derive(Debug, Clone)]
pub struct NewCall {
    /// The PBX's own call id (SIP Call-ID, Asterisk uniqueid, ...).
    pub pbx_call_id: String,
    /// Direction.
    pub direction: Direction,
    /// Calling number as the PBX reported it.
    pub caller: String,
    /// Called number after diversions, as the PBX reported it.
    pub callee: String,
    /// Numbers dialled before the diversions, oldest first.
    pub diversions: Vec<String>,
    /// When the call started.
    pub started_at: DateTime<Utc>,
    /// The decision: recorded or not.
    pub record: bool,
    /// The configuration that records it (`None` when not recorded).
    pub configuration: Option<String>,
    /// The decision's reason (which rule matched, or why none did).
    pub reason: String,
}

/// A call row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CallRecord {
    /// Journal id.
    pub id: CallId,
    /// The PBX's call id.
    pub pbx_call_id: String,
    /// Direction.
    pub direction: Direction,
    /// Calling number as reported.
    pub caller: String,
    /// Called number as reported.
    pub callee: String,
    /// Diversions, oldest first.
    pub diversions: Vec<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once known.
    pub ended_at: Option<DateTime<Utc>>,
    /// Recorded or not.
    pub record: bool,
    /// Configuration that records it.
    pub configuration: Option<String>,
    /// Reason of the decision.
    pub reason: String,
}

/// One file of a recording set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// File name inside the set's directory (no directory part).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// A sealed recording set, handed to [`ChainReservation::commit`](crate::ChainReservation::commit).
#[derive(Debug, Clone)]
pub struct NewRecording {
    /// The set id (file stem of every file of the set).
    pub set_id: String,
    /// The call it records.
    pub call: CallId,
    /// The configuration that recorded it.
    pub configuration: String,
    /// Start of the audio.
    pub started_at: DateTime<Utc>,
    /// End of the audio.
    pub ended_at: DateTime<Utc>,
    /// Channel mode: `caller`, `callee`, `stereo` or `separate`.
    pub channels: String,
    /// Every file of the set (metadata, audio, checksum file, signature).
    pub files: Vec<FileEntry>,
    /// SHA-256 fingerprint of the certificate that verifies the signature.
    pub cert_fingerprint: String,
    /// Flags such as [`FLAG_RECOVERED`].
    pub flags: Vec<String>,
    /// Where the set lies now (the spool directory).
    pub location: String,
    /// The targets it must be delivered to; an upload row `pending` is queued for each.
    pub targets: Vec<String>,
    /// The end of its retention (from the call's start), as written in its signed
    /// metadata; `None` when no retention applies.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A link of the chain: the sequence number of a set and the SHA-256 of the previous set's
/// checksum file ([`GENESIS_SHA256`] for the first set). The workspace's one type for it
/// (the set metadata's `chain`).
pub use cr_types::ChainLink;

/// A committed link: the chain's head after a set was sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChainEntry {
    /// Sequence number.
    pub seq: u64,
    /// The set it belongs to.
    pub set_id: String,
    /// SHA-256 of the previous set's checksum file.
    pub prev_sha256: String,
    /// SHA-256 of this set's checksum file.
    pub sha256: String,
    /// When it was committed.
    pub committed_at: DateTime<Utc>,
}

/// Delivery state of a set to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadState {
    /// Not delivered yet; the uploader keeps trying.
    Pending,
    /// Delivered.
    Done,
    /// Given up (e.g. the target was removed); needs an operator.
    Failed,
}

impl UploadState {
    /// The stored form: `pending`, `done`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Pending => "pending",
            UploadState::Done => "done",
            UploadState::Failed => "failed",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(UploadState::Pending),
            "done" => Some(UploadState::Done),
            "failed" => Some(UploadState::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for UploadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One (set, target) delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Upload {
    /// The set.
    pub set_id: String,
    /// The target name.
    pub target: String,
    /// State.
    pub state: UploadState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Error of the last failed attempt (kept after success for the record).
    pub last_error: Option<String>,
    /// Time of the last attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Where the set lies on the target once delivered.
    pub remote_path: Option<String>,
    /// When the upload was queued.
    pub queued_at: DateTime<Utc>,
    /// When it was delivered.
    pub done_at: Option<DateTime<Utc>>,
    /// The directory below the target's base it was delivered into, segment by segment
    /// (as the target's `directory` template rendered it then); `None` for deliveries
    /// recorded before schema 4. The deletion pass deletes there.
    pub remote_dir: Option<Vec<String>>,
}

/// Membership state of a user in a group, as changed at run time (S6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Membership {
    /// Group id.
    pub group: String,
    /// User id.
    pub user: String,
    /// Logged in (true) or out (false).
    pub active: bool,
    /// When it last changed.
    pub changed_at: DateTime<Utc>,
    /// Who changed it (`crctl:alice`, `api`, `phone`...).
    pub changed_by: String,
}

/// Kinds of audit events. Serialized as the stored form (`set_sealed`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// The installation's key pair was created.
    KeyCreated,
    /// A process loaded the configuration.
    ConfigLoaded,
    /// A member logged in or out of a group.
    MembershipChanged,
    /// A recording set was sealed (chain link committed).
    SetSealed,
    /// A set reached a target.
    SetDelivered,
    /// A set was deleted (local copy after delivery, or retention).
    SetDeleted,
    /// A set's retention was lengthened (`crctl retention extend`): details `before`,
    /// `after`, `reason`.
    RetentionExtended,
    /// An operator account was created.
    OperatorAdded,
    /// An operator account was disabled.
    OperatorDisabled,
    /// A wrong operator name or password was given.
    LoginFailed,
    /// An operator tried something their role does not allow.
    AccessDenied,
    /// An operator searched the recordings.
    Searched,
    /// A disclosure package was written.
    Exported,
    /// A legal hold was placed (details: case, reason, scope, sets covered).
    HoldPlaced,
    /// A supervisor asked for a hold to be released (details: request, case).
    HoldReleaseRequested,
    /// A hold was released, on the approval of a second supervisor.
    HoldReleased,
    /// A supervisor asked for a set to be deleted (details: request, reason).
    DeletionRequested,
    /// A second supervisor approved a request (details: request, kind, requested_by).
    RequestApproved,
    /// Deleting a set at a target failed; the deletion stays pending (first failure only).
    DeletionPending,
    /// A deletion receipt was sealed into the chain.
    ReceiptSealed,
    /// The audit trail's head was sealed into the chain.
    AuditCheckpoint,
    /// A decision-log set was sealed into the chain (details: `entries`).
    DecisionLogSealed,
    /// An operator signed in to the web console (details: `via`).
    SignedIn,
    /// An operator signed out of the web console, or the session ended.
    SignedOut,
    /// A sign-in was refused without looking at the password: too many wrong ones.
    LoginLocked,
    /// An operator was let play a set in the web console (details: `files`, the audio files
    /// it may play, and `reason`, which the console requires).
    Played,
    /// An admin gave an operator a second factor (TOTP), or a new one (details: `operator`,
    /// `replaced`; never the secret).
    TotpEnrolled,
    /// An admin removed an operator's second factor (details: `operator`).
    TotpDisabled,
    /// A kind written by a newer program.
    Other(String),
}

impl AuditKind {
    /// Every kind this program writes (not [`AuditKind::Other`]), e.g. for a filter's choices.
    pub const KNOWN: &'static [AuditKind] = &[
        AuditKind::KeyCreated,
        AuditKind::ConfigLoaded,
        AuditKind::MembershipChanged,
        AuditKind::SetSealed,
        AuditKind::SetDelivered,
        AuditKind::SetDeleted,
        AuditKind::RetentionExtended,
        AuditKind::OperatorAdded,
        AuditKind::OperatorDisabled,
        AuditKind::LoginFailed,
        AuditKind::AccessDenied,
        AuditKind::Searched,
        AuditKind::Exported,
        AuditKind::HoldPlaced,
        AuditKind::HoldReleaseRequested,
        AuditKind::HoldReleased,
        AuditKind::DeletionRequested,
        AuditKind::RequestApproved,
        AuditKind::DeletionPending,
        AuditKind::ReceiptSealed,
        AuditKind::AuditCheckpoint,
        AuditKind::DecisionLogSealed,
        AuditKind::SignedIn,
        AuditKind::SignedOut,
        AuditKind::LoginLocked,
        AuditKind::Played,
        AuditKind::TotpEnrolled,
        AuditKind::TotpDisabled,
    ];

    /// The stored form, e.g. `set_sealed`.
    pub fn as_str(&self) -> &str {
        match self {
            AuditKind::KeyCreated => "key_created",
            AuditKind::ConfigLoaded => "config_loaded",
            AuditKind::MembershipChanged => "membership_changed",
            AuditKind::SetSealed => "set_sealed",
            AuditKind::SetDelivered => "set_delivered",
            AuditKind::SetDeleted => "set_deleted",
            AuditKind::RetentionExtended => "retention_extended",
            AuditKind::OperatorAdded => "operator_added",
            AuditKind::OperatorDisabled => "operator_disabled",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::AccessDenied => "access_denied",
            AuditKind::Searched => "searched",
            AuditKind::Exported => "exported",
            AuditKind::HoldPlaced => "hold_placed",
            AuditKind::HoldReleaseRequested => "hold_release_requested",
            AuditKind::HoldReleased => "hold_released",
            AuditKind::DeletionRequested => "deletion_requested",
            AuditKind::RequestApproved => "request_approved",
            AuditKind::DeletionPending => "deletion_pending",
            AuditKind::ReceiptSealed => "receipt_sealed",
            AuditKind::AuditCheckpoint => "audit_checkpoint",
            AuditKind::DecisionLogSealed => "decision_log_sealed",
            AuditKind::SignedIn => "signed_in",
            AuditKind::SignedOut => "signed_out",
            AuditKind::LoginLocked => "login_locked",
            AuditKind::Played => "played",
            AuditKind::TotpEnrolled => "totp_enrolled",
            AuditKind::TotpDisabled => "totp_disabled",
            AuditKind::Other(s) => s,
        }
    }

    /// Parses the stored form; unknown kinds become [`AuditKind::Other`].
    pub fn parse(s: &str) -> Self {
        match s {
            "key_created" => AuditKind::KeyCreated,
            "config_loaded" => AuditKind::ConfigLoaded,
            "membership_changed" => AuditKind::MembershipChanged,
            "set_sealed" => AuditKind::SetSealed,
            "set_delivered" => AuditKind::SetDelivered,
            "set_deleted" => AuditKind::SetDeleted,
            "retention_extended" => AuditKind::RetentionExtended,
            "operator_added" => AuditKind::OperatorAdded,
            "operator_disabled" => AuditKind::OperatorDisabled,
            "login_failed" => AuditKind::LoginFailed,
            "access_denied" => AuditKind::AccessDenied,
            "searched" => AuditKind::Searched,
            "exported" => AuditKind::Exported,
            "hold_placed" => AuditKind::HoldPlaced,
            "hold_release_requested" => AuditKind::HoldReleaseRequested,
            "hold_released" => AuditKind::HoldReleased,
            "deletion_requested" => AuditKind::DeletionRequested,
            "request_approved" => AuditKind::RequestApproved,
            "deletion_pending" => AuditKind::DeletionPending,
            "receipt_sealed" => AuditKind::ReceiptSealed,
            "audit_checkpoint" => AuditKind::AuditCheckpoint,
            "decision_log_sealed" => AuditKind::DecisionLogSealed,
            "signed_in" => AuditKind::SignedIn,
            "signed_out" => AuditKind::SignedOut,
            "login_locked" => AuditKind::LoginLocked,
            "played" => AuditKind::Played,
            "totp_enrolled" => AuditKind::TotpEnrolled,
            "totp_disabled" => AuditKind::TotpDisabled,
            other => AuditKind::Other(other.to_owned()),
        }
    }
}

impl Serialize for AuditKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// Increasing id.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Kind.
    pub kind: AuditKind,
    /// Who did it, when known.
    pub actor: Option<String>,
    /// The set concerned, if any.
    pub set_id: Option<String>,
    /// Details (JSON object).
    pub details: serde_json::Value,
}

/// A call that started and has not ended (recorded calls only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ActiveCall {
    /// Journal id.
    pub id: CallId,
    /// PBX call id.
    pub pbx_call_id: String,
    /// Direction.
    pub direction: Direction,
    /// Calling number.
    pub caller: String,
    /// Called number.
    pub callee: String,
    /// Configuration recording it.
    pub configuration: Option<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Seconds since start, at the `now` given to [`Journal::status`](crate::Journal::status).
    pub age_secs: i64,
}

/// Undelivered sets of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TargetBacklog {
    /// Target name.
    pub target: String,
    /// Uploads still being tried.
    pub pending: u64,
    /// Uploads given up.
    pub failed: u64,
    /// Queue time of the oldest pending or failed upload.
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Its age in seconds at `now`.
    pub oldest_age_secs: Option<i64>,
}

/// The last error of an upload that is not done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UploadError {
    /// The set.
    pub set_id: String,
    /// The target.
    pub target: String,
    /// State (`pending` or `failed`).
    pub state: UploadState,
    /// Attempts so far.
    pub attempts: u32,
    /// The error text.
    pub error: String,
    /// When the attempt failed.
    pub at: Option<DateTime<Utc>>,
}

/// What `crctl status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// Recorded calls started and not ended, oldest first.
    pub active_calls: Vec<ActiveCall>,
    /// One entry per target that has or had uploads, by name.
    pub backlog: Vec<TargetBacklog>,
    /// Most recent errors of undelivered uploads, newest first.
    pub last_errors: Vec<UploadError>,
    /// Number of sets sealed so far.
    pub recordings: u64,
    /// The chain's head.
    pub chain_head: Option<ChainEntry>,
    /// Deletions a target has not confirmed yet, oldest attempt first.
    pub pending_deletions: Vec<Deletion>,
}

/// A search for recordings (S33).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// A party number in any form; matched on digits (see [`normalize_number`](crate::normalize_number)).
    pub number: Option<String>,
    /// Only `exact` digit matches, no suffix matching (and no part: overrides `any_part`).
    pub exact: bool,
    /// Also find the parties whose digits contain the number's anywhere, when it has 3 or
    /// more digits (see [`number_found`](crate::number_found)): for finding a call by the
    /// digits someone remembers. Off by default, so that what acts on the sets found (an
    /// export, a retention extension) takes only the whole number's calls.
    pub any_part: bool,
    /// Recordings that started at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Recordings that started before this time (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// At most this many hits (none: all).
    pub limit: Option<u32>,
    /// Skip this many hits first (paging, in the order of the results: start, then set id).
    pub offset: u64,
    /// Only recordings of this configuration (its name, exactly).
    pub configuration: Option<String>,
    /// Only calls where the caller or the callee is one of these numbers (matched on
    /// digits, exactly): a user's or a group's numbers, resolved from the configuration by
    /// the caller of the search. An empty list does not filter.
    pub parties: Vec<String>,
    /// Only recordings with this flag.
    pub flag: Option<SearchFlag>,
}

/// What [`SearchQuery::flag`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchFlag {
    /// Sealed from legs a crash left behind ([`FLAG_RECOVERED`]).
    Recovered,
    /// Not yet delivered to at least one of its targets (pending or given up).
    Pending,
    /// Covered by a standing legal hold: listed in it, or a party of the call (caller or
    /// callee) is the hold's party within its time range. A hold that covers a set only
    /// through a diversion number is shown on the recording's page but not found by this
    /// filter.
    Held,
    /// Its RFC 3161 time-stamp token has not arrived yet (`[timestamping]`).
    Untimestamped,
    /// Past a `[quality]` threshold at sealing (flag `quality`: loss, a gap, silence, one
    /// side silent).
    Quality,
}

impl SearchFlag {
    /// The form used in forms and on the command line: `recovered`, `pending`, `held`,
    /// `untimestamped`, `quality`.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchFlag::Recovered => "recovered",
            SearchFlag::Pending => "pending",
            SearchFlag::Held => "held",
            SearchFlag::Untimestamped => "untimestamped",
            SearchFlag::Quality => "quality",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recovered" => Some(SearchFlag::Recovered),
            "pending" => Some(SearchFlag::Pending),
            "held" => Some(SearchFlag::Held),
            "untimestamped" => Some(SearchFlag::Untimestamped),
            "quality" => Some(SearchFlag::Quality),
            _ => None,
        }
    }
}

/// One page of results of [`Journal::search_page`](crate::Journal::search_page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SearchPage {
    /// The hits of the page (at most the query's `limit`).
    pub hits: Vec<SearchHit>,
    /// Whether more hits follow this page.
    pub more: bool,
}

/// Delivery of a found set to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Delivery {
    /// Target.
    pub target: String,
    /// State.
    pub state: UploadState,
    /// Where it lies on the target.
    pub remote_path: Option<String>,
    /// When it was delivered.
    pub done_at: Option<DateTime<Utc>>,
    /// The directory below the target's base it was delivered into (as
    /// [`Upload::remote_dir`]); `None` for deliveries recorded before schema 4.
    pub remote_dir: Option<Vec<String>>,
}

/// A recording found by [`Journal::search`](crate::Journal::search).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SearchHit {
    /// Set id.
    pub set_id: String,
    /// Configuration.
    pub configuration: String,
    /// Direction of the call.
    pub direction: Direction,
    /// Calling number as reported.
    pub caller: String,
    /// Called number as reported.
    pub callee: String,
    /// Start of the audio.
    pub started_at: DateTime<Utc>,
    /// End of the audio.
    pub ended_at: DateTime<Utc>,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// Channel mode.
    pub channels: String,
    /// Flags, e.g. `recovered`.
    pub flags: Vec<String>,
    /// Chain sequence number.
    pub chain_seq: u64,
    /// Where the set lies locally (`None` once deleted).
    pub location: Option<String>,
    /// When the local copy was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The end of its retention (`None`: kept until deleted by hand).
    pub expires_at: Option<DateTime<Utc>>,
    /// Delivery per target, by target name.
    pub deliveries: Vec<Delivery>,
}

/// A set of the chain that records no call, handed to
/// [`ChainReservation::commit_chain_set`](crate::ChainReservation::commit_chain_set): a
/// deletion receipt or an audit checkpoint.
#[derive(Debug, Clone)]
pub struct NewChainSet {
    /// The set id.
    pub set_id: String,
    /// [`SetKind::DeletionReceipt`], [`SetKind::AuditCheckpoint`] or (with
    /// [`ChainReservation::commit_decision_log`](crate::ChainReservation::commit_decision_log))
    /// [`SetKind::DecisionLog`].
    pub kind: SetKind,
    /// The configuration whose targets it goes to (a receipt: the deleted set's), or empty.
    pub configuration: String,
    /// The time its directory at the targets is rendered from.
    pub started_at: DateTime<Utc>,
    /// Every file of the set.
    pub files: Vec<FileEntry>,
    /// SHA-256 fingerprint of the certificate that verifies the signature.
    pub cert_fingerprint: String,
    /// Where the set lies now (the spool directory).
    pub location: String,
    /// The targets it must be delivered to; an upload row `pending` is queued for each.
    pub targets: Vec<String>,
    /// A receipt: the set whose deletion it records. In the same transaction that set is
    /// marked deleted (`deletion_receipt`, `deleted_at`, no location) with audit event
    /// `set_deleted`; it must not be marked already.
    pub deleted: Option<DeletedBy>,
}

/// The deletion a receipt records.
#[derive(Debug, Clone)]
pub struct DeletedBy {
    /// The deleted set.
    pub set_id: String,
    /// Who carried it out (`crctl:alice`, `cr-uploader`).
    pub actor: String,
    /// The rule, for the audit event (e.g. "retention expired at ...", "request 4").
    pub reason: String,
}

/// State of deleting a set at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletionState {
    /// Not confirmed yet; tried again at the next pass.
    Pending,
    /// The target confirmed that none of the set's files is left.
    Confirmed,
}

impl DeletionState {
    /// The stored form: `pending`, `confirmed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionState::Pending => "pending",
            DeletionState::Confirmed => "confirmed",
        }
    }
}

/// Deleting one set at one target (or, for [`Deletion::LOCAL`], in the local spool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Deletion {
    /// The set.
    pub set_id: String,
    /// The target's name; [`Deletion::LOCAL`] for the local spool.
    pub target: String,
    /// State.
    pub state: DeletionState,
    /// Attempts so far.
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Where the set lay there (once confirmed).
    pub location: Option<String>,
    /// Files deleted (once confirmed).
    pub removed: Option<u64>,
    /// Files found gone already (once confirmed).
    pub already_absent: Option<u64>,
    /// When the target confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl Deletion {
    /// The target name under which the local spool's deletion is stored (no configured
    /// target can have it: target names are never empty).
    pub const LOCAL: &'static str = "";
}

/// What a target reported after deleting a set and looking again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionConfirmed {
    /// Where the set lay.
    pub location: String,
    /// Files deleted.
    pub removed: u64,
    /// Files already gone.
    pub already_absent: u64,
}

/// Everything the journal knows about one set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecordingInfo {
    /// Set id.
    pub set_id: String,
    /// The call (`CallId(0)` for a set that records none: a receipt or checkpoint).
    pub call: CallId,
    /// Configuration.
    pub configuration: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: DateTime<Utc>,
    /// Channel mode.
    pub channels: String,
    /// Certificate fingerprint.
    pub cert_fingerprint: String,
    /// Flags.
    pub flags: Vec<String>,
    /// Chain link of the set.
    pub chain: ChainEntry,
    /// Where it lies locally.
    pub location: Option<String>,
    /// When it was sealed.
    pub sealed_at: DateTime<Utc>,
    /// When the local copy was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The end of its retention (`None`: kept until deleted by hand).
    pub expires_at: Option<DateTime<Utc>>,
    /// What the set is (a call's recording, a deletion receipt, an audit checkpoint).
    pub kind: SetKind,
    /// Once the deletion pass deleted it: the id of its deletion receipt.
    pub deletion_receipt: Option<String>,
    /// Files, by name.
    pub files: Vec<FileEntry>,
    /// Uploads, by target.
    pub uploads: Vec<Upload>,
}

impl RecordingInfo {
    /// Whether the set carries [`FLAG_RECOVERED`].
    pub fn is_recovered(&self) -> bool {
        self.flags.iter().any(|f| f == FLAG_RECOVERED)
    }
}
