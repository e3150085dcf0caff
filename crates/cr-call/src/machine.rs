//! [`Calls`]: the recorder's SIPREC calls from the new session to the sealed set, without
//! I/O. Inputs are the recording server's events, media batches, decisions and the time;
//! outputs are commands for the recording server, calls to decide, sets to seal and calls
//! to abandon.
//!
//! A session's life: `NewSession` → [`Output::Decide`] → (the application decides and
//! journals, off the event loop) → [`Input::Decided`] → `Accept` (or `Decline`) → legs
//! written as media comes → `SessionEnded` → once every stream's socket has closed (or
//! [`CallSettings::end_grace`] passed) → [`Output::Seal`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use cr_pbx::driver::{Command, MediaEvent, StreamStats};
use cr_pbx::{Decline, EndReason, Event, SessionId};

use crate::finish::Finishing;
use crate::flags::FLAG_SHUTDOWN;
use crate::layout::Roles;
use crate::legs::{Leg, LegStore};
use crate::record::CallRecord;

/// The settings of the call core (the application fills them from its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSettings {
    /// How a call no configuration records is declined (`[pbx.siprec] decline`).
    /// Default: reject with 403.
    pub decline: Decline,
    /// How long after BYE to wait for the last streams to close before sealing anyway.
    /// The driver reports each stream closed about 300 ms after BYE, behind its last
    /// packet; this only bounds a driver that fell far behind. Default 15 s.
    pub end_grace: Duration,
    /// How often the legs want [`Input::Timeout`] (header updates). Default 100 ms.
    pub tick: Duration,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self { decline: Decline::Reject(403), end_grace: Duration::from_secs(15), tick: Duration::from_millis(100) }
    }
}

impl CallSettings {
    /// Settings with this decline mode, the rest default.
    pub fn with_decline(decline: Decline) -> Self {
        Self { decline, ..Self::default() }
    }
}

/// A new session to decide: classify its facts, decide, journal, and when it is recorded
/// prepare its legs directory; then answer with [`Input::Decided`].
#[derive(Debug)]
pub struct DecideRequest {
    /// The session.
    pub id: SessionId,
    /// Its facts as the recording server read them.
    pub facts: Box<cr_pbx::CallFacts>,
    /// The SIPREC metadata as received.
    pub metadata_xml: Option<String>,
}

/// What deciding a session came to.
#[derive(Debug)]
pub struct Decided<S> {
    /// The session.
    pub id: SessionId,
    /// Recorded (its record and legs store), not recorded, or failed (why).
    pub outcome: Result<Option<(CallRecord, S)>, String>,
    /// The SIPREC metadata, as in the request.
    pub metadata_xml: Option<String>,
}

/// Input of [`Calls::handle_input`].
#[derive(Debug)]
pub enum Input<S> {
    /// An event of the recording server.
    Event(Event),
    /// A decision asked for with [`Output::Decide`].
    Decided(Decided<S>),
    /// Time passed ([`Calls::poll_timeout`]).
    Timeout,
    /// The recorder stops: every call in progress is hung up and sealed (`shutdown`);
    /// decisions still to come are answered 480 and their calls abandoned.
    Shutdown,
}

/// A call that ends without a set.
#[derive(Debug)]
pub struct Abandoned<S> {
    /// The call.
    pub record: CallRecord,
    /// Its legs store (remove what it holds).
    pub store: S,
    /// Why, for the log.
    pub why: String,
}

/// Output of [`Calls::poll_output`].
#[derive(Debug)]
pub enum Output<S: LegStore> {
    /// Send this to the recording server.
    Command(Command),
    /// Decide this session.
    Decide(DecideRequest),
    /// This call is over: complete its legs ([`Finishing::complete`], blocking work) and
    /// seal the set.
    Seal(Finishing<S>),
    /// This call is over without a recording: release it.
    Abandon(Abandoned<S>),
}

/// What one media batch came to (for the packet counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounts {
    /// Packets written into legs.
    pub written: u64,
    /// Packets no open recording took (its call already sealed, or its leg could not be
    /// written).
    pub unrouted: u64,
}

pub(crate) struct Session<S: LegStore> {
    pub(crate) record: CallRecord,
    pub(crate) store: S,
    started: Instant,
    /// Open leg writers by stream index (two, usually: a list beats a map here).
    pub(crate) legs: Vec<(usize, S::Leg)>,
    open: HashSet<usize>,
    pub(crate) roles: Roles,
    pub(crate) metadata_xml: Option<String>,
    ended: Option<Instant>,
    failed: bool,
    /// What the RTP receiver reported for each closed stream (by m-line index).
    pub(crate) received: HashMap<usize, StreamStats>,
    /// RTP packets written into the legs.
    pub(crate) packets: u64,
    pub(crate) end_reason: Option<EndReason>,
    /// SRTP packets of this call that failed authentication.
    pub(crate) srtp_rejected: u64,
}

impl<S: LegStore> Session<S> {
    /// The leg of stream `index`, created at its first use.
    fn leg(&mut self, index: usize, codec: cr_audio::Codec) -> Option<&mut S::Leg> {
        if let Some(at) = self.legs.iter().position(|(i, _)| *i == index) {
            return Some(&mut self.legs[at].1);
        }
        if self.failed {
            return None;
        }
        let rate = codec.sample_rate().unwrap_or(8_000);
        match self.store.create_leg(index, rate) {
            Ok(w) => {
                self.open.insert(index);
                self.legs.push((index, w));
                self.legs.last_mut().map(|(_, w)| w)
            }
            Err(e) => {
                tracing::error!(set = %self.record.id, "cannot create the leg of stream {index}: {e}");
                self.failed = true;
                None
            }
        }
    }
}

/// The calls of one recording server (see the module docs).
pub struct Calls<S: LegStore> {
    settings: CallSettings,
    sessions: HashMap<SessionId, Session<S>>,
    /// Sent to be decided, no answer yet.
    pending: HashSet<SessionId>,
    /// Ended while being decided.
    ended_early: HashSet<SessionId>,
    out: VecDeque<Output<S>>,
    last_tick: Option<Instant>,
    stopping: bool,
}

impl<S: LegStore> Calls<S> {
    /// No calls yet.
    pub fn new(settings: CallSettings) -> Self {
        Self {
            settings,
            sessions: HashMap::new(),
            pending: HashSet::new(),
            ended_early: HashSet::new(),
            out: VecDeque::new(),
            last_tick: None,
            stopping: false,
        }
    }

    /// Calls being recorded now.
    pub fn recording(&self) -> usize {
        self.sessions.len()
    }

    /// Sessions sent to be decided and not answered yet.
    pub fn deciding(&self) -> usize {
        self.pending.len()
    }

    /// True once [`Input::Shutdown`] came and every call is handed out (sealed or
    /// abandoned) and every decision answered.
    pub fn is_done(&self) -> bool {
        self.stopping && self.sessions.is_empty() && self.pending.is_empty() && self.out.is_empty()
    }

    /// Feeds one input at time `now`.
    pub fn handle_input(&mut self, input: Input<S>, now: Instant) {
        match input {
            Input::Event(ev) if !self.stopping => self.on_event(ev, now),
            Input::Event(_) => {}
            Input::Decided(d) => self.on_decided(d, now),
            Input::Timeout => self.on_timeout(now),
            Input::Shutdown => self.on_shutdown(),
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output<S>> {
        self.out.pop_front()
    }

    /// When the core wants [`Input::Timeout`]: the next leg tick, or a call's end grace.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let last = self.last_tick?;
        let tick = (!self.sessions.is_empty()).then(|| last + self.settings.tick);
        let grace = self.sessions.values().filter_map(|s| s.ended).min().map(|e| e + self.settings.end_grace);
        tick.into_iter().chain(grace).min()
    }

    /// Feeds a batch of media into the legs (RTP may overtake the `StreamsChanged` event
    /// right after the 200 OK: a packet opens its stream's leg).
    pub fn handle_media(&mut self, batch: impl IntoIterator<Item = MediaEvent>) -> MediaCounts {
        let mut counts = MediaCounts::default();
        for m in batch {
            match self.on_media(m) {
                Some(true) => counts.written += 1,
                Some(false) => counts.unrouted += 1,
                None => {}
            }
        }
        counts
    }

    fn abandon(&mut self, s: Session<S>, why: String) {
        let Session { record, store, legs, .. } = s;
        drop(legs);
        self.out.push_back(Output::Abandon(Abandoned { record, store, why }));
    }

    fn on_event(&mut self, ev: Event, now: Instant) {
        match ev {
            Event::NewSession { id, facts, metadata_xml, metadata_error, .. } => {
                if let Some(e) = &metadata_error {
                    tracing::warn!(session = %id, "metadata not usable, falling back to From/To: {e}");
                }
                self.pending.insert(id);
                self.out.push_back(Output::Decide(DecideRequest { id, facts, metadata_xml }));
            }
            Event::StreamsChanged { id, streams, drop_media } => {
                let Some(s) = self.sessions.get_mut(&id) else { return };
                if drop_media {
                    return;
                }
                let roles = Roles::assign(&streams);
                if roles != s.roles {
                    s.roles = roles;
                    if let Err(e) = s.store.write_roles(&s.roles) {
                        tracing::warn!(set = %s.record.id, "cannot keep the roles of the streams: {e}");
                    }
                }
                for st in streams.iter().filter(|st| st.local_port != 0) {
                    if let Some((codec, _)) = st.codec {
                        let _ = s.leg(st.index, codec);
                    }
                }
            }
            Event::MetadataUpdated { id, metadata_xml, .. } => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if let Err(e) = s.store.write_metadata(&metadata_xml) {
                        tracing::warn!(set = %s.record.id, "cannot keep the updated metadata: {e}");
                    }
                    s.metadata_xml = Some(metadata_xml);
                }
            }
            Event::SessionEnded { id, reason } => {
                if self.pending.contains(&id) {
                    self.ended_early.insert(id);
                }
                let Some(s) = self.sessions.get_mut(&id) else { return };
                tracing::debug!(set = %s.record.id, ?reason, "session ended");
                if s.legs.is_empty() || reason == EndReason::MediaFailed {
                    // Cancelled before the answer, never any stream, or refused with 503
                    // because an RTP socket could not be bound: nothing recorded.
                    if let Some(s) = self.sessions.remove(&id) {
                        self.abandon(s, format!("session ended without media ({reason:?})"));
                    }
                } else {
                    s.ended = Some(now);
                    s.end_reason = Some(reason);
                }
            }
            _ => {}
        }
    }

    fn on_decided(&mut self, d: Decided<S>, now: Instant) {
        let id = d.id;
        self.pending.remove(&id);
        let early = self.ended_early.remove(&id);
        let (record, store) = match d.outcome {
            Ok(Some(x)) => x,
            // After shutdown nobody waits for the answer of a call not recorded.
            Ok(None) | Err(_) if self.stopping => return,
            Ok(None) => {
                self.out.push_back(Output::Command(Command::Decline(id, self.settings.decline)));
                return;
            }
            Err(e) => {
                tracing::error!(session = %id, "refusing the call: {e}");
                self.out.push_back(Output::Command(Command::Decline(id, Decline::Reject(500))));
                return;
            }
        };
        if self.stopping {
            self.out.push_back(Output::Command(Command::Decline(id, Decline::Reject(480))));
            self.out.push_back(Output::Abandon(Abandoned { record, store, why: "the recorder is stopping".into() }));
            return;
        }
        if early {
            self.out.push_back(Output::Abandon(Abandoned { record, store, why: "cancelled before the answer".into() }));
            return;
        }
        self.last_tick.get_or_insert(now);
        self.sessions.insert(
            id,
            Session {
                record,
                store,
                started: now,
                legs: Vec::new(),
                open: HashSet::new(),
                roles: Roles::default(),
                metadata_xml: d.metadata_xml,
                ended: None,
                failed: false,
                received: HashMap::new(),
                packets: 0,
                end_reason: None,
                srtp_rejected: 0,
            },
        );
        self.out.push_back(Output::Command(Command::Accept(id)));
    }

    fn on_timeout(&mut self, now: Instant) {
        self.last_tick = Some(now);
        let grace = self.settings.end_grace;
        let mut done = Vec::new();
        for (id, s) in &mut self.sessions {
            let since = now.saturating_duration_since(s.started);
            for (_, leg) in &mut s.legs {
                if let Err(e) = leg.tick(since) {
                    tracing::error!(set = %s.record.id, "leg write failed: {e}");
                    s.failed = true;
                }
            }
            if let Some(ended) = s.ended
                && (s.open.is_empty() || now.saturating_duration_since(ended) > grace)
            {
                done.push(*id);
            }
        }
        done.sort();
        for id in done {
            if let Some(s) = self.sessions.remove(&id) {
                self.out.push_back(Output::Seal(Finishing::new(s, Vec::new())));
            }
        }
    }

    fn on_shutdown(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.ended_early.clear();
        let mut ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        ids.sort();
        for id in ids {
            if let Some(s) = self.sessions.remove(&id) {
                self.out.push_back(Output::Command(Command::Hangup(id)));
                self.out.push_back(Output::Seal(Finishing::new(s, vec![FLAG_SHUTDOWN.to_owned()])));
            }
        }
    }

    /// One media event: for a packet, whether it was written.
    fn on_media(&mut self, m: MediaEvent) -> Option<bool> {
        match m {
            MediaEvent::Packet(p) => {
                let Some(s) = self.sessions.get_mut(&p.session) else { return Some(false) };
                let since = p.arrival.saturating_duration_since(s.started);
                let Some(leg) = s.leg(p.stream_index, p.codec) else { return Some(false) };
                // One Codec type (cr_audio's); L16 is a leg format, never negotiated for RTP.
                let codec = p.codec;
                if codec.sample_rate().is_none() {
                    return Some(false);
                }
                let frame = cr_audio::RtpFrame {
                    seq: p.header.sequence,
                    timestamp: p.header.timestamp,
                    ssrc: p.header.ssrc,
                    codec,
                    payload: &p.payload,
                };
                if let Err(e) = leg.push_rtp(frame, since) {
                    tracing::error!(set = %s.record.id, "leg write failed: {e}");
                    s.failed = true;
                    return Some(false);
                }
                s.packets += 1;
                Some(true)
            }
            MediaEvent::StreamClosed { session, stream_index, stats, srtp_rejected, .. } => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.open.remove(&stream_index);
                    s.srtp_rejected += srtp_rejected;
                    // A stream removed and added again (re-INVITE) adds up.
                    let r = s.received.entry(stream_index).or_default();
                    r.packets += stats.packets;
                    r.rejected_source += stats.rejected_source;
                    r.rejected_ssrc += stats.rejected_ssrc;
                    r.rejected_payload_type += stats.rejected_payload_type;
                    r.rejected_malformed += stats.rejected_malformed;
                    r.lost += stats.lost;
                }
                None
            }
            _ => None,
        }
    }
}
