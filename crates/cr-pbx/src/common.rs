//! Types shared by the server (SRS) and the client (SRC) cores: transports, inputs,
//! transmits, RFC 3261 timers, tag generation, client transactions.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// SIP transport of a datagram or stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: the core retransmits.
    Udp,
    /// TCP: reliable; the driver frames the stream (see [`crate::StreamFramer`]).
    Tcp,
    /// TLS over TCP: reliable, framed like TCP.
    Tls,
}

impl Transport {
    /// `UDP` / `TCP` as in a Via header.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
    /// True for reliable transports.
    pub fn reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }
}

/// Input to a core.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// One SIP message (a UDP datagram, or one framed message of a TCP stream).
    Datagram {
        /// Where it came from (responses go back there).
        source: SocketAddr,
        /// Which transport.
        transport: Transport,
        /// The message bytes.
        bytes: &'a [u8],
    },
    /// Time has passed (a timeout returned by `poll_output` is due).
    Timeout,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: SocketAddr,
    /// Transport to use (for TCP: the connection to/from `dest`).
    pub transport: Transport,
    /// The message.
    pub bytes: Vec<u8>,
}

/// RFC 3261 timer values (defaults T1 500 ms, T2 4 s, T4 5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// Maximum time a message stays in the network.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Deterministic tag/branch generator (splitmix64 of a seed and a counter): the core
/// reads no randomness for them; the driver seeds it. (The one exception in the core: SRTP
/// answer keys come from the OS CSPRNG, see `srtp.rs`.)
#[derive(Debug, Clone)]
pub(crate) struct TagGen {
    state: u64,
}

impl TagGen {
    pub(crate) fn new(seed: u64) -> Self {
        TagGen { state: seed }
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn tag(&mut self) -> String {
        format!("{:x}", self.next_u64())
    }
    pub(crate) fn branch(&mut self) -> String {
        format!("z9hG4bK{:x}", self.next_u64())
    }
}

/// Where a core takes unpredictable numbers from (the RTP ports it hands out).
///
/// The cores read no randomness of their own: [`OsRandom`] (the operating system's CSPRNG)
/// is what the driver passes; tests pass a fixed sequence.
pub trait RandomSource: Send + std::fmt::Debug {
    /// The next 64 uniformly random bits.
    fn next_u64(&mut self) -> u64;
}

/// A uniformly random number in `0..bound` (`bound` > 0) by rejection sampling, so that
/// no value is more likely than another.
pub(crate) fn random_below(rng: &mut dyn RandomSource, bound: u64) -> u64 {
    if bound <= 1 {
        return 0;
    }
    // Largest multiple of `bound` that fits: values above it would skew the result.
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return v % bound;
        }
    }
}

/// The operating system's CSPRNG (`getrandom`). Should it ever fail, the numbers come from
/// a generator seeded with the time and the process id, and a warning is logged once.
#[derive(Debug, Default)]
pub struct OsRandom {
    fallback: Option<TagGen>,
}

impl OsRandom {
    /// The OS source.
    pub fn new() -> Self {
        OsRandom::default()
    }
}

impl RandomSource for OsRandom {
    fn next_u64(&mut self) -> u64 {
        if self.fallback.is_none() {
            let mut b = [0u8; 8];
            if getrandom::fill(&mut b).is_ok() {
                return u64::from_le_bytes(b);
            }
            tracing::warn!("the OS random source failed; RTP ports come from a time-seeded generator");
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            self.fallback = Some(TagGen::new(t ^ ((std::process::id() as u64) << 32)));
        }
        self.fallback.as_mut().map_or(0, TagGen::next_u64)
    }
}

/// A client transaction (RFC 3261 §17.1) — INVITE (Timer A/B) or non-INVITE (Timer E/F).
#[derive(Debug, Clone)]
pub(crate) struct ClientTx {
    pub(crate) branch: String,
    pub(crate) dest: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) bytes: Vec<u8>,
    pub(crate) invite: bool,
    /// A provisional response was received.
    pub(crate) proceeding: bool,
    pub(crate) retx_at: Option<Instant>,
    pub(crate) interval: Duration,
    pub(crate) deadline: Instant,
}

impl ClientTx {
    pub(crate) fn new(
        branch: String,
        method: &str,
        dest: SocketAddr,
        transport: Transport,
        bytes: Vec<u8>,
        timers: &Timers,
        now: Instant,
    ) -> Self {
        let retx_at = (!transport.reliable()).then(|| now + timers.t1);
        ClientTx {
            branch,
            dest,
            transport,
            bytes,
            invite: method == "INVITE",
            proceeding: false,
            retx_at,
            interval: timers.t1,
            deadline: now + timers.t1 * 64,
        }
    }

    pub(crate) fn transmit(&self) -> Transmit {
        Transmit {
            dest: self.dest,
            transport: self.transport,
            bytes: self.bytes.clone(),
        }
    }

    /// Handles a provisional response.
    pub(crate) fn on_provisional(&mut self, timers: &Timers, now: Instant) {
        self.proceeding = true;
        if self.invite {
            self.retx_at = None;
        } else if self.retx_at.is_some() {
            // Timer E continues at T2 in Proceeding.
            self.interval = timers.t2;
            self.retx_at = Some(now + timers.t2);
        }
    }

    /// Due retransmission, if any; `Err(())` when the transaction timed out.
    pub(crate) fn on_timeout(
        &mut self,
        timers: &Timers,
        now: Instant,
    ) -> Result<Option<Transmit>, ()> {
        if now >= self.deadline {
            return Err(());
        }
        match self.retx_at {
            Some(t) if now >= t => {
                self.interval = if self.invite {
                    self.interval * 2
                } else {
                    (self.interval * 2).min(timers.t2)
                };
                self.retx_at = Some(now + self.interval);
                Ok(Some(self.transmit()))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn next_deadline(&self) -> Instant {
        match self.retx_at {
            Some(t) => t.min(self.deadline),
            None => self.deadline,
        }
    }
}
