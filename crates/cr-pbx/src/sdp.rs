//! A focused, tolerant SDP (RFC 4566) parser and answer writer for SIPREC offers.
//!
//! `sdp-types` was checked first: it enforces the strict RFC line order and rejects what
//! real SRCs send (missing `s=`/`t=`, LF-only lines are fine there but unknown line order
//! is not), so this parser only picks what a recorder needs and skips the rest.

use crate::error::ParseError;
use crate::srtp::{CryptoRefused, SdesCrypto, StreamSrtp};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv`
    SendRecv,
    /// `a=sendonly` (what an SRC offers)
    SendOnly,
    /// `a=recvonly` (what we answer)
    RecvOnly,
    /// `a=inactive` (hold)
    Inactive,
}

impl Direction {
    fn parse(a: &str) -> Option<Direction> {
        match a {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// Audio codecs we record: the workspace's one codec type (the leg writer decodes the
/// same value the SDP answer chose).
pub use cr_audio::Codec;

/// `a=rtpmap:PT NAME/RATE[/CH]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name as written.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDesc {
    /// `audio`, `video`, ...
    pub kind: String,
    /// Port (0 = disabled stream).
    pub port: u16,
    /// `RTP/AVP`, ...
    pub proto: String,
    /// Format list as written.
    pub formats: Vec<String>,
    /// rtpmap attributes.
    pub rtpmap: Vec<RtpMap>,
    /// `a=fmtp:PT params`
    pub fmtp: Vec<(u8, String)>,
    /// Media-level direction.
    pub direction: Option<Direction>,
    /// `a=label:` (RFC 4574) — how SIPREC metadata names the stream.
    pub label: Option<String>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// `a=ptime:`
    pub ptime: Option<u32>,
    /// Usable `a=crypto:` attributes (SDES), in offer order.
    pub crypto: Vec<SdesCrypto>,
    /// Why the other `a=crypto:` attributes cannot be used, in offer order.
    pub crypto_refused: Vec<CryptoRefused>,
}

impl MediaDesc {
    /// Payload types in offer order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    fn encoding_of(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmap.iter().find(|r| r.pt == pt)
    }

    /// The first offered codec we can record, with its payload type.
    pub fn choose_codec(&self) -> Option<(Codec, u8)> {
        for pt in self.payload_types() {
            let codec = match self.encoding_of(pt) {
                Some(r) => Codec::from_encoding_name(&r.encoding),
                None => Codec::from_payload_type(pt),
            };
            if let Some(c) = codec {
                return Some((c, pt));
            }
        }
        None
    }

    /// The telephone-event payload type with its clock rate 8000, if offered.
    pub fn telephone_event(&self) -> Option<(u8, Option<&str>)> {
        let r = self
            .rtpmap
            .iter()
            .find(|r| r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == 8000)?;
        if !self.payload_types().any(|p| p == r.pt) {
            return None;
        }
        let fmtp = self
            .fmtp
            .iter()
            .find(|(p, _)| *p == r.pt)
            .map(|(_, f)| f.as_str());
        Some((r.pt, fmtp))
    }

    /// True if this is an RTP audio stream with a usable port: `RTP/AVP`, `RTP/AVPF`, or
    /// their SRTP forms `RTP/SAVP`, `RTP/SAVPF` (see [`MediaDesc::is_srtp`]). Other
    /// profiles (DTLS-SRTP's `UDP/TLS/RTP/SAVP`, anything unknown) are not.
    pub fn is_audio_rtp(&self) -> bool {
        self.kind.eq_ignore_ascii_case("audio")
            && self.port != 0
            && ["RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"]
                .iter()
                .any(|p| self.proto.eq_ignore_ascii_case(p))
    }

    /// True if the stream's profile is SRTP (`RTP/SAVP`, `RTP/SAVPF`): its payload is
    /// encrypted and must never be recorded as it arrives.
    pub fn is_srtp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/SAVP") || self.proto.eq_ignore_ascii_case("RTP/SAVPF")
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `o=` line value.
    pub origin: Option<String>,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction.
    pub direction: Option<Direction>,
    /// Media sections in order.
    pub media: Vec<MediaDesc>,
}

fn parse_conn(v: &str, line: usize) -> Result<Option<IpAddr>, ParseError> {
    // c=IN IP4 10.0.0.1[/ttl]
    let mut it = v.split_whitespace();
    let (Some(_net), Some(_atype), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(ParseError::Sdp {
            line,
            reason: "bad c= line".into(),
        });
    };
    let addr = addr.split('/').next().unwrap_or(addr);
    Ok(addr.parse().ok())
}

impl Sdp {
    /// Parses an SDP body (CRLF or LF lines). Unknown lines are skipped.
    pub fn parse(body: &[u8]) -> Result<Sdp, ParseError> {
        let text = std::str::from_utf8(body).map_err(|_| ParseError::Sdp {
            line: 0,
            reason: "not UTF-8".into(),
        })?;
        let mut sdp = Sdp {
            origin: None,
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        let mut saw_v = false;
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.trim_end_matches('\r').trim();
            if line.is_empty() {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(ParseError::Sdp {
                    line: line_no,
                    reason: "line without '='".into(),
                });
            };
            if k.len() != 1 {
                return Err(ParseError::Sdp {
                    line: line_no,
                    reason: format!("bad type {k:.10}"),
                });
            }
            let v = v.trim();
            match (k, sdp.media.last_mut()) {
                ("v", _) => {
                    if v != "0" {
                        return Err(ParseError::Sdp {
                            line: line_no,
                            reason: "v= is not 0".into(),
                        });
                    }
                    saw_v = true;
                }
                ("o", None) => sdp.origin = Some(v.to_owned()),
                ("c", None) => sdp.connection = parse_conn(v, line_no)?,
                ("c", Some(m)) => m.connection = parse_conn(v, line_no)?,
                ("m", _) => {
                    let mut it = v.split_whitespace();
                    let (Some(kind), Some(port), Some(proto)) = (it.next(), it.next(), it.next())
                    else {
                        return Err(ParseError::Sdp {
                            line: line_no,
                            reason: "short m= line".into(),
                        });
                    };
                    let port = port.split('/').next().unwrap_or(port);
                    let port: u16 = port.parse().map_err(|_| ParseError::Sdp {
                        line: line_no,
                        reason: format!("bad port {port:.10}"),
                    })?;
                    sdp.media.push(MediaDesc {
                        kind: kind.to_owned(),
                        port,
                        proto: proto.to_owned(),
                        formats: it.map(str::to_owned).collect(),
                        rtpmap: Vec::new(),
                        fmtp: Vec::new(),
                        direction: None,
                        label: None,
                        connection: None,
                        ptime: None,
                        crypto: Vec::new(),
                        crypto_refused: Vec::new(),
                    });
                }
                ("a", m) => {
                    let (name, val) = v.split_once(':').unwrap_or((v, ""));
                    let dir = Direction::parse(name);
                    match m {
                        None => {
                            if dir.is_some() {
                                sdp.direction = dir;
                            }
                        }
                        Some(m) => {
                            if dir.is_some() {
                                m.direction = dir;
                            }
                            match name {
                                "label" => m.label = Some(val.trim().to_owned()),
                                "ptime" => m.ptime = val.trim().parse().ok(),
                                "crypto" => match SdesCrypto::parse(val) {
                                    Ok(c) => m.crypto.push(c),
                                    Err(e) => m.crypto_refused.push(e),
                                },
                                "rtpmap" => {
                                    let (pt, enc) = val.split_once(' ').unwrap_or((val, ""));
                                    if let Ok(pt) = pt.trim().parse::<u8>() {
                                        let mut e = enc.trim().split('/');
                                        let encoding = e.next().unwrap_or("").to_owned();
                                        let clock_rate =
                                            e.next().and_then(|r| r.parse().ok()).unwrap_or(0);
                                        m.rtpmap.push(RtpMap {
                                            pt,
                                            encoding,
                                            clock_rate,
                                        });
                                    }
                                }
                                "fmtp" => {
                                    let (pt, p) = val.split_once(' ').unwrap_or((val, ""));
                                    if let Ok(pt) = pt.trim().parse::<u8>() {
                                        m.fmtp.push((pt, p.trim().to_owned()));
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !saw_v {
            return Err(ParseError::Sdp {
                line: 1,
                reason: "no v= line".into(),
            });
        }
        Ok(sdp)
    }

    /// Effective direction of media section `i` (media level, else session level, else
    /// sendrecv).
    pub fn direction_of(&self, i: usize) -> Direction {
        self.media
            .get(i)
            .and_then(|m| m.direction)
            .or(self.direction)
            .unwrap_or(Direction::SendRecv)
    }

    /// Effective connection address of media section `i`.
    pub fn connection_of(&self, i: usize) -> Option<IpAddr> {
        self.media
            .get(i)
            .and_then(|m| m.connection)
            .or(self.connection)
    }
}

/// One `m=` line of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerMedia {
    /// Media kind copied from the offer.
    pub kind: String,
    /// Proto copied from the offer.
    pub proto: String,
    /// Our port; 0 rejects the stream.
    pub port: u16,
    /// Chosen codec and its payload type (from the offer); None when rejected.
    pub codec: Option<(Codec, u8)>,
    /// telephone-event PT and fmtp, kept when offered.
    pub telephone_event: Option<(u8, Option<String>)>,
    /// The offer's label, echoed.
    pub label: Option<String>,
    /// Our direction: recvonly, or inactive when the offer is inactive.
    pub direction: Direction,
    /// The offer's format list, echoed on a rejected stream.
    pub offered_formats: Vec<String>,
    /// SRTP: our `a=crypto:` (the offer's tag and suite, our key).
    pub crypto: Option<StreamSrtp>,
}

/// Writes an SDP answer.
pub fn write_answer(session_id: u64, version: u64, addr: IpAddr, media: &[AnswerMedia]) -> String {
    let ip = if addr.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = String::with_capacity(256 + 128 * media.len());
    let _ = write!(
        s,
        "v=0\r\no=callrec {session_id} {version} IN {ip} {addr}\r\ns=callrec\r\nc=IN {ip} {addr}\r\nt=0 0\r\n"
    );
    for m in media {
        match m.codec {
            Some((codec, pt)) => {
                let mut fmts = pt.to_string();
                if let Some((te, _)) = &m.telephone_event {
                    let _ = write!(fmts, " {te}");
                }
                let _ = write!(s, "m={} {} {} {}\r\n", m.kind, m.port, m.proto, fmts);
                let _ = write!(s, "a=rtpmap:{pt} {}/8000\r\n", codec.name());
                if let Some((te, fmtp)) = &m.telephone_event {
                    let _ = write!(s, "a=rtpmap:{te} telephone-event/8000\r\n");
                    if let Some(f) = fmtp {
                        let _ = write!(s, "a=fmtp:{te} {f}\r\n");
                    }
                }
            }
            None => {
                let fmts = if m.offered_formats.is_empty() {
                    "0".to_owned()
                } else {
                    m.offered_formats.join(" ")
                };
                let _ = write!(s, "m={} 0 {} {}\r\n", m.kind, m.proto, fmts);
            }
        }
        if let (Some(c), Some(_)) = (&m.crypto, m.codec) {
            let _ = write!(s, "a=crypto:{}\r\n", c.answer_attribute().as_str());
        }
        if let Some(l) = &m.label {
            let _ = write!(s, "a=label:{l}\r\n");
        }
        let _ = write!(s, "a={}\r\n", m.direction.as_str());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\no=SRC 1 1 IN IP4 10.0.0.2\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\nm=audio 20000 RTP/AVP 8 0 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=label:1\na=sendonly\nm=audio 20002 RTP/AVP 96\na=rtpmap:96 G722/8000\nc=IN IP4 10.0.0.3\na=label:2\na=inactive\n";

    #[test]
    fn parses_offer() {
        let s = Sdp::parse(OFFER.as_bytes()).expect("sdp");
        assert_eq!(s.media.len(), 2);
        assert_eq!(s.media[0].choose_codec(), Some((Codec::Pcma, 8)));
        assert_eq!(s.media[0].telephone_event(), Some((101, Some("0-15"))));
        assert_eq!(s.media[1].choose_codec(), Some((Codec::G722, 96)));
        assert_eq!(s.direction_of(1), Direction::Inactive);
        assert_eq!(s.connection_of(1), "10.0.0.3".parse().ok());
        assert_eq!(s.media[1].label.as_deref(), Some("2"));
    }

    #[test]
    fn answer_reparses() {
        let a = write_answer(
            7,
            1,
            "127.0.0.1".parse().expect("ip"),
            &[AnswerMedia {
                kind: "audio".into(),
                proto: "RTP/AVP".into(),
                port: 30000,
                codec: Some((Codec::Pcmu, 0)),
                telephone_event: Some((101, Some("0-16".into()))),
                label: Some("1".into()),
                direction: Direction::RecvOnly,
                offered_formats: vec![],
                crypto: None,
            }],
        );
        let s = Sdp::parse(a.as_bytes()).expect("reparse");
        assert_eq!(s.media[0].port, 30000);
        assert_eq!(s.direction_of(0), Direction::RecvOnly);
        assert_eq!(s.media[0].choose_codec(), Some((Codec::Pcmu, 0)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Sdp::parse(b"hello").is_err());
        assert!(Sdp::parse(b"v=0\nm=audio x RTP/AVP 0\n").is_err());
        assert!(Sdp::parse(b"o=x\n").is_err());
    }
}
