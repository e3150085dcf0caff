//! Thin tokio drivers around the sans-I/O cores.
//!
//! * [`start_srs`]: listens for SIP on UDP/TCP/TLS (`[pbx.siprec] listen`), runs an [`Srs`],
//!   binds one RTP socket per accepted stream from `rtp_ports`, and hands the application
//!   an [`SrsHandle`]: a channel of [`Event`]s, a channel of [`MediaEvent`]s (packets and stream-closed markers), and a
//!   command sender for accept/decline/hangup. SRTP streams are authenticated and
//!   decrypted in the RTP receiver before they reach the channel.
//! * [`run_calls`]: places N SIPREC calls with the [`Src`] core and sends two G.711
//!   streams per call at 50 packets/s each (used by `cr-loadgen` and the demo call source).

use crate::client::{CallSpec, Src, SrcCallId, SrcConfig, SrcEvent, SrcOutput};
use crate::common::{Input, Timers, Transport};
use crate::error::DriverError;
use crate::metadata::Role;
use crate::rtp::{PcmSource, RtpHeader, RtpSender, encode_g711};
use crate::sdp::Codec;
use crate::sip::StreamFramer;
use crate::srs::{Decline, Event, MediaError, Output, SessionId, Srs, SrsConfig, StreamInfo};
use crate::srtp::{SrtpPolicy, SrtpReceiver, StreamSrtp};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod pump;
mod tls;
use pump::{Pump, StreamRx};
pub use tls::{TlsSettings, parse_fingerprint, server_config as tls_server_config};

/// A listen address: `udp:0.0.0.0:5060`, `tcp:127.0.0.1:5060` or `tls:0.0.0.0:5061`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    /// Transport.
    pub transport: Transport,
    /// Address.
    pub addr: SocketAddr,
}

/// Parses `udp:ADDR:PORT` / `tcp:ADDR:PORT` / `tls:ADDR:PORT` (as in `[pbx.siprec] listen`).
pub fn parse_listen(value: &str) -> Result<ListenAddr, DriverError> {
    let err = |reason: &str| DriverError::ListenAddress {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let (t, rest) = value
        .split_once(':')
        .ok_or_else(|| err("missing transport prefix"))?;
    let transport = match t.to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        _ => return Err(err("transport must be udp, tcp or tls")),
    };
    let addr: SocketAddr = rest.parse().map_err(|_| err("address must be IP:PORT"))?;
    Ok(ListenAddr { transport, addr })
}

/// Parses `rtp_ports` (`30000-39999`): returns (low, high), low rounded up to even.
pub fn parse_port_range(value: &str) -> Result<(u16, u16), DriverError> {
    let err = |reason: &str| DriverError::PortRange {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let (a, b) = value.split_once('-').ok_or_else(|| err("missing '-'"))?;
    let lo: u16 = a
        .trim()
        .parse()
        .map_err(|_| err("low end is not a port number"))?;
    let hi: u16 = b
        .trim()
        .parse()
        .map_err(|_| err("high end is not a port number"))?;
    let lo = lo + lo % 2;
    if lo < 1024 || hi < lo + 1 {
        return Err(err(
            "range must lie above 1023 and hold at least one even port pair",
        ));
    }
    Ok((lo, hi))
}

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

/// What one stream's socket received over its life: packets passed on, packets refused by
/// reason (see `callrec_rtp_rejected_total` in docs/reference.md), and packets of the
/// accepted SSRC that never came (sequence gaps: lost on the way, or dropped by an
/// overflowing socket buffer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Packets passed on to the application.
    pub packets: u64,
    /// Refused: not from the source the SDP announced (or the latched one).
    pub rejected_source: u64,
    /// Refused: from the right source, but another SSRC than the one locked.
    pub rejected_ssrc: u64,
    /// Refused: a payload type neither the stream's codec nor telephone-event.
    pub rejected_payload_type: u64,
    /// Refused: not an RTP packet.
    pub rejected_malformed: u64,
    /// Packets of the accepted SSRC missing from the sequence.
    pub lost: u64,
}

impl StreamStats {
    /// Packets refused for coming from elsewhere (source or SSRC): someone else sent to
    /// this stream's port.
    pub fn foreign(&self) -> u64 {
        self.rejected_source + self.rejected_ssrc
    }

    /// All packets refused.
    pub fn rejected(&self) -> u64 {
        self.foreign() + self.rejected_payload_type + self.rejected_malformed
    }
}

/// Commands to the SRS task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Accept and record.
    Accept(SessionId),
    /// Decline.
    Decline(SessionId, Decline),
    /// Send BYE.
    Hangup(SessionId),
}

/// Driver settings.
#[derive(Debug, Clone)]
pub struct SrsDriverConfig {
    /// `udp:ADDR:PORT` / `tcp:ADDR:PORT` values.
    pub listen: Vec<String>,
    /// `LOW-HIGH`.
    pub rtp_ports: String,
    /// Address to write into SDP/Contact; default: the first listen IP if it is not
    /// unspecified, else the host's primary IP, else 127.0.0.1.
    pub advertise: Option<IpAddr>,
    /// Capacity of the media channel in batches (one batch per 10 ms round of the RTP
    /// receiver); when it is full the receiver waits and packets queue in the sockets.
    pub media_queue: usize,
    /// How long a stream's socket keeps receiving after its session ended (BYE) or the
    /// stream was removed, for packets still in flight. Default 300 ms.
    pub linger: Duration,
    /// Sessions one source IP may have waiting for a decision or an ACK; more INVITEs get
    /// 503 with Retry-After. Default 50 ([`SrsConfig::max_pending_per_source`]).
    pub max_pending_per_source: usize,
    /// A SIP/TCP connection that brings no complete SIP message (or CRLF keep-alive) for
    /// this long is closed. Default 120 s.
    pub tcp_idle_timeout: Duration,
    /// SIP/TCP connections open at once; one more is closed at once. Default 1,024.
    pub tcp_max_connections: usize,
    /// Plain RTP, SRTP or both (`[pbx.siprec] srtp`); default [`SrtpPolicy::default`].
    pub srtp: SrtpPolicy,
    /// Certificate, key and client checks for `tls:` listen addresses (required by them).
    pub tls: Option<TlsSettings>,
}

impl SrsDriverConfig {
    /// Settings with a media queue of 256 batches (2.5 s).
    pub fn new(listen: Vec<String>, rtp_ports: impl Into<String>) -> Self {
        SrsDriverConfig {
            listen,
            rtp_ports: rtp_ports.into(),
            advertise: None,
            media_queue: 256,
            linger: Duration::from_millis(300),
            max_pending_per_source: 50,
            tcp_idle_timeout: Duration::from_secs(120),
            tcp_max_connections: 1024,
            srtp: SrtpPolicy::default(),
            tls: None,
        }
    }
}

/// What the application holds of a running SRS.
#[derive(Debug)]
pub struct SrsHandle {
    /// Events of the core (NewSession must be answered with a [`Command`]).
    pub events: mpsc::UnboundedReceiver<Event>,
    /// RTP of accepted streams in batches, in arrival order (telephone-event and media of
    /// declined-but-accepted sessions are dropped here already).
    pub media: mpsc::Receiver<Vec<MediaEvent>>,
    /// Commands.
    pub commands: mpsc::UnboundedSender<Command>,
    /// Bound SIP addresses (useful with port 0).
    pub local_addrs: Vec<ListenAddr>,
    /// Counters.
    pub stats: Arc<DriverStats>,
    task: JoinHandle<()>,
}

impl SrsHandle {
    /// Stops the driver (sockets close).
    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// Driver counters.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// RTP packets passed on.
    pub rtp_packets: AtomicU64,
    /// RTP packets dropped for any reason: telephone-event, dropped media, and everything
    /// counted in the `rtp_rejected_*` counters.
    pub rtp_ignored: AtomicU64,
    /// Refused: not from the stream's announced (or latched) source.
    pub rtp_rejected_source: AtomicU64,
    /// Refused: another SSRC than the stream's locked one.
    pub rtp_rejected_ssrc: AtomicU64,
    /// Refused: unexpected payload type.
    pub rtp_rejected_payload_type: AtomicU64,
    /// Refused: not an RTP packet.
    pub rtp_rejected_malformed: AtomicU64,
    /// SIP messages received.
    pub sip_in: AtomicU64,
    /// RTP sockets that could not be bound.
    pub bind_failures: AtomicU64,
    /// SIP/TCP accepts that failed (e.g. `EMFILE`: no descriptor left).
    pub tcp_accept_errors: AtomicU64,
    /// SIP/TCP connections closed at once because `tcp_max_connections` were open.
    pub tcp_refused: AtomicU64,
    /// SIP/TCP connections closed after `tcp_idle_timeout` without a SIP message.
    pub tcp_idle_closed: AtomicU64,
    /// Even RTP ports of the range free now (gauge; one call needs two).
    pub rtp_ports_free: AtomicU64,
    /// Even RTP ports of the range.
    pub rtp_ports_total: AtomicU64,
    /// INVITEs answered 503: no RTP port free.
    pub refused_no_ports: AtomicU64,
    /// INVITEs answered 503: the source had `max_pending_per_source` unanswered INVITEs.
    pub refused_source_limit: AtomicU64,
    /// Accepted calls answered 503: an RTP socket could not be bound.
    pub refused_media_failed: AtomicU64,
    /// Sessions ended because our 200 OK was never acknowledged.
    pub ack_timeouts: AtomicU64,
    /// SRTP packets dropped because they failed authentication (`callrec_srtp_rejected_total{reason="auth"}`).
    pub srtp_rejected_auth: AtomicU64,
    /// SRTP packets dropped as replays (`callrec_srtp_rejected_total{reason="replay"}`).
    pub srtp_rejected_replay: AtomicU64,
}

impl DriverStats {
    fn update_from(&self, srs: &Srs) {
        let c = srs.counters();
        let r = Ordering::Relaxed;
        self.rtp_ports_free.store(srs.free_ports() as u64, r);
        self.rtp_ports_total.store(srs.total_ports() as u64, r);
        self.refused_no_ports.store(c.refused_no_ports, r);
        self.refused_source_limit.store(c.refused_source_limit, r);
        self.refused_media_failed.store(c.refused_media_failed, r);
        self.ack_timeouts.store(c.ack_timeouts, r);
    }
}

struct StreamShared {
    role: AtomicU8,
    drop: AtomicBool,
}

fn role_to_u8(r: Role) -> u8 {
    match r {
        Role::Caller => 0,
        Role::Callee => 1,
        Role::Mixed => 2,
        Role::Unknown => 3,
    }
}

fn u8_to_role(v: u8) -> Role {
    match v {
        0 => Role::Caller,
        1 => Role::Callee,
        2 => Role::Mixed,
        _ => Role::Unknown,
    }
}

struct RtpTask {
    port: u16,
    shared: Arc<StreamShared>,
    key: u64,
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

fn primary_ip() -> IpAddr {
    // Connecting a UDP socket sends nothing; it only selects the route's source address.
    let guess = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        s.connect("192.0.2.1:9")?;
        s.local_addr()
    });
    match guess {
        Ok(a) if !a.ip().is_unspecified() => a.ip(),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

type TcpWriters = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

/// Starts the SRS driver on the current tokio runtime.
pub async fn start_srs(cfg: SrsDriverConfig) -> Result<SrsHandle, DriverError> {
    let listens: Vec<ListenAddr> = cfg
        .listen
        .iter()
        .map(|l| parse_listen(l))
        .collect::<Result<_, _>>()?;
    if listens.is_empty() {
        return Err(DriverError::ListenAddress {
            value: String::new(),
            reason: "no listen address".into(),
        });
    }
    let rtp_ports = parse_port_range(&cfg.rtp_ports)?;
    let stats = Arc::new(DriverStats::default());
    let (sip_tx, mut sip_rx) = mpsc::unbounded_channel::<(SocketAddr, Transport, Vec<u8>)>();
    let writers: TcpWriters = Arc::new(Mutex::new(HashMap::new()));
    let mut udp: Option<Arc<UdpSocket>> = None;
    let mut bound = Vec::new();
    for l in &listens {
        match l.transport {
            Transport::Udp => {
                let s = bind_udp(l.addr, 4 << 20)
                    .and_then(UdpSocket::from_std)
                    .map_err(|e| DriverError::Bind {
                        addr: l.addr.to_string(),
                        source: e,
                    })?;
                let s = Arc::new(s);
                bound.push(ListenAddr {
                    transport: Transport::Udp,
                    addr: s.local_addr()?,
                });
                let rx = s.clone();
                let tx = sip_tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        match rx.recv_from(&mut buf).await {
                            Ok((n, from)) => {
                                if tx.send((from, Transport::Udp, buf[..n].to_vec())).is_err() {
                                    break;
                                }
                            }
                            Err(e) => tracing::debug!("SIP UDP receive error: {e}"),
                        }
                    }
                });
                if udp.is_none() {
                    udp = Some(s);
                }
            }
            Transport::Tcp => {
                let lst = TcpListener::bind(l.addr)
                    .await
                    .map_err(|e| DriverError::Bind {
                        addr: l.addr.to_string(),
                        source: e,
                    })?;
                bound.push(ListenAddr {
                    transport: Transport::Tcp,
                    addr: lst.local_addr()?,
                });
                let tx = sip_tx.clone();
                let writers = writers.clone();
                let limits = TcpLimits { idle: cfg.tcp_idle_timeout, max: cfg.tcp_max_connections };
                tokio::spawn(accept_loop(lst, None, tx, writers, limits, stats.clone()));
            }
            Transport::Tls => {
                let settings = cfg.tls.as_ref().ok_or_else(|| DriverError::Tls {
                    key: "tls_certificate",
                    reason: format!(
                        "listen address tls:{} needs tls_certificate and tls_key",
                        l.addr
                    ),
                })?;
                let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(settings)?);
                let lst = TcpListener::bind(l.addr)
                    .await
                    .map_err(|e| DriverError::Bind {
                        addr: l.addr.to_string(),
                        source: e,
                    })?;
                bound.push(ListenAddr {
                    transport: Transport::Tls,
                    addr: lst.local_addr()?,
                });
                let tx = sip_tx.clone();
                let writers = writers.clone();
                let limits = TcpLimits { idle: cfg.tcp_idle_timeout, max: cfg.tcp_max_connections };
                tokio::spawn(accept_loop(lst, Some(acceptor), tx, writers, limits, stats.clone()));
            }
        }
    }
    let first = bound[0].addr;
    let advertise = cfg.advertise.unwrap_or_else(|| {
        if first.ip().is_unspecified() {
            primary_ip()
        } else {
            first.ip()
        }
    });
    let rtp_bind_ip = if first.ip().is_unspecified() {
        first.ip()
    } else {
        advertise
    };
    let sip_port = bound
        .iter()
        .find(|b| b.transport == Transport::Udp)
        .unwrap_or(&bound[0])
        .addr
        .port();
    let mut core_cfg = SrsConfig::new(advertise, sip_port);
    core_cfg.rtp_ports = rtp_ports;
    core_cfg.max_pending_per_source = cfg.max_pending_per_source.max(1);
    core_cfg.srtp = cfg.srtp;
    for b in &bound {
        let ports = &mut core_cfg.transport_ports;
        if !ports.iter().any(|(t, _)| *t == b.transport) {
            ports.push((b.transport, b.addr.port()));
        }
    }
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (media_tx, media_rx) = mpsc::channel(cfg.media_queue.max(4));
    let mut pump = Pump::start(media_tx, cfg.linger, stats.clone())?;
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Command>();
    let stats2 = stats.clone();
    let mut srs = Srs::new(core_cfg);
    for b in &bound {
        srs.reserve_port(b.addr.port());
    }
    // The gauges are right before the first SIP message (health reads them).
    stats2.update_from(&srs);
    let task = tokio::spawn(async move {
        let mut rtp: HashMap<(SessionId, usize), RtpTask> = HashMap::new();
        let mut next_timeout = Instant::now() + Duration::from_secs(3600);
        loop {
            let sleep = tokio::time::sleep_until(next_timeout.into());
            tokio::select! {
                m = sip_rx.recv() => {
                    let Some((from, tr, bytes)) = m else { break };
                    stats2.sip_in.fetch_add(1, Ordering::Relaxed);
                    srs.handle_input(Input::Datagram { source: from, transport: tr, bytes: &bytes }, Instant::now());
                }
                c = cmd_rx.recv() => {
                    let now = Instant::now();
                    match c {
                        Some(Command::Accept(id)) => srs.accept(id, now),
                        Some(Command::Decline(id, how)) => srs.decline(id, how, now),
                        Some(Command::Hangup(id)) => srs.hangup(id, now),
                        None => {}
                    }
                }
                _ = sleep => {
                    srs.handle_input(Input::Timeout, Instant::now());
                }
            }
            loop {
                match srs.poll_output() {
                    Output::Transmit {
                        dest,
                        transport,
                        bytes,
                    } => match transport {
                        Transport::Udp => {
                            if let Some(u) = &udp {
                                let _ = u.send_to(&bytes, dest).await;
                            }
                        }
                        Transport::Tcp | Transport::Tls => {
                            let w = writers.lock().ok().and_then(|m| m.get(&dest).cloned());
                            match w {
                                Some(w) => {
                                    let _ = w.send(bytes);
                                }
                                None => {
                                    tracing::debug!("no TCP connection to {dest}; message dropped")
                                }
                            }
                        }
                    },
                    Output::Event(e) => {
                        match &e {
                            Event::StreamsChanged {
                                id,
                                streams,
                                drop_media,
                            } => {
                                let (ready, rekeyed) = update_rtp(
                                    &mut rtp,
                                    &mut pump,
                                    *id,
                                    streams,
                                    *drop_media,
                                    rtp_bind_ip,
                                    &stats2,
                                );
                                // The answer with the new keys leaves only once the RTP
                                // receiver decrypts with them (bounded, in case it is stuck).
                                for done in rekeyed {
                                    let _ = tokio::time::timeout(REKEY_WAIT, done).await;
                                }
                                // After accept the 200 OK waits for this (no 200 without
                                // bound sockets); after a re-INVITE the core ignores it.
                                srs.media_ready(*id, ready, Instant::now());
                            }
                            Event::SessionEnded { id, .. } => {
                                let keys: Vec<_> =
                                    rtp.keys().filter(|k| k.0 == *id).copied().collect();
                                for k in keys {
                                    if let Some(t) = rtp.remove(&k) {
                                        pump.close(t.key);
                                    }
                                }
                            }
                            _ => {}
                        }
                        let _ = ev_tx.send(e);
                    }
                    Output::Timeout(t) => {
                        next_timeout = t;
                        stats2.update_from(&srs);
                        break;
                    }
                }
            }
        }
    });
    Ok(SrsHandle {
        events: ev_rx,
        media: media_rx,
        commands: cmd_tx,
        local_addrs: bound,
        stats,
        task,
    })
}

/// Binds an RTP socket with a 1 MiB receive buffer (capped by net.core.rmem_max): a
/// recorder that is briefly starved of CPU must not drop packets that wait in the kernel.
fn bind_rtp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    bind_udp(addr, 1 << 20)
}

/// A non-blocking UDP socket with the given receive buffer (best effort; the kernel caps
/// it at net.core.rmem_max). A SIP socket gets 4 MiB so call bursts are not dropped.
fn bind_udp(addr: SocketAddr, rcvbuf: usize) -> std::io::Result<std::net::UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = s.set_recv_buffer_size(rcvbuf);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ ((std::process::id() as u64) << 32)
}

/// Limits of the SIP/TCP and SIP/TLS listeners.
#[derive(Clone, Copy)]
struct TcpLimits {
    idle: Duration,
    max: usize,
}

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts SIP/TCP (or, with `tls`, SIP/TLS) connections for as long as the listener
/// exists. A failed accept — above all `EMFILE`/`ENFILE` when descriptors run out — is
/// logged once per burst and retried after a growing pause (10 ms to 1 s), never ends the
/// loop: the listener is back as soon as descriptors are free again.
async fn accept_loop(
    lst: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::UnboundedSender<(SocketAddr, Transport, Vec<u8>)>,
    writers: TcpWriters,
    limits: TcpLimits,
    stats: Arc<DriverStats>,
) {
    let name = if tls.is_some() { "TLS" } else { "TCP" };
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut pause = Duration::from_millis(10);
    let mut failing = false;
    loop {
        match lst.accept().await {
            Ok((conn, peer)) => {
                if failing {
                    tracing::info!("SIP {name} listener accepts connections again");
                    failing = false;
                }
                pause = Duration::from_millis(10);
                if open.load(Ordering::Relaxed) >= limits.max {
                    stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("SIP {name} connection from {peer} closed: {} connections are open already", limits.max);
                    drop(conn);
                    continue;
                }
                open.fetch_add(1, Ordering::Relaxed);
                let conn_open = OpenConn(open.clone());
                let (tx, writers, stats) = (tx.clone(), writers.clone(), stats.clone());
                match &tls {
                    None => spawn_stream_conn(conn, peer, Transport::Tcp, tx, writers, limits.idle, conn_open, stats),
                    Some(acceptor) => {
                        let accept = acceptor.accept(conn);
                        tokio::spawn(async move {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, accept).await {
                                Ok(Ok(stream)) => {
                                    spawn_stream_conn(stream, peer, Transport::Tls, tx, writers, limits.idle, conn_open, stats)
                                }
                                // rustls' reason names the check that failed, never key material
                                Ok(Err(e)) => tracing::info!("SIP TLS handshake from {peer} refused: {e}"),
                                Err(_) => tracing::info!("SIP TLS handshake from {peer} timed out"),
                            }
                        });
                    }
                }
            }
            Err(e) => {
                stats.tcp_accept_errors.fetch_add(1, Ordering::Relaxed);
                if !failing {
                    tracing::error!("SIP {name} listener cannot accept connections: {e}; retrying with back-off");
                    failing = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// One open SIP connection, counted against `tcp_max_connections` until dropped.
struct OpenConn(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one SIP connection (TCP, or TLS after its handshake): frames the stream into
/// messages for the core and writes what the core sends to `peer`.
#[allow(clippy::too_many_arguments)]
fn spawn_stream_conn<S>(
    conn: S,
    peer: SocketAddr,
    transport: Transport,
    tx: mpsc::UnboundedSender<(SocketAddr, Transport, Vec<u8>)>,
    writers: TcpWriters,
    idle: Duration,
    open: OpenConn,
    stats: Arc<DriverStats>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    if let Ok(mut m) = writers.lock() {
        m.insert(peer, wtx);
    }
    tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        // Counted as open until this task ends, however it ends.
        let _open = open;
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16384];
        // Only complete messages and keep-alives count as activity, so a client that
        // trickles one byte at a time is closed as surely as one that sends nothing.
        let mut deadline = tokio::time::Instant::now() + idle;
        loop {
            let read = tokio::select! {
                r = rd.read(&mut buf) => r,
                _ = tokio::time::sleep_until(deadline) => {
                    stats.tcp_idle_closed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("closing SIP {transport:?} connection from {peer}: no SIP message for {idle:?}");
                    break;
                }
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if buf[..n].iter().all(|b| *b == b'\r' || *b == b'\n') {
                        deadline = tokio::time::Instant::now() + idle;
                    }
                    framer.push(&buf[..n]);
                    loop {
                        match framer.next_message() {
                            Ok(Some(m)) => {
                                deadline = tokio::time::Instant::now() + idle;
                                let _ = tx.send((peer, transport, m));
                            }
                            Ok(None) => break,
                            Err(e) => {
                                // the error text may quote SIP headers (numbers, URIs: personal
                                // data), so it is not logged
                                let _ = e;
                                tracing::info!(
                                    "closing SIP TCP connection from {peer}: stream cannot be framed"
                                );
                                if let Ok(mut m) = writers.lock() {
                                    m.remove(&peer);
                                }
                                return;
                            }
                        }
                    }
                }
            }
        }
        if let Ok(mut m) = writers.lock() {
            m.remove(&peer);
        }
    });
}

/// How long the SIP task waits for the RTP receiver to take new SRTP keys before it sends
/// the answer that names them.
const REKEY_WAIT: Duration = Duration::from_millis(200);

/// Binds, re-keys and closes the RTP streams of session `id`; returns one receiver per
/// re-keyed stream that completes once the RTP receiver uses the new keys.
fn update_rtp(
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

// ------------------------------------------------------------------- client driver

/// What [`run_calls`] should do.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The SRS (UDP).
    pub target: SocketAddr,
    /// Number of calls (all concurrent once started).
    pub calls: usize,
    /// Media duration of each call.
    pub duration: Duration,
    /// Call start rate (calls per second).
    pub rate: f64,
    /// PCMU or PCMA.
    pub codec: Codec,
    /// Audio of the caller's stream (the callee's is the same source at a different tone
    /// when it is a tone).
    pub caller_source: PcmSource,
    /// Audio of the callee's stream.
    pub callee_source: PcmSource,
    /// Local IP to send from.
    pub local_ip: IpAddr,
    /// Caller number of call `i` is `caller_prefix` + i.
    pub caller_prefix: String,
    /// Callee number of call `i` is `callee_prefix` + i.
    pub callee_prefix: String,
    /// Threads that pace and send RTP. Each thread sends from two sockets, one for the
    /// caller's streams and one for the callee's, and the SDP offer of a call names the
    /// ports of those it uses: the SRS sees RTP from exactly the announced source.
    pub pacer_threads: usize,
}

impl LoadSpec {
    /// Defaults: PCMU, 440/880 Hz tones, 1 call/s... adjust fields as needed.
    pub fn new(target: SocketAddr, calls: usize, duration: Duration) -> Self {
        LoadSpec {
            target,
            calls,
            duration,
            rate: 100.0,
            codec: Codec::Pcmu,
            caller_source: PcmSource::Tone {
                freq: 440.0,
                amplitude: 8000.0,
            },
            callee_source: PcmSource::Tone {
                freq: 880.0,
                amplitude: 8000.0,
            },
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            caller_prefix: "+4930555".into(),
            callee_prefix: "2".into(),
            pacer_threads: 2,
        }
    }
}

/// Result of one call of [`run_calls`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallResult {
    /// Index (0-based).
    pub index: usize,
    /// The SRS answered 200.
    pub answered: bool,
    /// Final failure status, if any.
    pub failure: Option<(u16, String)>,
    /// RTP packets sent per stream (caller, callee).
    pub packets_sent: [u64; 2],
    /// Time from INVITE to 200 OK.
    pub setup: Option<Duration>,
    /// The call ended cleanly (BYE answered).
    pub ended_cleanly: bool,
}

struct TxStream {
    call: usize,
    /// 0 (caller) or 1 (callee): which of the pacer's two sockets sends it.
    leg: usize,
    dest: rustix::net::SocketAddrAny,
    sender: RtpSender,
    due: Instant,
    remaining: u64,
    sent: u64,
}

/// Places `spec.calls` SIPREC calls over UDP and streams RTP; returns per-call results.
pub async fn run_calls(spec: LoadSpec) -> Result<Vec<CallResult>, DriverError> {
    let sip = Arc::new(
        bind_udp(SocketAddr::new(spec.local_ip, 0), 4 << 20)
            .and_then(UdpSocket::from_std)
            .map_err(|e| DriverError::Bind {
                addr: format!("{}:0", spec.local_ip),
                source: e,
            })?,
    );
    let local = sip.local_addr()?;
    let mut src = Src::new(SrcConfig {
        local,
        timers: Timers::default(),
        seed: seed(),
    });
    let threads = spec.pacer_threads.max(1);
    let (rtp_done_tx, mut rtp_done_rx) = mpsc::unbounded_channel::<(usize, usize, u64)>();
    let mut pacer_tx = Vec::new();
    let mut pacers = Vec::new();
    // The source ports of each pacer's caller and callee sockets: what the offers name.
    let mut pacer_ports: Vec<[u16; 2]> = Vec::new();
    for _ in 0..threads {
        let (tx, rx) = std::sync::mpsc::channel::<TxStream>();
        let done = rtp_done_tx.clone();
        let bind = || {
            bind_pacer(spec.local_ip).map_err(|e| DriverError::Bind {
                addr: format!("{}:0", spec.local_ip),
                source: e,
            })
        };
        let socks = [bind()?, bind()?];
        pacer_ports.push([socks[0].local_addr()?.port(), socks[1].local_addr()?.port()]);
        pacer_tx.push(tx);
        pacers.push(std::thread::spawn(move || pace_rtp(rx, done, socks)));
    }
    drop(rtp_done_tx);
    let packets_per_stream = (spec.duration.as_millis() / 20) as u64;
    let pt = spec.codec.static_pt().unwrap_or(0); // L16 is offered as PCMU (CallSpec)
    let audio = [
        encode_g711(&spec.caller_source, pt),
        encode_g711(&spec.callee_source, pt),
    ];
    let mut streams_of_call: Vec<usize> = vec![0; spec.calls];
    let mut id_of_call: Vec<Option<SrcCallId>> = vec![None; spec.calls];
    let mut results: Vec<CallResult> = (0..spec.calls)
        .map(|i| CallResult {
            index: i,
            ..Default::default()
        })
        .collect();
    let mut by_id: HashMap<SrcCallId, (usize, Instant)> = HashMap::new();
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / spec.rate.max(0.001));
    let mut started = 0usize;
    let mut finished = 0usize;
    let mut hangups: Vec<(Instant, SrcCallId)> = Vec::new();
    let mut streams_done = 0usize;
    let mut streams_expected = 0usize;
    let mut buf = vec![0u8; 65536];
    let mut next_timeout;
    loop {
        let now = Instant::now();
        // start calls
        while started < spec.calls && start + interval.mul_f64(started as f64) <= now {
            let i = started;
            // Leg `l` of call `i` is sent by pacer (2i + l) % threads from its socket `l`.
            let ports = [pacer_ports[(2 * i) % threads][0], pacer_ports[(2 * i + 1) % threads][1]];
            let cs = CallSpec {
                target: spec.target,
                transport: Transport::Udp,
                caller: format!("{}{}", spec.caller_prefix, i),
                callee: format!("{}{}", spec.callee_prefix, i),
                rtp_ports: ports,
                codec: spec.codec,
            };
            let id = src.start_call(cs, now);
            by_id.insert(id, (i, now));
            id_of_call[i] = Some(id);
            started += 1;
        }
        // due hangups
        hangups.sort_by_key(|h| h.0);
        while let Some(&(t, id)) = hangups.first() {
            if t > now {
                break;
            }
            hangups.remove(0);
            src.hangup(id, now);
        }
        // drain outputs
        loop {
            match src.poll_output() {
                SrcOutput::Transmit { dest, bytes, .. } => {
                    let _ = sip.send_to(&bytes, dest).await;
                }
                SrcOutput::Event(e) => match e {
                    SrcEvent::Answered { id, rtp } => {
                        if let Some(&(i, t0)) = by_id.get(&id) {
                            let now = Instant::now();
                            results[i].answered = true;
                            results[i].setup = Some(now - t0);
                            let mut legs = 0;
                            for leg in 0..2 {
                                let Some(Some(dest)) = rtp.get(leg) else {
                                    continue;
                                };
                                let ssrc = (i as u32).wrapping_mul(2654435761) ^ (leg as u32 + 1);
                                streams_expected += 1;
                                legs += 1;
                                let _ = pacer_tx[(2 * i + leg) % threads].send(TxStream {
                                    call: i,
                                    leg,
                                    dest: rustix::net::SocketAddrAny::from(*dest),
                                    sender: RtpSender::from_encoded(pt, ssrc, audio[leg].clone()),
                                    due: now,
                                    remaining: packets_per_stream,
                                    sent: 0,
                                });
                            }
                            streams_of_call[i] = legs;
                            if legs == 0 {
                                hangups.push((now + spec.duration, id));
                            }
                        }
                    }
                    SrcEvent::Failed { id, status, reason } => {
                        if let Some(&(i, _)) = by_id.get(&id) {
                            results[i].failure = Some((status, reason));
                            finished += 1;
                        }
                    }
                    SrcEvent::Ended { id, by_remote } => {
                        if let Some(&(i, _)) = by_id.get(&id) {
                            results[i].ended_cleanly = !by_remote;
                            finished += 1;
                        }
                    }
                },
                SrcOutput::Timeout(t) => {
                    next_timeout = t;
                    break;
                }
            }
        }
        while let Ok((call, leg, n)) = rtp_done_rx.try_recv() {
            results[call].packets_sent[leg] = n;
            streams_done += 1;
            streams_of_call[call] = streams_of_call[call].saturating_sub(1);
            if streams_of_call[call] == 0
                && let Some(id) = id_of_call[call]
            {
                // BYE shortly after the last packet of both streams
                hangups.push((Instant::now() + Duration::from_millis(50), id));
            }
        }
        if finished >= spec.calls && streams_done >= streams_expected {
            break;
        }
        let mut wake = next_timeout;
        if started < spec.calls {
            wake = wake.min(start + interval.mul_f64(started as f64));
        }
        if let Some(h) = hangups.iter().map(|h| h.0).min() {
            wake = wake.min(h);
        }
        let wake = wake
            .max(Instant::now())
            .min(Instant::now() + Duration::from_millis(200));
        tokio::select! {
            r = sip.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    src.handle_input(Input::Datagram { source: from, transport: Transport::Udp, bytes: &buf[..n] }, Instant::now());
                }
            }
            d = rtp_done_rx.recv() => {
                if let Some((call, leg, n)) = d {
                    results[call].packets_sent[leg] = n;
                    streams_done += 1;
                    streams_of_call[call] = streams_of_call[call].saturating_sub(1);
                    if streams_of_call[call] == 0
                        && let Some(id) = id_of_call[call]
                    {
                        hangups.push((Instant::now() + Duration::from_millis(50), id));
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                src.handle_input(Input::Timeout, Instant::now());
            }
        }
    }
    drop(pacer_tx);
    let _ = tokio::task::spawn_blocking(move || {
        for p in pacers {
            let _ = p.join();
        }
    })
    .await;
    Ok(results)
}

/// The socket a pacer thread sends all its streams' packets from (4 MiB send buffer,
/// best effort).
fn bind_pacer(ip: IpAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))?;
    let _ = socket2::SockRef::from(&s).set_send_buffer_size(4 << 20);
    Ok(s)
}

/// Packets sent with one `sendmmsg`.
const SEND_BATCH: usize = 128;

/// Packets waiting for the next `sendmmsg`, and which stream each belongs to.
struct SendBatch {
    bufs: Vec<Vec<u8>>,
    dests: Vec<rustix::net::SocketAddrAny>,
    owners: Vec<(usize, usize)>,
    /// Streams (call, leg) of packets the kernel refused.
    refused: Vec<(usize, usize)>,
}

impl SendBatch {
    fn push(&mut self, sock: &std::net::UdpSocket, s: &mut TxStream) {
        let n = self.owners.len();
        if self.bufs.len() == n {
            self.bufs.push(Vec::with_capacity(200));
        }
        s.sender.next_packet(&mut self.bufs[n]);
        self.dests.push(s.dest.clone());
        self.owners.push((s.call, s.leg));
        if self.owners.len() == SEND_BATCH {
            self.flush(sock);
        }
    }

    fn flush(&mut self, sock: &std::net::UdpSocket) {
        use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, sendmmsg};
        let n = self.owners.len();
        if n == 0 {
            return;
        }
        let iovs: Vec<[std::io::IoSlice<'_>; 1]> =
            self.bufs[..n].iter().map(|b| [std::io::IoSlice::new(b)]).collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
            (0..n).map(|_| SendAncillaryBuffer::default()).collect();
        let mut msgs: Vec<MMsgHdr<'_>> = self
            .dests
            .iter()
            .zip(&iovs)
            .zip(controls.iter_mut())
            .map(|((d, iov), c)| MMsgHdr::new_with_addr(d, iov, c))
            .collect();
        let mut done = 0;
        while done < n {
            match sendmmsg(sock, &mut msgs[done..], SendFlags::empty()) {
                Ok(0) => break,
                Ok(k) => done += k,
                // Interrupted: try again; any other error refuses the first packet.
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => {
                    self.refused.push(self.owners[done]);
                    done += 1;
                }
            }
        }
        self.refused.extend_from_slice(&self.owners[done..]);
        drop(msgs);
        self.dests.clear();
        self.owners.clear();
    }
}

/// RTP pacing thread: every stream sends one 20 ms packet when due; a late thread
/// catches up (never drops), so each stream sends exactly `remaining` packets. Caller
/// streams leave from `socks[0]`, callee streams from `socks[1]`.
fn pace_rtp(
    cmds: std::sync::mpsc::Receiver<TxStream>,
    done: mpsc::UnboundedSender<(usize, usize, u64)>,
    socks: [std::net::UdpSocket; 2],
) {
    // Streams sit in one of 20 one-millisecond slots by their send time (a stream sends
    // every 20 ms, so it keeps its slot): each wake-up looks only at the streams now due,
    // and their packets leave in batches of up to 128 per system call.
    const SLOTS: u64 = 20;
    let base = Instant::now();
    let ms_of = |t: Instant| t.saturating_duration_since(base).as_millis() as u64;
    let mut slots: Vec<Vec<TxStream>> = (0..SLOTS).map(|_| Vec::new()).collect();
    let new_batch = || SendBatch { bufs: Vec::new(), dests: Vec::new(), owners: Vec::new(), refused: Vec::new() };
    let mut batches = [new_batch(), new_batch()];
    let mut live = 0usize;
    let mut next = 0u64;
    let mut closed = false;
    loop {
        loop {
            match cmds.try_recv() {
                Ok(s) => {
                    // Never into a slot already passed in this round.
                    let at = ms_of(s.due).max(next);
                    slots[(at % SLOTS) as usize].push(s);
                    live += 1;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed && live == 0 {
            return;
        }
        let now = ms_of(Instant::now());
        while next <= now {
            let slot = &mut slots[(next % SLOTS) as usize];
            for s in slot.iter_mut() {
                while ms_of(s.due) <= now && s.remaining > 0 {
                    let leg = s.leg.min(1);
                    batches[leg].push(&socks[leg], s);
                    s.sent += 1;
                    s.remaining -= 1;
                    s.due += Duration::from_millis(20);
                }
            }
            // Every packet of this slot is out before a stream reports its count.
            for (batch, sock) in batches.iter_mut().zip(&socks) {
                batch.flush(sock);
            }
            let refused: Vec<(usize, usize)> = batches.iter_mut().flat_map(|b| b.refused.drain(..)).collect();
            for (call, leg) in refused {
                if let Some(s) = slot.iter_mut().find(|s| s.call == call && s.leg == leg) {
                    s.sent -= 1;
                }
            }
            let mut i = 0;
            while i < slot.len() {
                if slot[i].remaining == 0 {
                    let s = slot.swap_remove(i);
                    let _ = done.send((s.call, s.leg, s.sent));
                    live -= 1;
                    continue;
                }
                i += 1;
            }
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
