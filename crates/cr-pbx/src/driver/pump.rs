//! The RTP receiver of the SRS driver: one thread owns every stream's socket.
//!
//! A recorder at 2,000 calls receives 200,000 datagrams a second on 4,000 sockets, one
//! packet per socket every 20 ms. A task per socket costs a reactor wake-up, a task switch
//! and a channel hop per packet; here one thread wakes every [`TICK`], asks a
//! level-triggered epoll set which sockets hold data (hundreds at once), reads one datagram
//! from each and hands the whole round to the application as one [`MediaEvent`] batch. A
//! socket with more than one datagram waiting stays ready and is read again at once.
//! The sockets' kernel buffers (1 MiB each) hold the packets in between; nothing is lost by
//! waiting a tick, and the leg writers reorder over 200 ms anyway.

use super::{DriverStats, MediaEvent, MediaPacket, StreamShared, u8_to_role};
use crate::rtp::parse_rtp;
use crate::sdp::Codec;
use crate::srs::SessionId;
use crate::srtp::{SrtpReceiver, SrtpReject};
use rustix::event::epoll;
use std::net::UdpSocket;
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

/// A stream to receive.
pub(super) struct StreamRx {
    pub sock: UdpSocket,
    pub session: SessionId,
    pub index: usize,
    pub label: Option<Arc<str>>,
    pub codec: Codec,
    pub payload_type: u8,
    pub shared: Arc<StreamShared>,
    /// SRTP: every packet is authenticated and decrypted before anything else looks at it.
    pub srtp: Option<SrtpReceiver>,
}

pub(super) enum PumpCmd {
    Open(u64, StreamRx),
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
}

struct Stream {
    rx: StreamRx,
    packets: u64,
    /// Packets that failed SRTP authentication.
    srtp_rejected: u64,
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
                    let s = Stream { rx, packets: 0, srtp_rejected: 0 };
                    streams.insert(key, s);
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
        for ev in &events {
            let key = ev.data.u64();
            let Some(s) = streams.get_mut(&key) else { continue };
            if let Received::Packet(p) = receive_one(s, &mut buf, now, &stats) {
                batch.push(MediaEvent::Packet(p));
            }
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
            batch.push(MediaEvent::StreamClosed {
                session: s.rx.session,
                stream_index: s.rx.index,
                packets: s.packets,
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
        // ready at once. A full event list means more are waiting: go on at once.
        if events.len() < EVENTS {
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

/// Reads one datagram of `s` (the socket is non-blocking).
fn receive_one(s: &mut Stream, buf: &mut [u8], now: Instant, stats: &DriverStats) -> Received {
    let (n, from) = match s.rx.sock.recv_from(buf) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Received::Nothing,
        // ICMP errors and the like: the socket is still good.
        Err(_) => return Received::Ignored,
    };
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
    let rx = &s.rx;
    let Ok((header, payload)) = parse_rtp(packet) else {
        stats.rtp_ignored.fetch_add(1, Ordering::Relaxed);
        return Received::Ignored;
    };
    if header.payload_type != rx.payload_type || rx.shared.drop.load(Ordering::Relaxed) {
        stats.rtp_ignored.fetch_add(1, Ordering::Relaxed);
        return Received::Ignored;
    }
    stats.rtp_packets.fetch_add(1, Ordering::Relaxed);
    s.packets += 1;
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
