//! SIP sockets of the driver: the UDP receive loop, the TCP/TLS listeners and their
//! connections, and sending what the core transmits. Received messages reach the core
//! through one bounded queue ([`SipIn`]); what cannot be queued or sent is counted in
//! [`DriverStats`].

use super::stats::DriverStats;
use crate::common::Transport;
use crate::sip::StreamFramer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// One received SIP message: where from, over what, the bytes.
pub(super) type SipMessageIn = (SocketAddr, Transport, Vec<u8>);

/// The bounded queue of received SIP messages to the core.
pub(super) type SipIn = mpsc::Sender<SipMessageIn>;

/// The send queue of each open SIP/TCP or SIP/TLS connection, by peer.
pub(super) type TcpWriters = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>;

/// Messages one connection may have waiting to be written; one more is a send error.
const CONN_SEND_QUEUE: usize = 1024;

/// How long a TCP/TLS connection waits for room in a full [`SipIn`] queue (its peer is
/// held back by TCP meanwhile) before the message is dropped and counted.
const STREAM_QUEUE_WAIT: Duration = Duration::from_secs(1);


/// A non-blocking UDP socket with the given receive buffer (best effort; the kernel caps
/// it at net.core.rmem_max). A SIP socket gets 4 MiB so call bursts are not dropped.
pub(super) fn bind_udp(addr: SocketAddr, rcvbuf: usize) -> std::io::Result<std::net::UdpSocket> {
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


/// Receives SIP over UDP for as long as the core listens: a message that finds the queue
/// full is dropped and counted (the SRC retransmits over UDP), never waited for.
pub(super) async fn udp_receive_loop(sock: Arc<UdpSocket>, tx: SipIn, stats: Arc<DriverStats>) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => match tx.try_send((from, Transport::Udp, buf[..n].to_vec())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => stats.sip_dropped(Transport::Udp, from),
                Err(TrySendError::Closed(_)) => break,
            },
            Err(e) => tracing::debug!("SIP UDP receive error: {e}"),
        }
    }
}

/// Queues a message of a TCP/TLS connection for the core: waits up to
/// [`STREAM_QUEUE_WAIT`] for room (TCP has no retransmission to fall back on), then drops
/// and counts it.
async fn forward(tx: &SipIn, m: SipMessageIn, stats: &DriverStats) {
    let (peer, transport) = (m.0, m.1);
    match tx.try_send(m) {
        Ok(()) | Err(TrySendError::Closed(_)) => {}
        Err(TrySendError::Full(m)) => {
            if tokio::time::timeout(STREAM_QUEUE_WAIT, tx.send(m)).await.is_err() {
                stats.sip_dropped(transport, peer);
            }
        }
    }
}

/// Sends one message of the core: UDP from `udp` (the first UDP listener), TCP/TLS on
/// the open connection to `dest`. Whatever cannot be sent is counted and logged.
pub(super) async fn transmit(
    udp: Option<&UdpSocket>,
    writers: &TcpWriters,
    stats: &DriverStats,
    dest: SocketAddr,
    transport: Transport,
    bytes: Vec<u8>,
) {
    match transport {
        Transport::Udp => match udp {
            Some(u) => {
                if let Err(e) = u.send_to(&bytes, dest).await {
                    stats.send_error(transport, dest, &e);
                }
            }
            None => stats.send_error(transport, dest, &"no UDP listen address"),
        },
        Transport::Tcp | Transport::Tls => {
            let w = writers.lock().ok().and_then(|m| m.get(&dest).cloned());
            match w {
                Some(w) => match w.try_send(bytes) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => stats.send_error(transport, dest, &"the connection's send queue is full"),
                    Err(TrySendError::Closed(_)) => stats.send_error(transport, dest, &"the connection is closed"),
                },
                None => stats.send_error(transport, dest, &"no connection to it"),
            }
        }
    }
}

/// Limits of the SIP/TCP and SIP/TLS listeners.
#[derive(Clone, Copy)]
pub(super) struct TcpLimits {
    pub(super) idle: Duration,
    pub(super) max: usize,
}

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts SIP/TCP (or, with `tls`, SIP/TLS) connections for as long as the listener
/// exists. A failed accept — above all `EMFILE`/`ENFILE` when descriptors run out — is
/// logged once per burst and retried after a growing pause (10 ms to 1 s), never ends the
/// loop: the listener is back as soon as descriptors are free again.
pub(super) async fn accept_loop(
    lst: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: SipIn,
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
    tx: SipIn,
    writers: TcpWriters,
    idle: Duration,
    open: OpenConn,
    stats: Arc<DriverStats>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(CONN_SEND_QUEUE);
    if let Ok(mut m) = writers.lock() {
        m.insert(peer, wtx);
    }
    let wstats = stats.clone();
    tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if let Err(e) = wr.write_all(&b).await {
                wstats.send_error(transport, peer, &e);
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
                                forward(&tx, (peer, transport, m), &stats).await;
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

