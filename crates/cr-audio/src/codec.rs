//! The audio codecs of the workspace: one type for the SDP side (cr-pbx chooses it from
//! an offer) and the leg writer (which decodes it).

/// Audio payload encodings: what an SDP offer may carry and a leg writer decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 µ-law (RTP payload type 0), 8 kHz.
    Pcmu,
    /// G.711 A-law (RTP payload type 8), 8 kHz.
    Pcma,
    /// G.722 (RTP payload type 9): 16 kHz audio, RTP clock 8 kHz (RFC 3551).
    G722,
    /// Linear 16-bit big-endian PCM (RFC 3551 L16), mono, at the leg's sample rate. Never
    /// chosen from an SDP offer (no static payload type at 8 or 16 kHz).
    L16,
}

impl Codec {
    /// The codec of a static RTP payload type (0, 8, 9), if it is one of ours.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            9 => Some(Codec::G722),
            _ => None,
        }
    }

    /// The codec of an `a=rtpmap` encoding name (case-insensitive): PCMU, PCMA, G722.
    /// L16 is not offered to the SDP side (its rate is the leg's, not the codec's).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        match name.to_ascii_uppercase().as_str() {
            "PCMU" => Some(Codec::Pcmu),
            "PCMA" => Some(Codec::Pcma),
            "G722" => Some(Codec::G722),
            _ => None,
        }
    }

    /// Static RTP payload type (0, 8, 9); `None` for L16 (no static type at our rates).
    pub fn static_pt(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            Codec::L16 => None,
        }
    }

    /// The rtpmap encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::L16 => "L16",
        }
    }

    /// Audio sample rate the codec produces (G.722: 16000, though its RTP clock is 8000),
    /// or `None` when it is the leg's (L16).
    pub fn sample_rate(self) -> Option<u32> {
        match self {
            Codec::Pcmu | Codec::Pcma => Some(8000),
            Codec::G722 => Some(16000),
            Codec::L16 => None,
        }
    }

    /// Ratio audio samples / RTP timestamp ticks (2 for G.722, else 1).
    pub(crate) fn samples_per_tick(self) -> i64 {
        if self == Codec::G722 { 2 } else { 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_payload_types_round_trip() {
        for c in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            assert_eq!(Codec::from_encoding_name(c.name()), Some(c));
            assert_eq!(c.static_pt().and_then(Codec::from_payload_type), Some(c));
        }
        assert_eq!(Codec::from_encoding_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding_name("L16"), None);
        assert_eq!(Codec::L16.static_pt(), None);
    }
}
