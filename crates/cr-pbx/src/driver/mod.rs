//! Thin tokio drivers around the sans-I/O cores.
//!
//! * [`start_srs`]: listens for SIP on UDP/TCP/TLS (`[pbx.siprec] listen`), runs an [`Srs`],
//!   binds one RTP socket per accepted stream from `rtp_ports`, and hands the application
//!   an [`SrsHandle`]: a channel of [`Event`]s, a channel of [`MediaEvent`]s (packets and stream-closed markers), and a
//!   command sender for accept/decline/hangup. SRTP streams are authenticated and
//!   decrypted in the RTP receiver before they reach the channel.
//! * `run_calls` (feature `loadgen`): places N SIPREC calls with the [`crate::Src`] core and
//!   sends two G.711 streams per call at 50 packets/s each (used by `cr-loadgen` and the
//!   demo call source).
//!
//! Files: `sip_io` (SIP sockets, the bounded queue to the core, sending), `media` (RTP
//! sockets of a session's streams), `pump` (the RTP receiver thread), `stats` (counters),
//! `tls`, `load` (the load generator).

use crate::common::{Input, Transport};
use crate::error::DriverError;
use crate::srs::{Decline, Event, Output, SessionId, Srs, SrsConfig};
use crate::srtp::SrtpPolicy;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[cfg(feature = "loadgen")]
mod load;
mod media;
mod pump;
mod sip_io;
mod stats;
mod tls;

#[cfg(feature = "loadgen")]
pub use load::{CallResult, Impairment, LoadSpec, run_calls};
pub use media::{MediaEvent, MediaPacket};
pub use stats::{DriverStats, StreamStats};
pub use tls::{TlsSettings, parse_fingerprint, server_config as tls_server_config};

use media::{REKEY_WAIT, RtpTask, update_rtp};
use pump::Pump;
use sip_io::{SipMessageIn, TcpLimits, TcpWriters, accept_loop, bind_udp, transmit, udp_receive_loop};

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
    /// Capacity of the queue of received SIP messages waiting for the core. When it is
    /// full a UDP message is dropped and counted ([`DriverStats::sip_dropped_queue_full`];
    /// the SRC retransmits), a TCP/TLS connection waits up to 1 s before its message is
    /// dropped. Default 4,096.
    pub sip_queue: usize,
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
            sip_queue: 4096,
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
    let (sip_tx, mut sip_rx) = mpsc::channel::<SipMessageIn>(cfg.sip_queue.max(1));
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
                tokio::spawn(udp_receive_loop(s.clone(), sip_tx.clone(), stats.clone()));
                if udp.is_none() {
                    udp = Some(s);
                }
            }
            Transport::Tcp | Transport::Tls => {
                let acceptor = match l.transport {
                    Transport::Tls => {
                        let settings = cfg.tls.as_ref().ok_or_else(|| DriverError::Tls {
                            key: "tls_certificate",
                            reason: format!(
                                "listen address tls:{} needs tls_certificate and tls_key",
                                l.addr
                            ),
                        })?;
                        Some(tokio_rustls::TlsAcceptor::from(tls::server_config(settings)?))
                    }
                    _ => None,
                };
                let lst = TcpListener::bind(l.addr)
                    .await
                    .map_err(|e| DriverError::Bind {
                        addr: l.addr.to_string(),
                        source: e,
                    })?;
                bound.push(ListenAddr {
                    transport: l.transport,
                    addr: lst.local_addr()?,
                });
                let tx = sip_tx.clone();
                let writers = writers.clone();
                let limits = TcpLimits { idle: cfg.tcp_idle_timeout, max: cfg.tcp_max_connections };
                tokio::spawn(accept_loop(lst, acceptor, tx, writers, limits, stats.clone()));
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
                    } => transmit(udp.as_deref(), &writers, &stats2, dest, transport, bytes).await,
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

