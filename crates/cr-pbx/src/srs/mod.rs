//! The SIPREC recording server core (SRS), sans-I/O.
//!
//! Feed it SIP messages with [`Srs::handle_input`], answer each [`Event::NewSession`] with
//! [`Srs::accept`] or [`Srs::decline`], and drain [`Srs::poll_output`] after every call.
//!
//! Accepting is two steps: `accept` assigns RTP ports and emits [`Event::StreamsChanged`];
//! the driver binds the sockets and reports with [`Srs::media_ready`]. Only then is the
//! 200 OK sent (or 503 when a socket could not be bound): the SRC never believes a call is
//! recorded when it cannot be (issue 11, item 5).
//!
//! [`Srs`] composes one part per idea, each reporting its own next deadline:
//! `transaction` (server and client transactions, typed keys), `dialog`, `timer`
//! (RFC 4028 session timers), `ack_wait` (a 2xx waiting for its ACK), `ports` (RTP port
//! allocation), `offer` and `answer` (SDP), `facts` (call facts from metadata). This file
//! holds the public types and the request flow; `session.rs` the decisions on a session.

mod ack_wait;
mod answer;
mod dialog;
mod facts;
mod offer;
mod ports;
mod session;
mod timer;
mod transaction;

#[cfg(test)]
mod tests;

pub use facts::{CallFacts, FactsSource};
pub use offer::{BodyParts, split_body};
pub use ports::PRESSURE_FREE_PERCENT;

use crate::common::{ClientTx, Input, OsRandom, RandomSource, Timers, Transmit, Transport};
use crate::metadata::{Metadata, Role};
use crate::sdp::{Codec, Sdp};
use crate::sip::{SipMessage, StartLine};
use crate::srtp::{SrtpPolicy, StreamSrtp};
use ack_wait::Pending2xx;
use dialog::{Dialog, DialogKey, Dialogs};
use ports::PortPool;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use session::{SessState, Session};
use transaction::{ClientTransactions, Method, ServerTransactions, TxKey};

/// A recording session's id (unique within one [`Srs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Configuration of the core.
#[derive(Debug, Clone)]
pub struct SrsConfig {
    /// Address written into SDP answers (`c=`) and Contact.
    pub advertise: IpAddr,
    /// SIP port written into Contact and Via (for transports not in `transport_ports`).
    pub sip_port: u16,
    /// The port of each transport we listen on (TLS is usually not on `sip_port`), for
    /// Contact and Via of that transport's dialogs; default empty.
    pub transport_ports: Vec<(Transport, u16)>,
    /// RTP port range, inclusive; streams get even ports from it.
    pub rtp_ports: (u16, u16),
    /// RFC 3261 timers.
    pub timers: Timers,
    /// How long the application may take to accept or decline; then 480 is sent.
    /// Default 8 s.
    pub decision_timeout: Duration,
    /// Smallest Session-Expires accepted (RFC 4028 Min-SE); default 90 s.
    pub min_se: u32,
    /// Sessions from one source IP that may wait for a decision, for media or for the ACK
    /// of their 200 at once; one more INVITE gets 503 with Retry-After. Default 50.
    pub max_pending_per_source: usize,
    /// Audio streams of one offer that get an RTP port; later m-lines are answered with
    /// port 0. Default 16.
    pub max_streams: usize,
    /// How long a 200 OK to an initial INVITE waits for its ACK while fewer than
    /// [`PRESSURE_FREE_PERCENT`] of the RTP ports are free (otherwise 64*T1 = 32 s,
    /// RFC 3261 Timer H). Default 4 s.
    pub ack_wait_under_pressure: Duration,
    /// Which media profiles are recorded (plain RTP, SRTP); default [`SrtpPolicy::default`].
    pub srtp: SrtpPolicy,
}

/// Seconds in the `Retry-After` of a 503 for a source over its limit or a full port range.
const RETRY_AFTER_SECS: u32 = 5;

impl SrsConfig {
    /// Our SIP port for `transport`.
    fn port_of(&self, transport: Transport) -> u16 {
        self.transport_ports
            .iter()
            .find(|(t, _)| *t == transport)
            .map_or(self.sip_port, |(_, p)| *p)
    }

    /// Defaults: 127.0.0.1:5060, ports 30000-39999, RFC timers, 8 s decision timeout.
    pub fn new(advertise: IpAddr, sip_port: u16) -> Self {
        SrsConfig {
            advertise,
            sip_port,
            transport_ports: Vec::new(),
            rtp_ports: (30000, 39999),
            timers: Timers::default(),
            decision_timeout: Duration::from_secs(8),
            min_se: 90,
            max_pending_per_source: 50,
            max_streams: 16,
            ack_wait_under_pressure: Duration::from_secs(4),
            srtp: SrtpPolicy::default(),
        }
    }
}

/// One media stream of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Index of the `m=` line in the offer.
    pub index: usize,
    /// SDP `a=label` (metadata links streams by it); None if the SRC sent none.
    pub label: Option<String>,
    /// Whose voice this stream carries.
    pub role: Role,
    /// Chosen codec and its payload type; None for a stream we rejected (port 0).
    pub codec: Option<(Codec, u8)>,
    /// telephone-event payload type (ignored for audio).
    pub telephone_event: Option<u8>,
    /// Our RTP port (0 until accepted, or rejected stream).
    pub local_port: u16,
    /// The SRC's address for this stream from its SDP.
    pub remote: Option<SocketAddr>,
    /// False while the stream is on hold (`a=inactive`).
    pub active: bool,
    /// Which SDP offer of the session this description comes from (1 = the INVITE, one
    /// more for each re-INVITE/UPDATE that carries SDP). The RTP receiver accepts a new
    /// SSRC on a stream only after a new offer (see docs/security.md).
    pub offer: u32,
    /// SRTP (SDES) keys of the stream; None for plain RTP. Its `Debug` hides the keys.
    pub srtp: Option<StreamSrtp>,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The SRC sent BYE.
    Bye,
    /// The SRC cancelled before the answer.
    Cancelled,
    /// The application declined (status sent).
    Declined(u16),
    /// The application did not decide in time (480 sent).
    DecisionTimeout,
    /// Our 200 OK was never acknowledged (64*T1, RFC 3261 Timer H; sooner while the RTP
    /// ports run out, see [`SrsConfig::ack_wait_under_pressure`]). BYE sent.
    NoAck,
    /// Session-Expires passed without a refresh.
    SessionExpired,
    /// [`Srs::hangup`] was called.
    LocalHangup,
    /// No RTP port left to answer with (503 sent).
    NoPorts,
    /// The driver could not bind an RTP socket for the session ([`Srs::media_ready`] with
    /// an error): 503 sent, ports released.
    MediaFailed,
}

/// Why the driver could not set up a session's media (passed to [`Srs::media_ready`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// An RTP socket could not be bound (descriptors exhausted, port taken by another
    /// program).
    #[error("RTP port {port} could not be bound: {reason}")]
    Bind {
        /// The port.
        port: u16,
        /// The operating system's reason.
        reason: String,
    },
}

/// Calls the core refused or gave up, since it started (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SrsCounters {
    /// INVITEs answered 503 because no RTP port was free.
    pub refused_no_ports: u64,
    /// INVITEs answered 503 because their source had too many unanswered INVITEs.
    pub refused_source_limit: u64,
    /// Accepted sessions answered 503 because an RTP socket could not be bound.
    pub refused_media_failed: u64,
    /// Streams added by a re-INVITE/UPDATE and rejected (port 0 in the answer) because
    /// their RTP sockets could not be bound.
    pub streams_refused_media_failed: u64,
    /// Sessions ended because the 200 OK was never acknowledged.
    pub ack_timeouts: u64,
}

/// What the core reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A new recording session waits for [`Srs::accept`] / [`Srs::decline`].
    NewSession {
        /// Session id.
        id: SessionId,
        /// Call facts.
        facts: Box<CallFacts>,
        /// Offered streams (local ports not yet assigned).
        streams: Vec<StreamInfo>,
        /// The metadata XML exactly as received (for the sealed set).
        metadata_xml: Option<String>,
        /// Why the metadata could not be used, if it could not.
        metadata_error: Option<String>,
    },
    /// The set of streams changed: after accept (ports assigned), re-INVITE/UPDATE (hold,
    /// streams added/removed), or roles changed by a metadata update. Bind/unbind RTP
    /// sockets from this, then call [`Srs::media_ready`] (after accept, the 200 OK waits
    /// for it). `drop_media`: accepted only to discard (decline = "accept").
    StreamsChanged {
        /// Session id.
        id: SessionId,
        /// All streams now (removed ones are absent).
        streams: Vec<StreamInfo>,
        /// Discard the media of this session.
        drop_media: bool,
    },
    /// The SRC sent new metadata (re-INVITE/UPDATE).
    MetadataUpdated {
        /// Session id.
        id: SessionId,
        /// Facts after the update.
        facts: Box<CallFacts>,
        /// The new XML as received.
        metadata_xml: String,
    },
    /// The session is over; its ports are free again.
    SessionEnded {
        /// Session id.
        id: SessionId,
        /// Why.
        reason: EndReason,
    },
}

/// Output of [`Srs::poll_output`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send these bytes.
    Transmit {
        /// Destination.
        dest: SocketAddr,
        /// Transport.
        transport: Transport,
        /// SIP message.
        bytes: Vec<u8>,
    },
    /// Something happened.
    Event(Event),
    /// Nothing more to do; call `handle_input(Input::Timeout, t)` at this instant.
    Timeout(Instant),
}

/// How to decline a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    /// Reject with this status (403 or 480 typically).
    Reject(u16),
    /// Answer 200 but mark the media to be dropped (the SRC keeps sending).
    AcceptDropMedia,
}

/// A response to send in a server transaction (instead of eight arguments).
#[derive(Debug, Clone, Copy)]
struct Reply<'a> {
    code: u16,
    reason: &'a str,
    /// Our To tag (dialog-creating and dialog responses).
    to_tag: Option<&'a str>,
    /// Headers added after those copied from the request.
    headers: &'a [(&'a str, String)],
    /// Content type and body.
    body: Option<(&'a str, &'a [u8])>,
}

impl<'a> Reply<'a> {
    /// `code reason`, without tag, extra headers or body.
    fn new(code: u16, reason: &'a str) -> Self {
        Reply {
            code,
            reason,
            to_tag: None,
            headers: &[],
            body: None,
        }
    }

    fn tag(self, to_tag: &'a str) -> Self {
        Reply {
            to_tag: Some(to_tag),
            ..self
        }
    }

    fn headers(self, headers: &'a [(&'a str, String)]) -> Self {
        Reply { headers, ..self }
    }

    fn body(self, content_type: &'a str, body: &'a [u8]) -> Self {
        Reply {
            body: Some((content_type, body)),
            ..self
        }
    }
}

/// The SIPREC recording server core.
#[derive(Debug)]
pub struct Srs {
    cfg: SrsConfig,
    /// Where To tags and branches come from: the OS's generator, always (they need no
    /// reproducing, and must never be guessable).
    tags: OsRandom,
    out: VecDeque<Output>,
    txs: ServerTransactions,
    client_txs: ClientTransactions,
    sessions: HashMap<SessionId, Session>,
    dialogs: Dialogs,
    ports: PortPool,
    next_id: u64,
    last_now: Option<Instant>,
    counters: SrsCounters,
}

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO";
const ACCEPT: &str =
    "application/sdp, multipart/mixed, application/rs-metadata+xml, application/rs-metadata";
const NO_TRANSACTION: &str = "Call/Transaction Does Not Exist";

impl Srs {
    /// A new core whose RTP ports come from the operating system's CSPRNG ([`OsRandom`]).
    pub fn new(cfg: SrsConfig) -> Self {
        Self::with_random(cfg, Box::new(OsRandom::new()))
    }

    /// A new core that takes its RTP port choices from `random` (tests pass a fixed
    /// sequence; production wants [`OsRandom`], which [`Srs::new`] uses).
    pub fn with_random(cfg: SrsConfig, random: Box<dyn RandomSource>) -> Self {
        Srs {
            tags: OsRandom::new(),
            ports: PortPool::new(cfg.rtp_ports, random),
            cfg,
            out: VecDeque::new(),
            txs: ServerTransactions::default(),
            client_txs: ClientTransactions::default(),
            sessions: HashMap::new(),
            dialogs: Dialogs::default(),
            next_id: 1,
            last_now: None,
            counters: SrsCounters::default(),
        }
    }

    /// Even ports of `rtp_ports` not in use and not reserved.
    pub fn free_ports(&self) -> usize {
        self.ports.free()
    }

    /// Even ports of `rtp_ports` (free, used and reserved).
    pub fn total_ports(&self) -> usize {
        self.ports.total()
    }

    /// Refusals and ACK timeouts so far.
    pub fn counters(&self) -> SrsCounters {
        self.counters
    }

    /// Sessions from `ip` that wait for a decision, for media or for their first ACK.
    fn unanswered_from(&self, ip: IpAddr) -> usize {
        self.sessions
            .values()
            .filter(|s| {
                s.dialog.peer.ip() == ip
                    && (s.state != SessState::Established
                        || s.pending_2xx.as_ref().is_some_and(|p| p.initial))
            })
            .count()
    }

    /// Keeps `port` out of RTP allocation (e.g. a SIP listen port inside `rtp_ports`).
    pub fn reserve_port(&mut self, port: u16) {
        self.ports.reserve(port);
    }

    /// Number of sessions (awaiting decision or established).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The streams of a session.
    pub fn streams(&self, id: SessionId) -> Option<&[StreamInfo]> {
        self.sessions.get(&id).map(|s| s.media.streams.as_slice())
    }

    /// Feeds input at time `now`.
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        self.last_now = Some(now);
        match input {
            Input::Timeout => self.on_timeout(now),
            Input::Datagram {
                source,
                transport,
                bytes,
            } => {
                self.on_message(source, transport, bytes, now);
            }
        }
    }

    /// Next output; returns `Output::Timeout` when nothing else is queued.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let now = self.last_now.unwrap_or_else(Instant::now);
        let pressure = self.ports.under_pressure();
        let wait = self.cfg.ack_wait_under_pressure;
        let t = [self.txs.poll_timeout(), self.client_txs.poll_timeout()]
            .into_iter()
            .chain(self.sessions.values().map(|s| s.poll_timeout(pressure, wait)))
            .flatten()
            .fold(now + Duration::from_secs(3600), Instant::min);
        Output::Timeout(t)
    }

    fn send(&mut self, dest: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.out.push_back(Output::Transmit {
            dest,
            transport,
            bytes,
        });
    }

    fn transmit(&mut self, t: Transmit) {
        self.send(t.dest, t.transport, t.bytes);
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    // ---------------------------------------------------------------- messages

    fn on_message(&mut self, source: SocketAddr, transport: Transport, bytes: &[u8], now: Instant) {
        if bytes.iter().all(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return; // keep-alive
        }
        let msg = match SipMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                // Answer 400 if the head is readable enough to build a response.
                if let Some(r) = SipMessage::bad_request_for(bytes, &short(&e.to_string())) {
                    self.send(source, transport, r.to_bytes());
                }
                return;
            }
        };
        match &msg.start {
            StartLine::Response { .. } => {
                let timers = self.cfg.timers;
                self.client_txs.on_response(&msg, &timers, now);
            }
            StartLine::Request { .. } => {
                if let Err(e) = msg.validate_request() {
                    if msg.method() != Some("ACK") && msg.header("Via").is_some() {
                        let r = msg.response(400, &short(&e.to_string()), None);
                        self.send(source, transport, r.to_bytes());
                    }
                    return;
                }
                self.on_request(msg, source, transport, now);
            }
        }
    }

    /// Sends `reply` to `req` in transaction `key` (nothing if the transaction is gone).
    fn respond(&mut self, req: &SipMessage, key: &TxKey, reply: Reply<'_>, now: Instant) {
        let mut r = req.response(reply.code, reply.reason, reply.to_tag);
        for (n, v) in reply.headers {
            r.push_header(n, v.clone());
        }
        r.push_header("Server", "callrec");
        if let Some((ct, b)) = reply.body {
            r.push_header("Content-Type", ct);
            r.body = b.to_vec();
        }
        let bytes = r.to_bytes();
        let timers = self.cfg.timers;
        if let Some((peer, transport)) = self.txs.respond(key, reply.code, &bytes, &timers, now) {
            self.send(peer, transport, bytes);
        }
    }

    fn on_request(&mut self, msg: SipMessage, source: SocketAddr, transport: Transport, now: Instant) {
        let method = Method::of(&msg);
        let key = TxKey::of(&msg);

        if method == Method::Ack {
            self.on_ack(&msg, &key, now);
            return;
        }
        // Retransmission?
        if let Some(tx) = self.txs.get(&key) {
            if let Some(last) = tx.last.clone() {
                let (p, t) = (tx.peer, tx.transport);
                self.send(p, t, last);
            }
            return;
        }
        let timers = self.cfg.timers;
        self.txs.start(key.clone(), source, transport, &timers);

        // Require: only siprec and timer understood.
        if let Some(req) = msg.header("Require") {
            let unsupported: Vec<&str> = req
                .split(',')
                .map(str::trim)
                .filter(|t| {
                    !t.is_empty()
                        && !["siprec", "timer"]
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(t))
                })
                .collect();
            if !unsupported.is_empty() && method != Method::Cancel {
                let u = [("Unsupported", unsupported.join(", "))];
                self.respond(&msg, &key, Reply::new(420, "Bad Extension").headers(&u), now);
                return;
            }
        }

        if method == Method::Cancel {
            self.on_cancel(&msg, &key, now);
            return;
        }

        let in_dialog = msg.to_tag().is_some();
        if in_dialog {
            self.on_in_dialog(msg, &key, &method, now);
            return;
        }
        let allow = [("Allow", ALLOW.to_owned())];
        match method {
            Method::Invite => {
                // A second INVITE outside the dialog of a session in progress (same Call-ID
                // and From tag, another branch): a merged request (RFC 3261 8.2.2.2), not a
                // new call to decide on.
                if self.dialogs.get(&DialogKey::of(&msg)).is_some() {
                    self.respond(&msg, &key, Reply::new(482, "Loop Detected (merged request)"), now);
                    return;
                }
                self.on_initial_invite(msg, &key, source, transport, now)
            }
            Method::Options => {
                let extra = [
                    ("Allow", ALLOW.to_owned()),
                    ("Accept", ACCEPT.to_owned()),
                    ("Supported", "siprec, timer".to_owned()),
                ];
                let tag = self.random_tag();
                self.respond(&msg, &key, Reply::new(200, "OK").tag(&tag).headers(&extra), now);
            }
            Method::Bye | Method::Update | Method::Info | Method::Prack => {
                self.respond(&msg, &key, Reply::new(481, NO_TRANSACTION), now);
            }
            _ => {
                self.respond(&msg, &key, Reply::new(405, "Method Not Allowed").headers(&allow), now);
            }
        }
    }

    fn on_ack(&mut self, msg: &SipMessage, key: &TxKey, now: Instant) {
        // ACK for a non-2xx final response: same transaction.
        let timers = self.cfg.timers;
        if self.txs.ack_non_2xx(key, &timers, now) {
            return;
        }
        // ACK for 2xx: in the dialog.
        let Some(id) = self.find_dialog(msg) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&id)
            && let Some(p) = &s.pending_2xx
            && msg.cseq().map(|c| c.0) == Some(p.cseq)
        {
            s.pending_2xx = None;
        }
    }

    fn find_dialog(&self, msg: &SipMessage) -> Option<SessionId> {
        msg.call_id()?;
        let id = self.dialogs.get(&DialogKey::of(msg))?;
        let s = self.sessions.get(&id)?;
        match msg.to_tag() {
            Some(t) if t == s.dialog.local_tag => Some(id),
            None => Some(id),
            _ => None,
        }
    }

    fn on_cancel(&mut self, msg: &SipMessage, key: &TxKey, now: Instant) {
        let target = self.txs.get(&key.invite_of()).map(|t| (t.state, t.session));
        let Some((state, session)) = target else {
            self.respond(msg, key, Reply::new(481, NO_TRANSACTION), now);
            return;
        };
        self.respond(msg, key, Reply::new(200, "OK"), now);
        if state == transaction::TxState::Proceeding
            && let Some(id) = session
            && self
                .sessions
                .get(&id)
                .is_some_and(|s| s.state != SessState::Established)
        {
            self.reject_pending(id, 487, "Request Terminated", EndReason::Cancelled, now);
        }
    }

    fn on_in_dialog(&mut self, msg: SipMessage, key: &TxKey, method: &Method, now: Instant) {
        let allow = [("Allow", ALLOW.to_owned())];
        let Some(id) = self.find_dialog(&msg) else {
            if *method == Method::Options {
                self.respond(&msg, key, Reply::new(200, "OK").headers(&allow), now);
            } else {
                self.respond(&msg, key, Reply::new(481, NO_TRANSACTION), now);
            }
            return;
        };
        let cseq = msg.cseq().map(|c| c.0).unwrap_or(0);
        {
            let Some(s) = self.sessions.get_mut(&id) else {
                return;
            };
            if cseq <= s.dialog.remote_cseq && s.state == SessState::Established {
                self.respond(&msg, key, Reply::new(500, "CSeq Out of Order"), now);
                return;
            }
            s.dialog.remote_cseq = cseq;
        }
        match method {
            Method::Bye => {
                self.respond(&msg, key, Reply::new(200, "OK"), now);
                self.end_session(id, EndReason::Bye);
            }
            Method::Invite | Method::Update => {
                self.on_reoffer(id, msg, key, *method == Method::Invite, now)
            }
            Method::Options | Method::Info => {
                self.respond(&msg, key, Reply::new(200, "OK").headers(&allow), now);
            }
            _ => {
                self.respond(&msg, key, Reply::new(405, "Method Not Allowed").headers(&allow), now);
            }
        }
    }

    /// A To tag or branch of 128 bits from the random source: what a third party cannot
    /// guess cannot be used to forge a BYE or re-INVITE into one of our dialogs.
    fn random_tag(&mut self) -> String {
        format!("{:016x}{:016x}", self.tags.next_u64(), self.tags.next_u64())
    }

    fn send_bye(&mut self, id: SessionId, now: Instant) {
        let branch = format!("z9hG4bK{}", self.random_tag());
        let host = answer::host_of(self.cfg.advertise);
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let port = self.cfg.port_of(s.dialog.transport);
        let bytes = s.dialog.bye(&branch, &host, port).to_bytes();
        let (peer, transport) = (s.dialog.peer, s.dialog.transport);
        let tx = ClientTx::new(branch, "BYE", peer, transport, bytes, &self.cfg.timers, now);
        // Not tied to the session, so it survives end_session.
        let first = self.client_txs.start(tx);
        self.transmit(first);
    }

    fn on_timeout(&mut self, now: Instant) {
        let t = self.cfg.timers;
        for tr in self.txs.on_timeout(&t, now) {
            self.transmit(tr);
        }
        // client transactions (our BYEs)
        for tr in self.client_txs.on_timeout(&t, now) {
            self.transmit(tr);
        }
        // sessions: decision timeout, 2xx retransmission, no ACK, expiry
        let mut ended = Vec::new();
        let mut undecided = Vec::new();
        let mut resend = Vec::new();
        let pressure = self.ports.under_pressure();
        let wait = self.cfg.ack_wait_under_pressure;
        for (id, s) in self.sessions.iter_mut() {
            if let Some(d) = s.decision.decide_by
                && now >= d
            {
                undecided.push(*id);
                continue;
            }
            if let Some(p) = &mut s.pending_2xx {
                match p.on_timeout(&t, pressure, wait, now) {
                    ack_wait::AckWait::GiveUp => {
                        ended.push((*id, EndReason::NoAck));
                        continue;
                    }
                    ack_wait::AckWait::Retransmit => {
                        resend.push((s.dialog.peer, s.dialog.transport, p.bytes.clone()));
                    }
                    ack_wait::AckWait::Waiting => {}
                }
            }
            if s.timer.expired(now) {
                ended.push((*id, EndReason::SessionExpired));
            }
        }
        for (p, tr, b) in resend {
            self.send(p, tr, b);
        }
        for id in undecided {
            self.reject_pending(
                id,
                480,
                "Temporarily Unavailable (no recording decision)",
                EndReason::DecisionTimeout,
                now,
            );
        }
        ended.sort_by_key(|(id, _)| *id);
        for (id, why) in ended {
            if why == EndReason::NoAck {
                self.counters.ack_timeouts += 1;
            }
            self.send_bye(id, now);
            self.end_session(id, why);
        }
    }
}

/// A reason phrase from an error text: no control characters, at most 100 characters.
fn short(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(100).collect();
    s
}
