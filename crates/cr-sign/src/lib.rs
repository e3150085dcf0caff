//! # cr-sign
//!
//! Integrity for call recordings: the installation's RSA-2048 key pair in a PKCS#12
//! keystore, its self-signed certificate, and sealing a recording set so that stock tools
//! prove it untouched (SPEC S14–S20):
//!
//! - `<id>.sha256` lists the SHA-256 of the metadata file and every audio file in the
//!   format of `shasum -a 256` / `sha256sum` (so `shasum -a 256 -c <id>.sha256` works);
//! - `<id>.sha256.SHA256withRSA.sig` is the base64 PKCS#1 v1.5 SHA-256 signature of the
//!   checksum file (so `openssl dgst -sha256 -verify` works).
//!
//! [`Identity`] holds key and certificate; [`seal`] writes a set's checksum and signature;
//! [`verify_set`] checks a set with nothing but the [`Certificate`].
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! let dir = tempfile::tempdir().unwrap();
//! let wav = dir.path().join("call-1.wav");
//! std::fs::write(&wav, b"RIFF....WAVE").unwrap();
//! let json = dir.path().join("call-1.json");
//! std::fs::write(&json, b"{}").unwrap();
//!
//! let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
//! let identity = cr_sign::Identity::generate("pbx-berlin-01", now).unwrap();
//! assert_eq!(identity.certificate().subject_cn(), "Call Recording pbx-berlin-01");
//!
//! let set = cr_sign::seal("call-1", &[json, wav.clone()], &identity).unwrap();
//! let report = cr_sign::verify_set(&set.checksum_file, identity.certificate());
//! assert!(report.is_ok());
//!
//! std::fs::write(&wav, b"RIFF....WAVF").unwrap();
//! let report = cr_sign::verify_set(&set.checksum_file, identity.certificate());
//! assert_eq!(report.problems[0].file, "call-1.wav");
//! ```
//!
//! Dependencies: `rsa` 0.10 (`pkcs1v15`) for keys and signatures, `x509-cert` 0.3 for the
//! certificate, `p12-keystore` for PKCS#12 (3DES for OpenSSL and Java keytool, or AES-256),
//! `sha2` 0.11 (SHA-NI picked at run time) for hashing.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chain;
#[cfg(feature = "journal")]
mod chain_seal;
#[cfg(feature = "config")]
mod config;
mod error;
mod hash;
mod identity;
mod manifest;
mod seal;
mod tsp;
mod verify;

#[cfg(feature = "config")]
pub use config::{KeystoreCheck, check_configured, configured_password, open_configured};
pub use chain::{ChainCheck, ChainMember, ChainProblem, DeletedMember, GENESIS_SHA256, check_chain, check_chain_with_receipts};
#[cfg(feature = "journal")]
pub use chain_seal::{ChainSealError, seal_into_chain};
pub use error::SignError;
pub use hash::{sha256_file, sha256_hex};
pub use tsp::{MAX_REPLY_BYTES, TimestampError, TimestampInfo, TimestampRequest, TsaTrust, verify_timestamp};
pub use identity::{Certificate, Cipher, Identity, KEY_BITS, PRODUCT_NAME, VALIDITY_YEARS, password_warning};
pub use manifest::{MAX_MANIFEST_BYTES, Manifest, ManifestEntry, ManifestError, is_plain_file_name, is_relative_path};
pub use seal::{HashedFiles, SealedFile, SealedSet, checksum_file_name, is_valid_id, seal, seal_hashed, signature_file_name};
pub use verify::{Problem, ProblemKind, SetReport, belongs_to_set, find_checksum_files, set_id, verify_set, verify_set_timestamp, verify_signature_file};
