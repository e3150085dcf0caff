//! `manifest.json`: what a package holds and why (a published, versioned format).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The value of [`PackageManifest::format`].
pub const MANIFEST_FORMAT: &str = "callrec-export";
/// The value of [`PackageManifest::version`] this crate writes.
pub const MANIFEST_VERSION: u32 = 1;

/// The disclosure request a package answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Request {
    /// The request's reference (e.g. the customer's letter or ticket number).
    pub reference: String,
    /// The party number whose calls were asked for, as given.
    pub party: String,
    /// Calls that started at or after this time, if limited.
    pub from: Option<DateTime<Utc>>,
    /// Calls that started before this time, if limited.
    pub to: Option<DateTime<Utc>>,
    /// The operator who made the export, when known.
    pub operator: Option<String>,
    /// When the package was made (passed in: the library never reads the clock).
    pub created_at: DateTime<Utc>,
}

impl Request {
    /// A request for `party`'s calls under `reference`, made at `created_at`, without time
    /// limits or operator (set the public fields for those).
    pub fn new(reference: impl Into<String>, party: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        Self { reference: reference.into(), party: party.into(), from: None, to: None, operator: None, created_at }
    }
}

/// What the journal says about one set's call: shown in `index.html`, kept in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallFacts {
    /// The set id.
    pub id: String,
    /// Start of the audio.
    pub started_at: DateTime<Utc>,
    /// End of the audio.
    pub ended_at: DateTime<Utc>,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// `incoming`, `outgoing` or `internal`.
    pub direction: String,
    /// Calling number as the PBX reported it.
    pub caller: String,
    /// Called number as the PBX reported it.
    pub callee: String,
    /// The recording configuration that recorded it.
    pub configuration: String,
    /// Channel mode (`stereo`, `mono`, `separate`).
    pub channels: String,
    /// The set's sequence number in the installation's chain.
    pub chain_seq: u64,
}

impl CallFacts {
    /// Facts of set `id`: the other fields are public, fill them in.
    pub fn new(id: impl Into<String>, started_at: DateTime<Utc>, ended_at: DateTime<Utc>) -> Self {
        Self {
            id: id.into(),
            started_at,
            ended_at,
            duration_ms: (ended_at - started_at).num_milliseconds(),
            direction: String::new(),
            caller: String::new(),
            callee: String::new(),
            configuration: String::new(),
            channels: String::new(),
            chain_seq: 0,
        }
    }
}

/// One file of an exported set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SetFile {
    /// Path inside the package (`sets/<id>/<name>`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// A set in the package: verified with the certificate before it was put there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExportedSet {
    /// The call.
    #[serde(flatten)]
    pub call: CallFacts,
    /// Directory of the set inside the package (`sets/<id>`).
    pub directory: String,
    /// SHA-256 (hex) of the set's checksum file: the value the next set of the chain names.
    pub checksum_sha256: String,
    /// Where it was read from.
    pub read_from: String,
    /// Its files, by name.
    pub files: Vec<SetFile>,
}

/// A set that matched the request but is not in the package, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotExported {
    /// The call.
    #[serde(flatten)]
    pub call: CallFacts,
    /// Where it was read from, if a copy was found.
    pub read_from: Option<String>,
    /// What is wrong, one line per problem (each names the file).
    pub problems: Vec<String>,
}

/// `manifest.json` of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackageManifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`] when written by this crate.
    pub version: u32,
    /// The request answered.
    pub request: Request,
    /// Subject CN of the installation's certificate (`cert.pem`).
    pub certificate_subject: String,
    /// SHA-256 fingerprint of `cert.pem` (hex), to compare with the installation's.
    pub certificate_sha256: String,
    /// The sets in the package, oldest first.
    pub sets: Vec<ExportedSet>,
    /// Sets that matched but failed verification or could not be read: not in the package.
    pub not_exported: Vec<NotExported>,
}
