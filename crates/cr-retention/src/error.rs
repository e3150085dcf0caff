//! Why a pass could not run.

/// A pass that could not run (or stopped): the journal, the spool or sealing failed.
/// A target that fails is no error of the pass: its deletion stays pending.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PassError {
    /// The journal failed.
    #[error("journal: {0}")]
    Journal(#[from] cr_journal::JournalError),
    /// Sealing a receipt or checkpoint failed (nothing of it was committed).
    #[error("sealing: {0}")]
    Seal(#[from] cr_sign::ChainSealError),
    /// The spool failed.
    #[error("spool: {0}")]
    Spool(#[from] cr_storage::SpoolError),
    /// The configuration has errors (each at its line and key).
    #[error("the configuration has errors:\n{0}")]
    Config(String),
    /// The keystore could not be opened.
    #[error("keystore: {0}")]
    Keystore(#[from] cr_sign::SignError),
    /// Another deletion pass runs on this installation (the uploader's or an operator's).
    #[error("another deletion pass is running: {0}")]
    Busy(cr_storage::LockError),
}
