//! # cr-types
//!
//! One type per idea for the ideas that several callrec crates share: which way a call
//! goes ([`Direction`]), which audio a recording keeps ([`Channels`]), what a set id may
//! look like ([`set_id`]), how long a set is kept ([`Period`]), the SHA-256 of a file
//! ([`sha256_file`]) and the `prev_sha256` of the first set of a chain
//! ([`GENESIS_SHA256`]), and what the chain holds besides recordings ([`chain_set`]:
//! deletion receipts and audit checkpoints, [`SetKind`]), and a set's quality at sealing
//! ([`SetQuality`], [`QualityThresholds`]).
//!
//! The policy, the audio finaliser, the journal, the signer and the delivery crates use
//! these types directly (their own names for them are re-exports), so a value decided by
//! the policy reaches the journal and the signed metadata without a hand-written mapping.
//!
//! ```
//! use cr_types::{Channels, Direction, set_id};
//!
//! assert_eq!("separate".parse::<Channels>(), Ok(Channels::Separate));
//! assert_eq!(Direction::parse("incoming"), Some(Direction::Incoming));
//! assert!(set_id::is_valid("20261126T093000000Z-0a1b2c3d"));
//! assert!(!set_id::is_valid("../etc"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod call;
pub mod chain_set;
pub mod decision_log;
mod hash;
mod period;
mod quality;
pub mod set_id;

pub use call::{Channels, Direction, UnknownName};
pub use chain_set::{ChainLink, SetKind};
pub use hash::{GENESIS_SHA256, sha256_file, sha256_hex, sha256_reader};
pub use period::{Period, PeriodError, PeriodUnit};
pub use quality::{
    LegQuality, Percent, QualityRecord, QualityThresholds, REASON_GAP, REASON_LOSS, REASON_ONE_SIDED, REASON_SILENCE, REASONS, SetQuality,
};
