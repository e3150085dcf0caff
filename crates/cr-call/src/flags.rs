//! The flags a sealed set may carry (docs/reference.md §3) and the per-stream report they
//! are derived from.

use serde::{Deserialize, Serialize};

/// Flag: sealed at start from the legs a crash left behind.
pub const FLAG_RECOVERED: &str = "recovered";
/// Flag: sealed while the call was still running, because the recorder stopped.
pub const FLAG_SHUTDOWN: &str = "shutdown";
/// Flag: packets from another source or SSRC were sent to a stream's port and refused.
pub const FLAG_RTP_REJECTED: &str = "rtp_rejected";
/// Flag: packets of a stream's real source never arrived or came too late (the leg has
/// silence where they belonged).
pub const FLAG_MEDIA_LOST: &str = "media_lost";
/// Flag: a stream of the call received no packet from its source at all.
pub const FLAG_NO_MEDIA: &str = "no_media";
/// Flag: SRTP packets of the call failed authentication (audio may be missing).
pub const FLAG_SRTP_REJECTED: &str = "srtp_rejected";
/// Flag: our 200 OK was never acknowledged, but media came.
pub const FLAG_NO_ACK: &str = "no_ack";
/// Flag: the call came as one stream carrying both parties (mixed by the SRC, or a single
/// stream no metadata assigns): the caller's side of the set holds both voices and the
/// callee's is silence, so neither channel is one party alone.
pub const FLAG_MIXED: &str = "mixed";
/// Flag: the set is past a `[quality]` threshold (the metadata's `quality.reasons` say
/// which).
pub const FLAG_QUALITY: &str = "quality";

/// One received stream in the set's metadata (`streams`): what the RTP receiver passed
/// on, refused and missed. Counts the receiver reports when the stream closes are `null`
/// when the set was sealed before (shutdown).
///
/// The fields are declared in the order the published metadata has always had them
/// (alphabetical).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamReport {
    /// m-line index of the stream in the SRC's SDP.
    pub index: usize,
    /// Packets of the real source that came too late to be placed (dropped).
    pub late: u64,
    /// Packets of the accepted SSRC missing from the sequence (lost on the way, or by an
    /// overflowing socket buffer).
    pub lost: Option<u64>,
    /// Packets written into the leg.
    pub packets: u64,
    /// Refused: not RTP.
    pub rejected_malformed: Option<u64>,
    /// Refused: unexpected payload type.
    pub rejected_payload_type: Option<u64>,
    /// Refused: another source address or port than the SDP announced.
    pub rejected_source: Option<u64>,
    /// Refused: another SSRC than the one locked.
    pub rejected_ssrc: Option<u64>,
    /// Packets refused on the stream's port, all reasons.
    pub rtp_rejected: Option<u64>,
    /// `caller` or `callee`: the side of the set whose audio it is (null: not in the set).
    pub side: Option<String>,
}

impl StreamReport {
    /// The set flags this stream calls for.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.rejected_source.unwrap_or(0) + self.rejected_ssrc.unwrap_or(0) > 0 {
            f.push(FLAG_RTP_REJECTED);
        }
        if self.lost.unwrap_or(0) > 0 || self.late > 0 {
            f.push(FLAG_MEDIA_LOST);
        }
        if self.packets == 0 {
            f.push(FLAG_NO_MEDIA);
        }
        f
    }
}

/// Adds `flag` to `flags` unless it is there.
pub(crate) fn add_flag(flags: &mut Vec<String>, flag: &str) {
    if !flags.iter().any(|x| x == flag) {
        flags.push(flag.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_flags_foreign_packets_losses_and_silence() {
        let clean = StreamReport { packets: 10, lost: Some(0), rejected_source: Some(0), ..Default::default() };
        assert!(clean.flags().is_empty());
        let foreign = StreamReport { packets: 10, rejected_ssrc: Some(1), ..Default::default() };
        assert_eq!(foreign.flags(), [FLAG_RTP_REJECTED]);
        let late = StreamReport { packets: 10, late: 1, ..Default::default() };
        assert_eq!(late.flags(), [FLAG_MEDIA_LOST]);
        // Payload type and malformed refusals are not someone else's audio.
        let odd = StreamReport { packets: 0, rejected_payload_type: Some(4), ..Default::default() };
        assert_eq!(odd.flags(), [FLAG_NO_MEDIA]);
    }
}
