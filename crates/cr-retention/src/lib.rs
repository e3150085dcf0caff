//! # cr-retention
//!
//! The deletion pass of a callrec installation (issue 13): every set whose retention ended
//! (`recordings.expires_at`) and every deletion request a second supervisor approved is
//! deleted from every target it was delivered to and from the local spool — unless a
//! standing legal hold covers it — and each deletion is confirmed by looking again. When
//! every place confirmed, a **deletion receipt** is sealed into the chain as a set of its
//! own (next sequence number, `kind: "deletion-receipt"`, see
//! [`cr_types::chain_set::DeletionReceipt`]) and spooled for the deleted set's targets, so
//! that a verifier with nothing but the certificate can still prove that no set is missing.
//!
//! A target that fails keeps that deletion pending (journal table `deletions`, shown by
//! `crctl status`); the next pass tries again, and the receipt waits until every target
//! confirmed. `crctl retention run` and `cr-uploader` run the same [`Pass`].
//!
//! The decision for each set is the sans-I/O [`plan`]: given what the journal knows (its
//! deliveries, its deletions so far, a hold) it says hold, wait, or delete where.
//!
//! ```
//! use cr_retention::plan::{Candidate, LOCAL, Step, plan};
//! use cr_types::chain_set::DeletionRule;
//!
//! let c = Candidate {
//!     set_id: "20261126T093000000Z-0a1b2c3d".into(),
//!     rule: DeletionRule::RetentionExpired { expires_at: chrono::DateTime::UNIX_EPOCH },
//!     hold: None,
//!     delivered: vec!["nas".into()],
//!     delivering: vec![],
//!     confirmed: vec![],
//! };
//! let Step::Delete { todo, .. } = plan(&c, &["nas".into()]) else { unreachable!() };
//! assert_eq!(todo, vec!["nas".to_owned(), LOCAL.to_owned()]);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod configured;
mod error;
mod pass;
pub mod plan;
mod seal;

pub use error::PassError;
pub use configured::run_configured;
pub use pass::{CHECKPOINT_AT_LEAST_EVERY, Outcome, Pass, PassReport};
