//! What an offer (an INVITE's or UPDATE's body) holds: the SIPREC body split into SDP
//! and metadata, whether its audio can be recorded, and the streams it describes.

use super::{ACCEPT, StreamInfo, short};
use crate::metadata::{Metadata, Role};
use crate::multipart::{ContentType, split_multipart};
use crate::sdp::{Direction, Sdp};
use crate::sip::SipMessage;
use crate::srtp::{SrtpKey, SrtpPolicy, StreamSrtp};
use std::net::SocketAddr;

/// What an offer (INVITE/UPDATE body) contained.
pub(super) struct Offer {
    pub(super) sdp: Option<Sdp>,
    pub(super) metadata_xml: Option<String>,
}

/// Why a request is refused.
pub(super) struct Refuse {
    pub(super) code: u16,
    pub(super) reason: String,
    pub(super) extra: Vec<(&'static str, String)>,
}

impl Refuse {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Refuse {
            code,
            reason: reason.into(),
            extra: Vec::new(),
        }
    }
}

fn is_metadata_type(mime: &str) -> bool {
    mime == "application/rs-metadata+xml" || mime == "application/rs-metadata"
}

/// The SDP part and the metadata part of a SIPREC body, either may be absent.
pub type BodyParts = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Splits a SIPREC body into SDP and metadata (other parts are ignored). Public for
/// fuzzing and tests.
pub fn split_body(content_type: Option<&str>, body: &[u8]) -> Result<BodyParts, crate::ParseError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok((None, None));
    }
    let ct = ContentType::parse(content_type.unwrap_or("application/sdp"))?;
    match ct.mime.as_str() {
        "application/sdp" => Ok((Some(body.to_vec()), None)),
        m if is_metadata_type(m) => Ok((None, Some(body.to_vec()))),
        "multipart/mixed" | "multipart/related" | "multipart/alternative" => {
            let boundary = ct
                .param("boundary")
                .ok_or_else(|| crate::ParseError::Body("multipart without boundary".into()))?;
            let parts = split_multipart(body, boundary)?;
            let mut sdp = None;
            let mut md = None;
            for p in parts {
                let mime = p.mime();
                let disp = p
                    .header("Content-Disposition")
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if mime == "application/sdp" && sdp.is_none() {
                    sdp = Some(p.body);
                } else if (is_metadata_type(&mime) || disp.starts_with("recording-session"))
                    && md.is_none()
                {
                    md = Some(p.body);
                }
                // other parts (e.g. Cisco application/gtd) are ignored
            }
            Ok((sdp, md))
        }
        other => Err(crate::ParseError::Body(format!(
            "unsupported content type {other}"
        ))),
    }
}

/// The SDP and metadata of a request's body; the refusal to send when it cannot be read.
pub(super) fn parse_offer(msg: &SipMessage) -> Result<Offer, Refuse> {
    let (sdp, md) = split_body(msg.header("Content-Type"), &msg.body).map_err(|e| match e {
        crate::ParseError::Body(r) if r.starts_with("unsupported content type") => {
            let mut f = Refuse::new(415, "Unsupported Media Type");
            f.extra.push(("Accept", ACCEPT.to_owned()));
            f
        }
        e => Refuse::new(400, short(&e.to_string())),
    })?;
    let sdp = match sdp {
        Some(b) => Some(Sdp::parse(&b).map_err(|e| Refuse::new(400, short(&e.to_string())))?),
        None => None,
    };
    let metadata_xml = md.map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(Offer { sdp, metadata_xml })
}

/// Ok if the offer has an audio stream we record under `policy`; else the reason phrase
/// of the 488 that refuses it (never a 200 with streams we cannot record).
pub(super) fn usable_audio(sdp: &Sdp, policy: SrtpPolicy) -> Result<(), &'static str> {
    let audio: Vec<_> = sdp
        .media
        .iter()
        .filter(|m| m.is_audio_rtp() && m.choose_codec().is_some())
        .collect();
    if audio
        .iter()
        .any(|m| policy.accepts(m.is_srtp()) && (!m.is_srtp() || !m.crypto.is_empty()))
    {
        return Ok(());
    }
    let srtp = audio.iter().any(|m| m.is_srtp());
    if srtp && policy == SrtpPolicy::Off {
        return Err("Not Acceptable Here (SRTP offered; this recorder has srtp = off)");
    }
    if srtp {
        return Err(
            "Not Acceptable Here (no supported SDES crypto: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM or AEAD_AES_256_GCM, one inline key without MKI)",
        );
    }
    if !audio.is_empty() && policy == SrtpPolicy::Require {
        return Err("Not Acceptable Here (plain RTP offered; this recorder requires SRTP)");
    }
    Err("Not Acceptable Here (no usable audio stream: PCMU, PCMA or G722 over RTP/AVP)")
}

/// Streams of an offer. Roles: from metadata by label when it says; otherwise the
/// fallback: first audio stream = caller, second = callee, a single stream = mixed.
/// Ports of `old` streams with the same m-line index are kept; `offer` numbers the SDP
/// offer they come from. A stream `policy` refuses (SRTP when off, plain RTP when
/// required) gets no codec: it is answered with port 0.
pub(super) fn build_streams(
    sdp: &Sdp,
    md: Option<&Metadata>,
    old: &[StreamInfo],
    offer: u32,
    policy: SrtpPolicy,
) -> Vec<StreamInfo> {
    let mut out = Vec::new();
    let audio: Vec<usize> = (0..sdp.media.len())
        .filter(|&i| sdp.media[i].is_audio_rtp())
        .collect();
    for (n, &i) in audio.iter().enumerate() {
        let m = &sdp.media[i];
        let mut codec = m.choose_codec().filter(|_| policy.accepts(m.is_srtp()));
        let previous = old.iter().find(|o| o.index == i && o.codec.is_some());
        // SRTP: the first crypto attribute we support in the SRC's order; our key is kept
        // over re-offers of the same suite (RFC 4568 §7.1.4 lets the answerer keep it).
        let srtp = if m.is_srtp() && codec.is_some() {
            let chosen = m.crypto.first().and_then(|offer| {
                let kept = previous
                    .and_then(|p| p.srtp.as_ref())
                    .filter(|p| p.offer.suite == offer.suite)
                    .map(|p| p.answer_key.clone());
                let answer_key = kept.or_else(|| SrtpKey::random(offer.suite))?;
                Some(StreamSrtp {
                    offer: offer.clone(),
                    answer_key,
                })
            });
            if chosen.is_none() {
                codec = None;
            }
            chosen
        } else {
            None
        };
        let fallback = match (audio.len(), n) {
            (1, _) => Role::Mixed,
            (_, 0) => Role::Caller,
            (_, 1) => Role::Callee,
            _ => Role::Unknown,
        };
        let role = m
            .label
            .as_deref()
            .and_then(|l| md.and_then(|md| md.role_of_label(l)))
            .unwrap_or(fallback);
        let remote = sdp.connection_of(i).map(|ip| SocketAddr::new(ip, m.port));
        let local_port = previous.map(|o| o.local_port).unwrap_or(0);
        out.push(StreamInfo {
            index: i,
            label: m.label.clone(),
            role,
            codec,
            telephone_event: m.telephone_event().map(|t| t.0),
            local_port: if codec.is_some() { local_port } else { 0 },
            remote,
            active: sdp.direction_of(i) != Direction::Inactive
                && sdp.direction_of(i) != Direction::RecvOnly,
            offer,
            srtp,
        });
    }
    out
}

/// Gives ports to the first `max` audio streams with a codec; later ones are refused
/// (port 0 in the answer), so one INVITE with hundreds of m-lines cannot take the range.
pub(super) fn cap_streams(streams: &mut [StreamInfo], max: usize) {
    for st in streams.iter_mut().filter(|st| st.codec.is_some()).skip(max) {
        st.codec = None;
        st.local_port = 0;
    }
}
