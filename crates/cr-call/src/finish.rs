//! A call that is over: its legs are completed (blocking file work, so the application
//! runs [`Finishing::complete`] off its event loop) and the set's flags and stream reports
//! derived from what the legs and the RTP receiver counted.

use std::collections::HashMap;

use cr_pbx::EndReason;
use cr_pbx::driver::StreamStats;

use crate::flags::{FLAG_NO_ACK, FLAG_SRTP_REJECTED, StreamReport, add_flag};
use crate::layout::Roles;
use crate::legs::{Leg, LegStore};
use crate::quality::leg_quality;
use cr_types::LegQuality;
use crate::machine::Session;
use crate::record::CallRecord;

/// A call to seal, its legs still open ([`crate::Output::Seal`]).
pub struct Finishing<S: LegStore> {
    record: CallRecord,
    store: S,
    legs: Vec<(usize, S::Leg)>,
    roles: Roles,
    metadata_xml: Option<String>,
    received: HashMap<usize, StreamStats>,
    flags: Vec<String>,
    packets: u64,
    end_reason: Option<EndReason>,
    srtp_rejected: u64,
}

impl<S: LegStore> std::fmt::Debug for Finishing<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finishing")
            .field("set", &self.record.id)
            .field("legs", &self.legs.len())
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

/// A set ready to seal: the legs are complete.
#[derive(Debug)]
pub struct SealPlan<S> {
    /// The call.
    pub record: CallRecord,
    /// Its legs.
    pub store: S,
    /// Which leg is whose.
    pub roles: Roles,
    /// The SIPREC metadata XML, kept in the set as `<id>.siprec.xml`.
    pub metadata_xml: Option<String>,
    /// The set's flags.
    pub flags: Vec<String>,
    /// What each received stream got, by m-line index.
    pub streams: Vec<StreamReport>,
    /// The figures of each stream that is a side of the set, measured as its packets
    /// arrived (caller first).
    pub quality: Vec<LegQuality>,
}

/// What completing a call's legs came to.
#[derive(Debug)]
pub enum Completion<S> {
    /// Seal this set.
    Seal(SealPlan<S>),
    /// Our 200 OK was never acknowledged and no packet came: the SRC never set the call
    /// up (a storm of INVITEs, or an SRC that failed). Not a recording: abandon it.
    Unconfirmed {
        /// The call.
        record: CallRecord,
        /// Its legs (remove them).
        store: S,
    },
}

impl<S: LegStore> Finishing<S> {
    pub(crate) fn new(s: Session<S>, flags: Vec<String>) -> Self {
        Self {
            record: s.record,
            store: s.store,
            legs: s.legs,
            roles: s.roles,
            metadata_xml: s.metadata_xml,
            received: s.received,
            flags,
            packets: s.packets,
            end_reason: s.end_reason,
            srtp_rejected: s.srtp_rejected,
        }
    }

    /// The call.
    pub fn record(&self) -> &CallRecord {
        &self.record
    }

    /// Completes the legs and derives the set's flags: `srtp_rejected`, `no_ack`, and per
    /// stream `rtp_rejected`, `media_lost`, `no_media` (docs/reference.md §3).
    pub fn complete(self) -> Completion<S> {
        let Self { record, store, legs, roles, metadata_xml, received, mut flags, packets, end_reason, srtp_rejected } =
            self;
        if srtp_rejected > 0 {
            // Forged packets, or real ones that could not be decrypted: audio may be missing.
            tracing::warn!(set = %record.id, packets = srtp_rejected, "SRTP packets failed authentication");
            add_flag(&mut flags, FLAG_SRTP_REJECTED);
        }
        if end_reason == Some(EndReason::NoAck) {
            if packets == 0 {
                drop(legs);
                return Completion::Unconfirmed { record, store };
            }
            add_flag(&mut flags, FLAG_NO_ACK);
        }
        let mut streams = Vec::new();
        let mut quality = Vec::new();
        for (index, leg) in legs {
            let counts = match leg.finish() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(set = %record.id, "cannot finish a leg: {e}");
                    Default::default()
                }
            };
            let got = received.get(&index);
            if let (Some(side), Some(m)) = (roles.side_of(index), counts.quality) {
                quality.push(leg_quality(side, &m));
            }
            streams.push(StreamReport {
                index,
                side: roles.side_of(index).map(str::to_owned),
                packets: counts.packets,
                late: counts.late,
                lost: got.map(|g| g.lost),
                rtp_rejected: got.map(|g| g.rejected()),
                rejected_source: got.map(|g| g.rejected_source),
                rejected_ssrc: got.map(|g| g.rejected_ssrc),
                rejected_payload_type: got.map(|g| g.rejected_payload_type),
                rejected_malformed: got.map(|g| g.rejected_malformed),
            });
        }
        if let Some(f) = roles.flag() {
            add_flag(&mut flags, f);
        }
        streams.sort_by_key(|r| r.index);
        quality.sort_by_key(|q| q.side != "caller");
        for f in streams.iter().flat_map(StreamReport::flags) {
            add_flag(&mut flags, f);
        }
        if !flags.is_empty() {
            tracing::warn!(set = %record.id, ?flags, ?streams, "recording flagged");
        }
        Completion::Seal(SealPlan { record, store, roles, metadata_xml, flags, streams, quality })
    }
}
