//! Crash recovery: what to do with a legs directory found at start. The plan is pure; the
//! application reads the directory ([`crate::io::read_leftover`]), asks its journal whether
//! the set was sealed, and carries the plan out.

use crate::layout::LegsDir;
use crate::record::CallRecord;

/// A legs directory found at start.
#[derive(Debug, Clone)]
pub struct Leftover {
    /// The directory.
    pub dir: LegsDir,
    /// Its call record; None: no `call.json` (nothing to seal).
    pub record: Option<CallRecord>,
    /// Whether the caller's or the callee's leg file exists.
    pub has_audio: bool,
    /// The SIPREC metadata kept beside the legs.
    pub metadata_xml: Option<String>,
}

/// What to do with a [`Leftover`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// No call record: leave the directory in place for the operator.
    LeaveInPlace,
    /// Sealed and journaled before the crash: make sure the set reached the spool (enqueue
    /// its incoming slot if it is still there), then remove the directory.
    Spool,
    /// Not sealed, and no audio was written: end the call in the journal (at its start),
    /// discard any incoming slot and remove the directory.
    EndWithoutAudio,
    /// Not sealed: discard any incoming slot, repair the legs, seal flagged `recovered`,
    /// then remove the directory.
    Seal,
}

impl Leftover {
    /// The plan, given whether the journal holds a recording of the set (`sealed`).
    pub fn plan(&self, sealed: bool) -> Recovery {
        match (&self.record, sealed, self.has_audio) {
            (None, _, _) => Recovery::LeaveInPlace,
            (Some(_), true, _) => Recovery::Spool,
            (Some(_), false, false) => Recovery::EndWithoutAudio,
            (Some(_), false, true) => Recovery::Seal,
        }
    }
}
