//! The driver's counters: per stream ([`StreamStats`]) and for the whole driver
//! ([`DriverStats`]), with rate-limited warnings for send errors and dropped messages.

use crate::common::Transport;
use crate::srs::Srs;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Received SIP messages dropped because the queue to the core was full
    /// ([`super::SrsDriverConfig::sip_queue`]; proposed metric
    /// `callrec_sip_dropped_total{reason="queue_full"}`).
    pub sip_dropped_queue_full: AtomicU64,
    /// SIP messages that could not be sent over UDP (proposed metric
    /// `callrec_send_errors_total{transport="udp"}`).
    pub send_errors_udp: AtomicU64,
    /// SIP messages that could not be sent over TCP: no connection to the destination, its
    /// send queue full, or the write failed (`callrec_send_errors_total{transport="tcp"}`).
    pub send_errors_tcp: AtomicU64,
    /// The same over TLS (`callrec_send_errors_total{transport="tls"}`).
    pub send_errors_tls: AtomicU64,
    /// Rate limit of the warnings about send errors.
    send_log: RateLimit,
    /// Rate limit of the warnings about dropped SIP messages.
    drop_log: RateLimit,
}

impl DriverStats {
    pub(super) fn update_from(&self, srs: &Srs) {
        let c = srs.counters();
        let r = Ordering::Relaxed;
        self.rtp_ports_free.store(srs.free_ports() as u64, r);
        self.rtp_ports_total.store(srs.total_ports() as u64, r);
        self.refused_no_ports.store(c.refused_no_ports, r);
        self.refused_source_limit.store(c.refused_source_limit, r);
        self.refused_media_failed.store(c.refused_media_failed, r);
        self.ack_timeouts.store(c.ack_timeouts, r);
    }

    /// Counts a SIP message that could not be sent to `dest` and logs it (one warning per
    /// [`RateLimit::EVERY`], naming how many more there were).
    pub(super) fn send_error(&self, transport: Transport, dest: SocketAddr, why: &dyn std::fmt::Display) {
        let counter = match transport {
            Transport::Udp => &self.send_errors_udp,
            Transport::Tcp => &self.send_errors_tcp,
            Transport::Tls => &self.send_errors_tls,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(more) = self.send_log.allow(Instant::now()) {
            tracing::warn!(
                "SIP message to {dest} over {} not sent: {why} ({more} more send errors since the last warning)",
                transport.as_str()
            );
        }
    }

    /// Counts a received SIP message dropped because the queue to the core was full.
    pub(super) fn sip_dropped(&self, transport: Transport, source: SocketAddr) {
        self.sip_dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        if let Some(more) = self.drop_log.allow(Instant::now()) {
            tracing::warn!(
                "SIP message from {source} over {} dropped: the queue to the SIP core is full ({more} more dropped since the last warning)",
                transport.as_str()
            );
        }
    }
}

/// At most one warning per [`RateLimit::EVERY`]; counts the ones held back.
#[derive(Debug, Default)]
struct RateLimit {
    /// When the last warning was let through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimit {
    /// Time between two warnings of one kind.
    const EVERY: Duration = Duration::from_secs(10);

    /// `Some(held back since the last one)` when a warning may be logged at `now`.
    fn allow(&self, now: Instant) -> Option<u64> {
        let Ok(mut s) = self.state.lock() else { return None };
        match s.0 {
            Some(last) if now.saturating_duration_since(last) < Self::EVERY => {
                s.1 += 1;
                None
            }
            _ => {
                let held = s.1;
                *s = (Some(now), 0);
                Some(held)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_are_counted_per_transport_and_warned_once_per_interval() {
        let stats = DriverStats::default();
        let dest = SocketAddr::from(([192, 0, 2, 7], 5060));
        for _ in 0..3 {
            stats.send_error(Transport::Udp, dest, &"refused");
        }
        stats.send_error(Transport::Tls, dest, &"closed");
        assert_eq!(stats.send_errors_udp.load(Ordering::Relaxed), 3);
        assert_eq!(stats.send_errors_tcp.load(Ordering::Relaxed), 0);
        assert_eq!(stats.send_errors_tls.load(Ordering::Relaxed), 1);
        let t = Instant::now();
        let limit = RateLimit::default();
        assert_eq!(limit.allow(t), Some(0));
        assert_eq!(limit.allow(t + Duration::from_secs(1)), None);
        assert_eq!(limit.allow(t + Duration::from_secs(2)), None);
        assert_eq!(limit.allow(t + RateLimit::EVERY), Some(2));
    }
}

