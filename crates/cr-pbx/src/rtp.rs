//! RTP (RFC 3550) header parsing (via the `rtp-types` crate, which handles CSRC lists,
//! header extensions and padding), and a small RTP sender with G.711 encoders for the
//! SIPREC client.

use crate::error::ParseError;

/// The RTP header fields a recorder needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Payload type (0 PCMU, 8 PCMA, 9 G722, dynamic for telephone-event).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Marker bit.
    pub marker: bool,
}

/// Parses an RTP packet: header fields and the payload slice (CSRCs, extension and padding
/// removed). RTCP packets (payload types 72..=76 in the second byte) are rejected.
pub fn parse_rtp(packet: &[u8]) -> Result<(RtpHeader, &[u8]), ParseError> {
    if packet.len() >= 2 && (200..=204).contains(&packet[1]) {
        return Err(ParseError::Rtp("RTCP packet on an RTP port".into()));
    }
    let p = rtp_types::RtpPacket::parse(packet).map_err(|e| ParseError::Rtp(format!("{e:?}")))?;
    let h = RtpHeader {
        payload_type: p.payload_type(),
        sequence: p.sequence_number(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
        marker: p.marker_bit(),
    };
    let off = p.payload_offset();
    let len = p.payload_len();
    let payload = packet
        .get(off..off + len)
        .ok_or_else(|| ParseError::Rtp("payload out of bounds".into()))?;
    Ok((h, payload))
}

/// Writes a 12-byte RTP header plus payload.
pub fn write_rtp(h: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(0x80);
    out.push((h.payload_type & 0x7f) | if h.marker { 0x80 } else { 0 });
    out.extend_from_slice(&h.sequence.to_be_bytes());
    out.extend_from_slice(&h.timestamp.to_be_bytes());
    out.extend_from_slice(&h.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

// The workspace's one G.711 encoder (cr-audio's: bit-exact with `sox -D` for every 16-bit
// value, see tests/g711_sox.rs), under the names this crate has always exported.
pub use cr_audio::g711::{alaw_encode as linear_to_alaw, ulaw_encode as linear_to_ulaw};

/// Where an RTP sender takes its 8 kHz samples from.
#[derive(Debug, Clone)]
pub enum PcmSource {
    /// A sine tone of this frequency (Hz) and amplitude (0..32767).
    Tone {
        /// Frequency in Hz.
        freq: f32,
        /// Peak amplitude.
        amplitude: f32,
    },
    /// Samples played in a loop.
    Samples(std::sync::Arc<Vec<i16>>),
}

/// Encodes a source to G.711 (`payload_type` 8: A-law, else µ-law): a tone as one second
/// (a whole number of periods for integer frequencies), samples as they are.
pub fn encode_g711(source: &PcmSource, payload_type: u8) -> std::sync::Arc<[u8]> {
    let enc = |s: i16| {
        if payload_type == 8 {
            linear_to_alaw(s)
        } else {
            linear_to_ulaw(s)
        }
    };
    let v: Vec<u8> = match source {
        PcmSource::Tone { freq, amplitude } => (0..8000)
            .map(|i| {
                let t = i as f32 / 8000.0;
                enc((amplitude * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16)
            })
            .collect(),
        PcmSource::Samples(v) if !v.is_empty() => v.iter().map(|&s| enc(s)).collect(),
        PcmSource::Samples(_) => vec![enc(0); 160],
    };
    v.into()
}

/// A G.711 RTP sender: 20 ms (160 samples) per packet, sequence and timestamp advancing,
/// the encoded audio played in a loop.
#[derive(Debug, Clone)]
pub struct RtpSender {
    header: RtpHeader,
    audio: std::sync::Arc<[u8]>,
    pos: usize,
    first: bool,
}

impl RtpSender {
    /// A sender with payload type 0 (PCMU) or 8 (PCMA); anything else sends PCMU.
    pub fn new(payload_type: u8, ssrc: u32, source: PcmSource) -> Self {
        let pt = if payload_type == 8 { 8 } else { 0 };
        Self::from_encoded(pt, ssrc, encode_g711(&source, pt))
    }

    /// A sender of already encoded G.711 audio (see [`encode_g711`]); many senders can
    /// share one buffer.
    pub fn from_encoded(payload_type: u8, ssrc: u32, audio: std::sync::Arc<[u8]>) -> Self {
        RtpSender {
            header: RtpHeader {
                payload_type: payload_type & 0x7f,
                sequence: (ssrc >> 16) as u16,
                timestamp: ssrc.rotate_left(7),
                ssrc,
                marker: true,
            },
            audio,
            pos: 0,
            first: true,
        }
    }

    /// The next packet's bytes into `out`; returns its header.
    pub fn next_packet(&mut self, out: &mut Vec<u8>) -> RtpHeader {
        let mut payload = [0xffu8; 160];
        let n = self.audio.len();
        if n > 0 {
            for b in payload.iter_mut() {
                *b = self.audio[self.pos % n];
                self.pos = (self.pos + 1) % n;
            }
        }
        self.header.marker = self.first;
        self.first = false;
        let h = self.header;
        write_rtp(&h, &payload, out);
        self.header.sequence = self.header.sequence.wrapping_add(1);
        self.header.timestamp = self.header.timestamp.wrapping_add(160);
        h
    }

    /// Leaves the next packet unsent: sequence number, timestamp and audio advance as if
    /// it had been sent (a packet lost on the way). For the load generator's impairments.
    #[cfg(feature = "loadgen")]
    pub fn skip(&mut self) {
        let n = self.audio.len();
        if n > 0 {
            self.pos = (self.pos + 160) % n;
        }
        self.first = false;
        self.header.sequence = self.header.sequence.wrapping_add(1);
        self.header.timestamp = self.header.timestamp.wrapping_add(160);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_header() {
        let h = RtpHeader {
            payload_type: 8,
            sequence: 65535,
            timestamp: 42,
            ssrc: 7,
            marker: true,
        };
        let mut out = Vec::new();
        write_rtp(&h, b"abc", &mut out);
        let (back, payload) = parse_rtp(&out).expect("parse");
        assert_eq!(back, h);
        assert_eq!(payload, b"abc");
    }

    #[test]
    fn csrc_extension_padding() {
        // V=2 P=1 X=1 CC=1, PT 0
        let mut p = vec![0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend_from_slice(&[0, 0, 0, 9]); // CSRC
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension, 1 word
        p.extend_from_slice(b"xy"); // payload
        p.extend_from_slice(&[0, 2]); // 2 bytes padding
        let (h, payload) = parse_rtp(&p).expect("parse");
        assert_eq!(h.sequence, 1);
        assert_eq!(payload, b"xy");
    }

    #[test]
    fn rejects_short_and_rtcp() {
        assert!(parse_rtp(&[0x80, 0]).is_err());
        assert!(parse_rtp(&[0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn g711_known_values() {
        // ITU-T G.711 reference points. -1 rounds to 0 at 14 (µ-law) and 13 (A-law) bits,
        // as sox encodes it: the positive zero code (the old encoder here truncated and
        // gave the negative zero, 0x7f / 0x55, which decodes to the same 0).
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_ulaw(-1), 0xff);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(linear_to_alaw(-1), 0xd5);
        assert_eq!(linear_to_alaw(-5), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xaa);
    }
}
