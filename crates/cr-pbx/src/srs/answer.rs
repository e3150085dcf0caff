//! Our SDP answer: one `m=` line per offered one, with our port, the chosen codec and
//! `recvonly` for a stream we record, port 0 for one we refuse.

use super::StreamInfo;
use crate::common::Transport;
use crate::sdp::{AnswerMedia, Direction, Sdp};
use std::net::IpAddr;

/// The media lines of the answer to `offer` for the session's `streams`.
pub(super) fn answer_media(offer: &Sdp, streams: &[StreamInfo]) -> Vec<AnswerMedia> {
    offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let st = streams.iter().find(|st| st.index == i);
            match st {
                Some(st) if st.local_port != 0 => AnswerMedia {
                    kind: m.kind.clone(),
                    proto: m.proto.clone(),
                    port: st.local_port,
                    codec: st.codec,
                    telephone_event: m
                        .telephone_event()
                        .map(|(p, f)| (p, f.map(str::to_owned))),
                    label: m.label.clone(),
                    direction: if st.active {
                        Direction::RecvOnly
                    } else {
                        Direction::Inactive
                    },
                    offered_formats: m.formats.clone(),
                    crypto: st.srtp.clone(),
                },
                _ => AnswerMedia {
                    kind: m.kind.clone(),
                    proto: m.proto.clone(),
                    port: 0,
                    codec: None,
                    telephone_event: None,
                    label: m.label.clone(),
                    direction: Direction::Inactive,
                    offered_formats: m.formats.clone(),
                    crypto: None,
                },
            }
        })
        .collect()
}

/// `ip` as the host part of a SIP URI or Via (IPv6 in brackets).
pub(super) fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    }
}

/// Our Contact for a dialog over `transport`.
pub(super) fn contact(advertise: IpAddr, port: u16, transport: Transport) -> String {
    format!(
        "<sip:callrec@{}:{};transport={}>",
        host_of(advertise),
        port,
        transport.as_str().to_ascii_lowercase()
    )
}
