//! The RTP side of the driver: what the media channel carries ([`MediaPacket`],
//! [`MediaEvent`]) and how a session's streams become bound, re-keyed and closed sockets
//! in the [`Pump`].

use super::pump::{Pump, StreamRx};
use super::stats::{DriverStats, StreamStats};
use crate::metadata::Role;
use crate::rtp::RtpHeader;
use crate::sdp::Codec;
use crate::srs::{MediaError, SessionId, StreamInfo};
use crate::srtp::{SrtpReceiver, StreamSrtp};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// One RTP packet of an accepted stream, for the audio writers.
#[derive(Debug, Clone)]
pub struct MediaPacket {
    /// Session.
    pub session: SessionId,
    /// m-line index of the stream.
    pub stream_index: usize,
    /// SDP label of the stream.
    pub stream_label: Option<Arc<str>>,
    /// Whose voice (may change when metadata is updated).
    pub role: Role,
    /// Codec negotiated for the stream.
    pub codec: Codec,
    /// RTP header fields.
    pub header: RtpHeader,
    /// The codec payload (CSRC, extension and padding removed).
    pub payload: Vec<u8>,
    /// When the packet arrived.
    pub arrival: Instant,
    /// Where it came from.
    pub source: SocketAddr,
}

/// What the media channel carries: packets, and a marker once a stream's socket is closed
/// (after the session ended or the stream was removed, plus the linger time), so the
/// consumer knows a leg is complete. Both come in order on one channel.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MediaEvent {
    /// One RTP packet.
    Packet(MediaPacket),
    /// No more packets will come for this stream.
    StreamClosed {
        /// Session.
        session: SessionId,
        /// m-line index.
        stream_index: usize,
        /// Packets passed on for this stream in total (= `stats.packets`).
        packets: u64,
        /// What the stream received and refused.
        stats: StreamStats,
        /// Packets dropped because they failed SRTP authentication (forged, or real
        /// audio that could not be decrypted: the recording may miss some).
        srtp_rejected: u64,
    },
}


pub(super) struct StreamShared {
    pub(super) role: AtomicU8,
    pub(super) drop: AtomicBool,
}

fn role_to_u8(r: Role) -> u8 {
    match r {
        Role::Caller => 0,
        Role::Callee => 1,
        Role::Mixed => 2,
        Role::Unknown => 3,
    }
}

pub(super) fn u8_to_role(v: u8) -> Role {
    match v {
        0 => Role::Caller,
        1 => Role::Callee,
        2 => Role::Mixed,
        _ => Role::Unknown,
    }
}

pub(super) struct RtpTask {
    port: u16,
    shared: Arc<StreamShared>,
    pub(super) key: u64,
    /// The SDP offer the receiver follows (see [`StreamInfo::offer`]).
    offer: u32,
    srtp: Option<StreamSrtp>,
}

/// The SRC's announced RTP source, when it can be pinned: an unspecified address
/// (`0.0.0.0`, `::`) or port 0 cannot, and the receiver latches instead.
fn usable_remote(remote: Option<SocketAddr>) -> Option<SocketAddr> {
    remote.filter(|a| !a.ip().is_unspecified() && a.port() != 0)
}

/// The SRTP receiver of a stream: None for plain RTP, Err if its keys cannot be used.
fn srtp_receiver(s: &StreamInfo) -> Result<Option<SrtpReceiver>, ()> {
    match &s.srtp {
        None => Ok(None),
        Some(k) => SrtpReceiver::new(&k.offer).map(Some).ok_or(()),
    }
}


/// How long the SIP task waits for the RTP receiver to take new SRTP keys before it sends
/// the answer that names them.
pub(super) const REKEY_WAIT: Duration = Duration::from_millis(200);

/// Binds, re-keys and closes the RTP streams of session `id`; returns one receiver per
/// re-keyed stream that completes once the RTP receiver uses the new keys.
pub(super) fn update_rtp(
    rtp: &mut HashMap<(SessionId, usize), RtpTask>,
    pump: &mut Pump,
    id: SessionId,
    streams: &[StreamInfo],
    drop_media: bool,
    bind_ip: IpAddr,
    stats: &DriverStats,
) -> (Result<(), MediaError>, Vec<tokio::sync::oneshot::Receiver<()>>) {
    let mut result = Ok(());
    let mut rekeyed = Vec::new();
    // remove streams that are gone or changed port
    let keep: Vec<(usize, u16)> = streams
        .iter()
        .filter(|s| s.local_port != 0)
        .map(|s| (s.index, s.local_port))
        .collect();
    let stale: Vec<_> = rtp
        .iter()
        .filter(|(k, t)| k.0 == id && !keep.contains(&(k.1, t.port)))
        .map(|(k, _)| *k)
        .collect();
    for k in stale {
        if let Some(t) = rtp.remove(&k) {
            pump.close(t.key);
        }
    }
    for s in streams {
        let Some((codec, pt)) = s.codec else { continue };
        if s.local_port == 0 {
            continue;
        }
        if let Some(t) = rtp.get_mut(&(id, s.index)) {
            t.shared.role.store(role_to_u8(s.role), Ordering::Relaxed);
            t.shared.drop.store(drop_media, Ordering::Relaxed);
            if t.offer != s.offer {
                t.offer = s.offer;
                pump.repin(t.key, usable_remote(s.remote));
            }
            if t.srtp != s.srtp {
                // New keys from a re-offer. Keys that cannot be used leave the stream
                // without a receiver: every packet then fails authentication.
                let rx = srtp_receiver(s).unwrap_or_else(|()| {
                    tracing::error!(
                        "SRTP keys of session {id} stream {} cannot be used",
                        s.index
                    );
                    Some(SrtpReceiver::refuse_all())
                });
                rekeyed.push(pump.rekey(t.key, rx));
                t.srtp = s.srtp.clone();
            }
            continue;
        }
        let Ok(srtp_rx) = srtp_receiver(s) else {
            tracing::error!(
                "SRTP keys of session {id} stream {} cannot be used; stream not received",
                s.index
            );
            continue;
        };
        let addr = SocketAddr::new(bind_ip, s.local_port);
        let sock = match bind_rtp(addr) {
            Ok(s) => s,
            Err(e) => {
                stats.bind_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("cannot bind RTP port {addr} for session {id}: {e}");
                if result.is_ok() {
                    result = Err(MediaError::Bind {
                        port: s.local_port,
                        reason: e.to_string(),
                    });
                }
                continue;
            }
        };
        let shared = Arc::new(StreamShared {
            role: AtomicU8::new(role_to_u8(s.role)),
            drop: AtomicBool::new(drop_media),
        });
        let key = pump.open(StreamRx {
            sock,
            session: id,
            index: s.index,
            label: s.label.as_deref().map(Arc::from),
            codec,
            payload_type: pt,
            telephone_event: s.telephone_event,
            remote: usable_remote(s.remote),
            shared: shared.clone(),
            srtp: srtp_rx,
        });
        rtp.insert(
            (id, s.index),
            RtpTask {
                port: s.local_port,
                shared,
                key,
                offer: s.offer,
                srtp: s.srtp.clone(),
            },
        );
    }
    (result, rekeyed)
}


/// Binds an RTP socket with a 1 MiB receive buffer (capped by net.core.rmem_max): a
/// recorder that is briefly starved of CPU must not drop packets that wait in the kernel.
fn bind_rtp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    super::sip_io::bind_udp(addr, 1 << 20)
}
