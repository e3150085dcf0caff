//! # cr-export
//!
//! The disclosure package: when a customer asks for the recordings of their calls (SPEC
//! S33), the installation hands over one directory that anybody can check with stock tools
//! and the installation's certificate:
//!
//! ```text
//! sets/<id>/...                    each set's files, unchanged (audio, metadata, checksum, signature)
//! cert.pem                         the installation's certificate
//! manifest.json                    the request and every set (PackageManifest)
//! index.html                       the calls with an audio player each; no script, no external asset
//! verify.sh                        bash + shasum/sha256sum + base64 + openssl
//! README.txt                       what this is, how to verify by hand
//! SHA256SUMS                       SHA-256 of every other file, `shasum -a 256 -c` format
//! SHA256SUMS.SHA256withRSA.sig     base64 signature of SHA256SUMS by the installation's key
//! ```
//!
//! [`PackageWriter`] builds a package from sets read back through a [`SetSource`] (the seam
//! for every kind of storage; [`DirectorySource`] reads the spool or a folder target) and
//! verifies each set's copy with the certificate before it becomes part of the package. A
//! set that does not verify is left out and named in the manifest. [`verify_package`]
//! checks a package from the certificate alone. Time is passed in ([`Request::created_at`]).
//! The journal is not read here: the caller (`crctl export`, the console) finds the sets;
//! with feature `installation`, [`locate`] says where a found set lies (spool, folder or
//! remote target) and [`ExportRecord`] is the audit event's details.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
//! let identity = cr_sign::Identity::generate("pbx-berlin-01", now).unwrap();
//! let spool = tempfile::tempdir().unwrap();
//! let wav = spool.path().join("call-1.wav");
//! std::fs::write(&wav, b"RIFF....WAVE").unwrap();
//! let json = spool.path().join("call-1.json");
//! std::fs::write(&json, b"{}").unwrap();
//! cr_sign::seal("call-1", &[json, wav], &identity).unwrap();
//!
//! let export = tempfile::tempdir().unwrap();
//! let out = export.path().join("request-4711");
//! let request = cr_export::Request::new("4711", "+49 30 999888", now);
//! let mut package = cr_export::PackageWriter::new(&out, request, &identity).unwrap();
//! let call = cr_export::CallFacts::new("call-1", now, now + chrono::Duration::seconds(95));
//! let mut source = cr_export::DirectorySource::new("spool", spool.path());
//! let outcome = package.add_set(call, &mut source).unwrap();
//! assert!(matches!(outcome, cr_export::SetOutcome::Exported(_)));
//! let summary = package.finish().unwrap();
//! assert_eq!(summary.manifest.sets.len(), 1);
//!
//! let report = cr_export::verify_package(&out, identity.certificate());
//! assert!(report.is_ok(), "{:?}", report.problems);
//! std::fs::write(out.join("index.html"), "changed").unwrap();
//! let report = cr_export::verify_package(&out, identity.certificate());
//! assert_eq!(report.problems[0].file, "index.html");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
#[cfg(feature = "installation")]
mod installation;
mod manifest;
mod page;
mod source;
mod tree;
mod verify;
mod writer;

pub use error::{ExportError, SourceError};
#[cfg(feature = "installation")]
pub use installation::{ExportRecord, LeftOut, SetCopy, TargetSource, call_facts, locate};
pub use manifest::{
    CallFacts, ExportedSet, MANIFEST_FORMAT, MANIFEST_VERSION, NotExported, PackageManifest, Request, SetFile,
};
pub use page::escape as html_escape;
pub use source::{DirectorySource, SetSource};
pub use verify::{PackageProblem, PackageProblemKind, PackageReport, is_package, verify_package};
pub use writer::{PackageSummary, PackageWriter, SETS_DIR, SUMS_FILE, SUMS_SIGNATURE_FILE, SetOutcome};
