//! Sealing a set into the installation's chain (feature `journal`): the one sealing path
//! for every kind of chain set — a call's recording (cr-recorder), a deletion receipt and
//! an audit checkpoint (cr-retention).
//!
//! The order is the crate docs' of cr-journal, "The chain": the large files are hashed
//! before (a [`HashedFiles`]); then the journal's next link is reserved, the metadata is
//! written with it, hashed, the checksum file and its signature are written, and the link
//! is committed together with the set's journal rows. What the caller commits is its own
//! (a recording, or a set that records no call); a failure anywhere before the commit
//! rolls the link back, so the number is free again.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cr_journal::{ChainEntry, ChainLink, ChainReservation, Journal, JournalError};

use crate::error::SignError;
use crate::identity::Identity;
use crate::seal::{HashedFiles, SealedSet, seal_hashed};

/// What went wrong while sealing into the chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainSealError {
    /// The journal refused or failed (nothing was committed).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Hashing or signing failed (nothing was committed).
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The metadata file could not be written.
    #[error("writing {path}: {source}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Seals set `set_id` into the chain: reserves the next link (seal time `at`), writes
/// `metadata(&link)` to `meta_path` (in the set's directory, beside the files of
/// `hashed`), adds it last, writes the checksum file and its signature with `identity`,
/// and hands the reservation to `commit` with what was sealed (which commits it, e.g.
/// [`ChainReservation::commit`] or [`ChainReservation::commit_chain_set`]).
///
/// Do not use `journal` from inside the closures: the reservation holds it.
pub fn seal_into_chain(
    journal: &Journal,
    identity: &Identity,
    mut hashed: HashedFiles,
    set_id: &str,
    at: DateTime<Utc>,
    meta_path: &Path,
    metadata: impl FnOnce(&ChainLink) -> Vec<u8>,
    commit: impl FnOnce(ChainReservation<'_>, &SealedSet) -> Result<ChainEntry, JournalError>,
) -> Result<(ChainEntry, SealedSet), ChainSealError> {
    let reservation = journal.reserve_link(set_id, at)?;
    let bytes = metadata(reservation.link());
    std::fs::write(meta_path, bytes).map_err(|source| ChainSealError::Metadata { path: meta_path.to_owned(), source })?;
    hashed.add(std::slice::from_ref(&meta_path.to_path_buf()))?;
    let sealed = seal_hashed(hashed, identity)?;
    let entry = commit(reservation, &sealed)?;
    Ok((entry, sealed))
}
