//! The RTP receiver of the SRS driver: one thread owns every stream's socket.
//!
//! A recorder at 2,000 calls receives 200,000 datagrams a second on 4,000 sockets, one
//! packet per socket every 20 ms. A task per socket costs a reactor wake-up, a task switch
//! and a channel hop per packet; here one thread wakes every [`TICK`], asks a
//! level-triggered epoll set which sockets hold data (hundreds at once), reads each ready
//! socket until it is empty — at most [`RECV_PER_ROUND`] datagrams, so that one flooded
//! port cannot starve the others — and hands the whole round to the application as one
//! [`MediaEvent`] batch. When a socket still held data after its share, the next round
//! starts at once instead of sleeping: a port flooded with junk is read as fast as the
//! junk comes, and the real packets among it are taken in order, in time.
//! The sockets' kernel buffers (1 MiB each) hold the packets in between; nothing is lost by
//! waiting a tick, and the leg writers reorder over 200 ms anyway.
//!
//! Each stream takes packets only from the address and port the SRC announced in its SDP
//! (or, where that address is unusable, from the first source that sends a valid packet:
//! symmetric-RTP latching), and only of one SSRC, locked at the first packet and released
//! by a new SDP offer. Everything else is counted by reason and dropped
//! (docs/security.md, "RTP injection and floods").

use super::media::{StreamShared, u8_to_role};
use super::{DriverStats, MediaEvent, MediaPacket, StreamStats};
use crate::rtp::parse_rtp;
use crate::sdp::Codec;
use crate::srs::SessionId;
use crate::srtp::{SrtpReceiver, SrtpReject};
use rustix::event::epoll;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long the thread sleeps between rounds when it has caught up.
pub(super) const TICK: Duration = Duration::from_millis(10);
/// Ready sockets taken per `epoll_wait`.
const EVENTS: usize = 4096;
/// Datagrams read at most from a socket when it closes (more than its buffer holds).
const DRAIN_MAX: usize = 1 << 16;
/// Datagrams read at most from one socket in one round (a stream sends one per 20 ms; a
/// flooded socket gets this share, then the others get theirs, then it is read again).
pub(super) const RECV_PER_ROUND: usize = 64;

/// A stream to receive.
pub(super) struct StreamRx {
    pub sock: UdpSocket,
    pub session: SessionId,
    pub index: usize,
    pub label: Option<Arc<str>>,
    pub codec: Codec,
    pub payload_type: u8,
    /// telephone-event payload type (dropped without counting it as rejected).
    pub telephone_event: Option<u8>,
    /// The source announced in the SDP, when usable (else: latch to the first source).
    pub remote: Option<SocketAddr>,
    pub shared: Arc<StreamShared>,
    /// SRTP: every packet is authenticated and decrypted before anything else looks at it.
    pub srtp: Option<SrtpReceiver>,
}

pub(super) enum PumpCmd {
    Open(u64, StreamRx),
    /// A new SDP offer: its source (when usable) and a fresh SSRC lock.
    Repin(u64, Option<SocketAddr>),
    /// New SRTP keys for an open stream (a re-offer changed them); the sender is told
    /// once they are in use.
    Rekey(u64, Option<SrtpReceiver>, oneshot::Sender<()>),
    /// Keep receiving for the linger time, then close and report [`MediaEvent::StreamClosed`].
    Close(u64),
}

/// The application's handle on the pump thread; dropping it stops the thread.
pub(super) struct Pump {
    cmds: Sender<PumpCmd>,
    next: u64,
}

impl Pump {
    pub fn start(media: mpsc::Sender<Vec<MediaEvent>>, linger: Duration, stats: Arc<DriverStats>) -> std::io::Result<Pump> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let (cmds, rx) = channel();
        std::thread::Builder::new()
            .name("cr-pbx-rtp".into())
            .spawn(move || run(ep, rx, media, linger, stats))?;
        Ok(Pump { cmds, next: 0 })
    }

    /// Starts receiving `stream`; the returned key closes it.
    pub fn open(&mut self, stream: StreamRx) -> u64 {
        self.next += 1;
        let _ = self.cmds.send(PumpCmd::Open(self.next, stream));
        self.next
    }

    /// Switches stream `key` to new SRTP keys; the receiver completes once they are in use.
    pub fn rekey(&self, key: u64, srtp: Option<SrtpReceiver>) -> oneshot::Receiver<()> {
        let (done, applied) = oneshot::channel();
        let _ = self.cmds.send(PumpCmd::Rekey(key, srtp, done));
        applied
    }

    pub fn close(&self, key: u64) {
        let _ = self.cmds.send(PumpCmd::Close(key));
    }

    /// A new SDP offer for stream `key`: follow its source, accept a new SSRC.
    pub fn repin(&self, key: u64, remote: Option<SocketAddr>) {
        let _ = self.cmds.send(PumpCmd::Repin(key, remote));
    }
}

/// Where a stream takes packets from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The address and port of the SDP.
    Announced(SocketAddr),
    /// The SDP's address is unusable: the first source of a valid packet, once seen.
    Latched(Option<SocketAddr>),
}

/// Sequence bookkeeping of the locked SSRC (RFC 3550 A.3): packets expected minus
/// received is what was lost on the way or in an overflowing socket buffer.
#[derive(Debug, Default, Clone, Copy)]
struct SeqCount {
    base: i64,
    max: i64,
    last: u16,
    received: u64,
}

impl SeqCount {
    /// Counting starts at the first packet of an SSRC.
    fn start(seq: u16) -> Self {
        SeqCount { base: 0, max: 0, last: seq, received: 1 }
    }

    /// One more packet of the SSRC: extends the highest sequence number (across the wrap
    /// at 65535); an older one (reordered, duplicated) only counts as received.
    fn record(&mut self, seq: u16) {
        let delta = seq.wrapping_sub(self.last) as i16;
        if delta > 0 {
            self.max += delta as i64;
            self.last = seq;
        }
        self.received += 1;
    }

    fn lost(&self) -> u64 {
        if self.received == 0 {
            return 0;
        }
        ((self.max - self.base + 1).max(0) as u64).saturating_sub(self.received)
    }
}

struct Stream {
    rx: StreamRx,
    source: Source,
    ssrc: Option<u32>,
    seq: SeqCount,
    stats: StreamStats,
    /// Packets that failed SRTP authentication.
    srtp_rejected: u64,
}

impl Stream {
    fn new(rx: StreamRx) -> Self {
        let source = match rx.remote {
            Some(a) => Source::Announced(a),
            None => Source::Latched(None),
        };
        Stream { rx, source, ssrc: None, seq: SeqCount::default(), stats: StreamStats::default(), srtp_rejected: 0 }
    }

    /// A new offer: a usable address replaces the source; an unusable one (hold with
    /// 0.0.0.0) keeps the source we had. Either way the next packet sets the SSRC.
    fn repin(&mut self, remote: Option<SocketAddr>) {
        if let Some(a) = remote {
            self.source = Source::Announced(a);
        }
        self.stats.lost += self.seq.lost();
        self.seq = SeqCount::default();
        self.ssrc = None;
    }

    fn closed_stats(&self) -> StreamStats {
        let mut s = self.stats;
        s.lost += self.seq.lost();
        s
    }
}

fn run(
    ep: rustix::fd::OwnedFd,
    cmds: Receiver<PumpCmd>,
    media: mpsc::Sender<Vec<MediaEvent>>,
    linger: Duration,
    stats: Arc<DriverStats>,
) {
    let mut streams: std::collections::HashMap<u64, Stream> = std::collections::HashMap::new();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
    let mut buf = vec![0u8; 2048];
    let mut batch: Vec<MediaEvent> = Vec::new();
    // Streams told to close, with the end of their linger time.
    let mut closing: Vec<(u64, Instant)> = Vec::new();
    let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    let mut round = Instant::now();
    loop {
        loop {
            match cmds.try_recv() {
                Ok(PumpCmd::Open(key, rx)) => {
                    let data = epoll::EventData::new_u64(key);
                    if let Err(e) = epoll::add(&ep, &rx.sock, data, epoll::EventFlags::IN) {
                        tracing::warn!("cannot watch the RTP socket of session {}: {e}", rx.session);
                        continue;
                    }
                    streams.insert(key, Stream::new(rx));
                }
                Ok(PumpCmd::Repin(key, remote)) => {
                    if let Some(s) = streams.get_mut(&key) {
                        s.repin(remote);
                    }
                }
                Ok(PumpCmd::Rekey(key, srtp, done)) => {
                    if let Some(s) = streams.get_mut(&key) {
                        let old = s.rx.srtp.take();
                        s.rx.srtp = srtp.map(|new| new.replacing(old));
                    }
                    let _ = done.send(());
                }
                Ok(PumpCmd::Close(key)) => closing.push((key, Instant::now() + linger)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        events.clear();
        if let Err(e) = epoll::wait(&ep, rustix::buffer::spare_capacity(&mut events), Some(&zero)) {
            if e != rustix::io::Errno::INTR {
                tracing::error!("RTP receiver: epoll_wait failed: {e}");
                std::thread::sleep(TICK);
            }
            continue;
        }
        let now = Instant::now();
        // A socket left with data after its share: no sleep before the next round.
        let mut busy = false;
        for ev in &events {
            let key = ev.data.u64();
            let Some(s) = streams.get_mut(&key) else { continue };
            let mut emptied = false;
            for _ in 0..RECV_PER_ROUND {
                match receive_one(s, &mut buf, now, &stats) {
                    Received::Packet(p) => batch.push(MediaEvent::Packet(p)),
                    Received::Ignored => {}
                    Received::Nothing => {
                        emptied = true;
                        break;
                    }
                }
            }
            busy |= !emptied;
        }
        // Streams whose linger time is over: take all that is still queued (when the
        // application fell behind, that can be seconds of audio), then close.
        closing.retain(|(key, until)| {
            if *until > now {
                return true;
            }
            let Some(s) = streams.get_mut(key) else { return false };
            // Bounded by what a socket buffer holds, in case a sender never stops.
            for _ in 0..DRAIN_MAX {
                match receive_one(s, &mut buf, now, &stats) {
                    Received::Packet(p) => batch.push(MediaEvent::Packet(p)),
                    Received::Ignored => {}
                    Received::Nothing => break,
                }
            }
            let _ = epoll::delete(&ep, &s.rx.sock);
            let stats = s.closed_stats();
            batch.push(MediaEvent::StreamClosed {
                session: s.rx.session,
                stream_index: s.rx.index,
                packets: stats.packets,
                stats,
                srtp_rejected: s.srtp_rejected,
            });
            streams.remove(key);
            false
        });
        if !batch.is_empty() {
            let full = std::mem::take(&mut batch);
            if media.blocking_send(full).is_err() {
                return;
            }
        }
        // Caught up: sleep out the rest of the tick so the next round finds many sockets
        // ready at once. A full event list, or a socket not emptied, means more are
        // waiting: go on at once.
        if events.len() < EVENTS && !busy {
            let next = round + TICK;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        round = Instant::now();
    }
}

enum Received {
    Packet(MediaPacket),
    Ignored,
    Nothing,
}

/// Why a datagram was refused (the `reason` label of `callrec_rtp_rejected_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    Source,
    Ssrc,
    PayloadType,
    Malformed,
}

fn count_reject(s: &mut Stream, stats: &DriverStats, why: Reject) {
    stats.rtp_ignored.fetch_add(1, Ordering::Relaxed);
    let (total, mine) = match why {
        Reject::Source => (&stats.rtp_rejected_source, &mut s.stats.rejected_source),
        Reject::Ssrc => (&stats.rtp_rejected_ssrc, &mut s.stats.rejected_ssrc),
        Reject::PayloadType => (&stats.rtp_rejected_payload_type, &mut s.stats.rejected_payload_type),
        Reject::Malformed => (&stats.rtp_rejected_malformed, &mut s.stats.rejected_malformed),
    };
    total.fetch_add(1, Ordering::Relaxed);
    *mine += 1;
}

/// An IPv4 peer seen through an IPv6 socket compares equal to its IPv4 form.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// Reads one datagram of `s` (the socket is non-blocking) and applies the stream's rules:
/// source, RTP syntax, payload type, SSRC, in that order.
fn receive_one(s: &mut Stream, buf: &mut [u8], now: Instant, stats: &DriverStats) -> Received {
    let (n, from) = match s.rx.sock.recv_from(buf) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Received::Nothing,
        // ICMP errors and the like: the socket is still good.
        Err(_) => return Received::Ignored,
    };
    let from = canonical(from);
    match s.source {
        Source::Announced(a) | Source::Latched(Some(a)) if canonical(a) != from => {
            count_reject(s, stats, Reject::Source);
            return Received::Ignored;
        }
        _ => {}
    }
    // Only what comes from the stream's source is authenticated: a flood from elsewhere
    // costs no decryption.
    let plain;
    let packet: &[u8] = match &mut s.rx.srtp {
        None => &buf[..n],
        // SRTCP (rtcp-mux) is not recorded; anything else must authenticate.
        Some(_) if n >= 2 && (200..=204).contains(&buf[1]) => {
            stats.rtp_ignored.fetch_add(1, Ordering::Relaxed);
            return Received::Ignored;
        }
        Some(srtp) => match srtp.unprotect(&buf[..n]) {
            Ok(p) => {
                plain = p;
                &plain
            }
            Err(SrtpReject::Auth) => {
                stats.srtp_rejected_auth.fetch_add(1, Ordering::Relaxed);
                s.srtp_rejected += 1;
                return Received::Ignored;
            }
            Err(SrtpReject::Replay) => {
                stats.srtp_rejected_replay.fetch_add(1, Ordering::Relaxed);
                return Received::Ignored;
            }
        },
    };
    let Ok((header, payload)) = parse_rtp(packet) else {
        count_reject(s, stats, Reject::Malformed);
        return Received::Ignored;
    };
    if s.rx.shared.drop.load(Ordering::Relaxed) {
        stats.rtp_ignored.fetch_add(1, Ordering::Relaxed);
        return Received::Ignored;
    }
    let event = Some(header.payload_type) == s.rx.telephone_event;
    let audio = header.payload_type == s.rx.payload_type;
    match s.ssrc {
        Some(locked) if locked != header.ssrc => {
            count_reject(s, stats, Reject::Ssrc);
            return Received::Ignored;
        }
        // Every packet of the sender (telephone-event too) counts in its sequence.
        Some(_) => s.seq.record(header.sequence),
        // The first packet of a negotiated payload type sets the SSRC (and, where the SDP
        // address was unusable, the source).
        None if audio || event => {
            s.ssrc = Some(header.ssrc);
            if s.source == Source::Latched(None) {
                s.source = Source::Latched(Some(from));
            }
            s.seq = SeqCount::start(header.sequence);
        }
        None => {}
    }
    if event {
        stats.rtp_ignored.fetch_add(1, Ordering::Relaxed);
        return Received::Ignored;
    }
    if !audio {
        count_reject(s, stats, Reject::PayloadType);
        return Received::Ignored;
    }
    stats.rtp_packets.fetch_add(1, Ordering::Relaxed);
    s.stats.packets += 1;
    let rx = &s.rx;
    Received::Packet(MediaPacket {
        session: rx.session,
        stream_index: rx.index,
        stream_label: rx.label.clone(),
        role: u8_to_role(rx.shared.role.load(Ordering::Relaxed)),
        codec: rx.codec,
        header,
        payload: payload.to_vec(),
        arrival: now,
        source: from,
    })
}

#[cfg(test)]
mod tests {
    use super::SeqCount;

    fn count(seqs: &[u16]) -> u64 {
        let mut c = SeqCount::start(seqs[0]);
        for &s in &seqs[1..] {
            c.record(s);
        }
        c.lost()
    }

    // Guards against a sequence wrap (65535 -> 0) read as 65,535 lost packets, and against
    // reordering or duplicates read as loss.
    #[test]
    fn lost_packets_are_counted_across_the_sequence_wrap() {
        assert_eq!(count(&[65533, 65534, 65535, 0, 2, 3]), 1, "1 is missing");
        assert_eq!(count(&[10, 12, 11, 13]), 0, "reordered, none missing");
        assert_eq!(count(&[10, 11, 11, 12]), 0, "a duplicate hides nothing lost");
        assert_eq!(count(&[7]), 0);
    }
}
