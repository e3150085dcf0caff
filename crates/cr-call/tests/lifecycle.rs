//! The call lifecycle in memory on a simulated clock: no socket, no process, no file
//! (legs are kept in memory). Each test names the race or rule it guards.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cr_call::{
    Abandoned, CallRecord, CallSettings, Calls, Completion, Decided, Input, Leg, LegCounts, LegError, LegStore, Output,
    Roles, flags,
};
use cr_pbx::driver::{Command, MediaEvent, MediaPacket, StreamStats};
use cr_pbx::{Codec, Decline, EndReason, Event, Role, RtpHeader, SessionId, StreamInfo};

/// What the legs of one call saw.
#[derive(Debug, Default)]
struct Seen {
    legs: Vec<usize>,
    packets: Vec<(usize, u16)>,
    roles: Option<Roles>,
    metadata: Option<String>,
}

#[derive(Debug)]
struct MemLegs(Arc<Mutex<Seen>>);
struct MemLeg(usize, Arc<Mutex<Seen>>, u64);

impl Leg for MemLeg {
    fn push_rtp(&mut self, frame: cr_audio::RtpFrame<'_>, _: Duration) -> Result<(), LegError> {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).packets.push((self.0, frame.seq));
        self.2 += 1;
        Ok(())
    }
    fn tick(&mut self, _: Duration) -> Result<(), LegError> {
        Ok(())
    }
    fn finish(self) -> Result<LegCounts, LegError> {
        Ok(LegCounts { packets: self.2, late: 0, quality: None })
    }
}

impl LegStore for MemLegs {
    type Leg = MemLeg;
    fn create_leg(&mut self, index: usize, _: u32) -> Result<MemLeg, LegError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).legs.push(index);
        Ok(MemLeg(index, self.0.clone(), 0))
    }
    fn write_roles(&mut self, roles: &Roles) -> Result<(), LegError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).roles = Some(roles.clone());
        Ok(())
    }
    fn write_metadata(&mut self, xml: &str) -> Result<(), LegError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).metadata = Some(xml.to_owned());
        Ok(())
    }
}

/// A recorder's call core on a simulated clock.
struct Sim {
    calls: Calls<MemLegs>,
    now: Instant,
}

fn facts(call_id: &str) -> Box<cr_pbx::CallFacts> {
    Box::new(support::pbx_facts(call_id, &[]))
}

fn record(n: u64) -> CallRecord {
    support::record(&format!("20261126T093000000Z-0000000{n}"), n)
}

fn stream(index: usize, role: Role, port: u16) -> StreamInfo {
    StreamInfo {
        index,
        label: Some(index.to_string()),
        role,
        codec: Some((Codec::Pcmu, 0)),
        telephone_event: None,
        local_port: port,
        remote: None,
        active: true,
        offer: 1,
        srtp: None,
    }
}

fn packet(session: u64, index: usize, seq: u16, arrival: Instant) -> MediaEvent {
    MediaEvent::Packet(MediaPacket {
        session: SessionId(session),
        stream_index: index,
        stream_label: None,
        role: Role::Caller,
        codec: Codec::Pcmu,
        header: RtpHeader { payload_type: 0, sequence: seq, timestamp: u32::from(seq) * 160, ssrc: 7, marker: false },
        payload: vec![0xff; 160],
        arrival,
        source: std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
    })
}

fn closed(session: u64, index: usize, stats: StreamStats) -> MediaEvent {
    MediaEvent::StreamClosed { session: SessionId(session), stream_index: index, packets: stats.packets, stats, srtp_rejected: 0 }
}

impl Sim {
    fn new() -> Self {
        Self { calls: Calls::new(CallSettings::default()), now: Instant::now() }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.calls.handle_input(Input::Timeout, self.now);
    }

    fn event(&mut self, ev: Event) {
        self.calls.handle_input(Input::Event(ev), self.now);
    }

    fn new_session(&mut self, id: u64) {
        self.event(Event::NewSession {
            id: SessionId(id),
            facts: facts(&format!("call-{id}")),
            streams: vec![],
            metadata_xml: Some("<recording/>".into()),
            metadata_error: None,
        });
    }

    fn decided(&mut self, id: u64, recorded: bool) -> Arc<Mutex<Seen>> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let outcome = Ok(recorded.then(|| (record(id), MemLegs(seen.clone()))));
        self.calls.handle_input(Input::Decided(Decided { id: SessionId(id), outcome, metadata_xml: None }), self.now);
        seen
    }

    fn ended(&mut self, id: u64, reason: EndReason) {
        self.event(Event::SessionEnded { id: SessionId(id), reason });
    }

    fn outputs(&mut self) -> Vec<Output<MemLegs>> {
        std::iter::from_fn(|| self.calls.poll_output()).collect()
    }

    /// A call admitted and answered, with two streams announced.
    fn recording(&mut self, id: u64) -> Arc<Mutex<Seen>> {
        self.new_session(id);
        let seen = self.decided(id, true);
        self.event(Event::StreamsChanged {
            id: SessionId(id),
            streams: vec![stream(0, Role::Caller, 30000), stream(1, Role::Callee, 30002)],
            drop_media: false,
        });
        let _ = self.outputs();
        seen
    }
}

fn commands(out: &[Output<MemLegs>]) -> Vec<Command> {
    out.iter().filter_map(|o| if let Output::Command(c) = o { Some(*c) } else { None }).collect()
}

fn abandoned(out: Vec<Output<MemLegs>>) -> Vec<Abandoned<MemLegs>> {
    out.into_iter().filter_map(|o| if let Output::Abandon(a) = o { Some(a) } else { None }).collect()
}

fn sealed(out: Vec<Output<MemLegs>>) -> Vec<Completion<MemLegs>> {
    out.into_iter().filter_map(|o| if let Output::Seal(f) = o { Some(f.complete()) } else { None }).collect()
}

fn flags_of(c: &Completion<MemLegs>) -> Vec<String> {
    match c {
        Completion::Seal(p) => p.flags.clone(),
        Completion::Unconfirmed { .. } => panic!("expected a set to seal"),
    }
}

#[test]
fn a_new_session_is_sent_to_be_decided_and_accepted_when_recorded() {
    let mut sim = Sim::new();
    sim.new_session(1);
    let out = sim.outputs();
    assert!(matches!(&out[..], [Output::Decide(r)] if r.id == SessionId(1) && r.facts.call_id == "call-1"));
    assert_eq!(sim.calls.deciding(), 1);
    sim.decided(1, true);
    assert_eq!(commands(&sim.outputs()), [Command::Accept(SessionId(1))]);
    assert_eq!(sim.calls.recording(), 1);
    // A call no configuration records is declined as configured.
    sim.new_session(2);
    sim.decided(2, false);
    assert_eq!(commands(&sim.outputs()), [Command::Decline(SessionId(2), Decline::Reject(403))]);
}

// Guards against: a call cancelled while it was being decided answered 200 and recorded
// (the decision arrives after the session ended).
#[test]
fn a_decision_after_cancel_abandons_the_call_and_sends_no_answer() {
    let mut sim = Sim::new();
    sim.new_session(1);
    let _ = sim.outputs();
    sim.ended(1, EndReason::Cancelled);
    assert!(sim.outputs().is_empty());
    sim.decided(1, true);
    let out = sim.outputs();
    assert!(commands(&out).is_empty(), "no Accept for a cancelled session: {out:?}");
    let a = abandoned(out);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].why, "cancelled before the answer");
    assert_eq!(sim.calls.recording(), 0);
    assert_eq!(sim.calls.deciding(), 0);
}

// Guards against: a session the recording server gave up on (decision timeout, 480 sent)
// accepted by a decision that came late.
#[test]
fn a_decision_after_the_decision_timeout_is_not_answered() {
    let mut sim = Sim::new();
    sim.new_session(1);
    let _ = sim.outputs();
    sim.advance(Duration::from_secs(8));
    sim.ended(1, EndReason::DecisionTimeout);
    sim.decided(1, true);
    let out = sim.outputs();
    assert!(!commands(&out).contains(&Command::Accept(SessionId(1))), "{out:?}");
    assert_eq!(abandoned(out).len(), 1);
    // The next session with the same fate but not recorded: declined, nothing leaks.
    sim.new_session(2);
    sim.ended(2, EndReason::DecisionTimeout);
    sim.decided(2, false);
    assert_eq!(sim.calls.deciding(), 0);
    assert_eq!(sim.calls.recording(), 0);
}

// Guards against: BYE right after the 200 OK, before any stream was announced, leaving
// a call open for ever.
#[test]
fn bye_before_any_stream_abandons_the_call() {
    let mut sim = Sim::new();
    sim.new_session(1);
    sim.decided(1, true);
    let _ = sim.outputs();
    sim.ended(1, EndReason::Bye);
    let a = abandoned(sim.outputs());
    assert_eq!(a.len(), 1);
    assert!(a[0].why.contains("without media"), "{}", a[0].why);
    assert_eq!(sim.calls.recording(), 0);
}

// Guards against: sealing at BYE before the streams' last packets are written: the set
// is sealed once every stream is closed, not earlier.
#[test]
fn bye_seals_once_every_stream_closed() {
    let mut sim = Sim::new();
    let seen = sim.recording(1);
    let t = sim.now;
    let _ = sim.calls.handle_media([packet(1, 0, 1, t), packet(1, 1, 1, t)]);
    sim.ended(1, EndReason::Bye);
    sim.advance(Duration::from_millis(100));
    assert!(sim.outputs().is_empty(), "stream sockets still open");
    let _ = sim.calls.handle_media([packet(1, 0, 2, t), closed(1, 0, StreamStats::default())]);
    sim.advance(Duration::from_millis(100));
    assert!(sim.outputs().is_empty(), "stream 1 still open");
    let _ = sim.calls.handle_media([closed(1, 1, StreamStats::default())]);
    sim.advance(Duration::from_millis(100));
    let done = sealed(sim.outputs());
    assert_eq!(done.len(), 1);
    let Completion::Seal(plan) = &done[0] else { panic!("expected a seal") };
    assert_eq!(plan.streams.iter().map(|s| (s.index, s.packets)).collect::<Vec<_>>(), [(0, 2), (1, 1)]);
    assert_eq!(plan.streams[0].side.as_deref(), Some("caller"));
    assert!(plan.flags.is_empty(), "{:?}", plan.flags);
    assert_eq!(plan.roles, seen.lock().unwrap_or_else(|e| e.into_inner()).roles.clone().unwrap_or_default());
}

// Guards against: a driver that never reports a stream closed holding a call open: the
// set is sealed after end_grace on the (simulated) clock, and poll_timeout says when.
#[test]
fn a_stream_never_closed_is_sealed_after_the_end_grace() {
    let mut sim = Sim::new();
    sim.recording(1);
    let _ = sim.calls.handle_media([packet(1, 0, 1, sim.now)]);
    sim.ended(1, EndReason::Bye);
    let ended = sim.now;
    assert!(sim.calls.poll_timeout().is_some());
    sim.advance(Duration::from_secs(14));
    assert!(sim.outputs().is_empty());
    assert!(sim.calls.poll_timeout().is_some_and(|t| t <= ended + Duration::from_secs(15)));
    sim.advance(Duration::from_millis(1100));
    assert_eq!(sealed(sim.outputs()).len(), 1);
    assert_eq!(sim.calls.poll_timeout(), None);
}

// Guards against: RTP that overtakes the StreamsChanged event right after the 200 OK
// being dropped: the packet opens its stream's leg.
#[test]
fn rtp_before_the_stream_event_opens_the_leg() {
    let mut sim = Sim::new();
    sim.new_session(1);
    let seen = sim.decided(1, true);
    let _ = sim.outputs();
    let counts = sim.calls.handle_media([packet(1, 1, 10, sim.now), packet(1, 1, 11, sim.now)]);
    assert_eq!((counts.written, counts.unrouted), (2, 0));
    sim.event(Event::StreamsChanged {
        id: SessionId(1),
        streams: vec![stream(0, Role::Caller, 30000), stream(1, Role::Callee, 30002)],
        drop_media: false,
    });
    let s = seen.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(s.legs, [1, 0], "one leg each, stream 1 opened by its packet");
    assert_eq!(s.packets, [(1, 10), (1, 11)]);
}

// Guards against: media of a session not (yet, or no longer) recorded written anywhere.
#[test]
fn media_of_an_unknown_session_is_counted_unrouted() {
    let mut sim = Sim::new();
    sim.new_session(1);
    let counts = sim.calls.handle_media([packet(1, 0, 1, sim.now), packet(9, 0, 1, sim.now)]);
    assert_eq!((counts.written, counts.unrouted), (0, 2));
}

// Guards against: calls lost at shutdown: every open call is hung up and sealed flagged
// `shutdown`, and a call still being decided is answered 480 and abandoned.
#[test]
fn shutdown_seals_every_open_call_and_answers_the_undecided() {
    let mut sim = Sim::new();
    sim.recording(1);
    sim.recording(2);
    let _ = sim.calls.handle_media([packet(1, 0, 1, sim.now), packet(2, 1, 1, sim.now)]);
    sim.new_session(3);
    let _ = sim.outputs();
    sim.calls.handle_input(Input::Shutdown, sim.now);
    let out = sim.outputs();
    assert_eq!(commands(&out), [Command::Hangup(SessionId(1)), Command::Hangup(SessionId(2))]);
    let done = sealed(out);
    assert_eq!(done.len(), 2);
    for d in &done {
        assert!(flags_of(d).contains(&flags::FLAG_SHUTDOWN.to_owned()));
    }
    assert!(!sim.calls.is_done(), "session 3 is still being decided");
    // Events after shutdown change nothing.
    sim.new_session(4);
    assert!(sim.outputs().is_empty());
    sim.decided(3, true);
    let out = sim.outputs();
    assert_eq!(commands(&out), [Command::Decline(SessionId(3), Decline::Reject(480))]);
    assert_eq!(abandoned(out)[0].why, "the recorder is stopping");
    assert!(sim.calls.is_done());
    assert_eq!(sim.calls.recording(), 0);
}

// Guards against: a call whose 200 OK was never acknowledged and that got no media sealed
// as an (empty) recording; with media it is sealed and flagged no_ack.
#[test]
fn no_ack_without_media_is_unconfirmed_and_with_media_flagged() {
    let mut sim = Sim::new();
    sim.recording(1);
    sim.recording(2);
    let _ = sim.calls.handle_media([packet(2, 0, 1, sim.now)]);
    for id in [1, 2] {
        sim.ended(id, EndReason::NoAck);
        let _ = sim.calls.handle_media([closed(id, 0, StreamStats::default()), closed(id, 1, StreamStats::default())]);
    }
    sim.advance(Duration::from_millis(100));
    let done = sealed(sim.outputs());
    assert_eq!(done.len(), 2);
    assert!(matches!(&done[0], Completion::Unconfirmed { record, .. } if record.journal_call == 1));
    let f = flags_of(&done[1]);
    assert!(f.contains(&flags::FLAG_NO_ACK.to_owned()), "{f:?}");
    assert!(f.contains(&flags::FLAG_NO_MEDIA.to_owned()), "stream 1 got nothing: {f:?}");
}

// Guards against: foreign packets refused by the receiver not flagging the set.
#[test]
fn refused_foreign_packets_flag_the_set() {
    let mut sim = Sim::new();
    sim.recording(1);
    let t = sim.now;
    let _ = sim.calls.handle_media([packet(1, 0, 1, t), packet(1, 1, 1, t)]);
    let mut foreign = StreamStats::default();
    foreign.packets = 1;
    foreign.rejected_source = 3;
    sim.ended(1, EndReason::Bye);
    let _ = sim.calls.handle_media([closed(1, 0, foreign), closed(1, 1, StreamStats::default())]);
    sim.advance(Duration::from_millis(100));
    let done = sealed(sim.outputs());
    let Completion::Seal(plan) = &done[0] else { panic!("expected a seal") };
    assert_eq!(plan.flags, [flags::FLAG_RTP_REJECTED]);
    assert_eq!(plan.streams[0].rtp_rejected, Some(3));
    assert_eq!(plan.streams[1].rtp_rejected, Some(0));
}

#[test]
fn updated_metadata_is_kept_for_the_set() {
    let mut sim = Sim::new();
    let seen = sim.recording(1);
    sim.event(Event::MetadataUpdated { id: SessionId(1), facts: facts("call-1"), metadata_xml: "<v2/>".into() });
    assert_eq!(seen.lock().unwrap_or_else(|e| e.into_inner()).metadata.as_deref(), Some("<v2/>"));
    sim.calls.handle_input(Input::Shutdown, sim.now);
    let done = sealed(sim.outputs());
    let Completion::Seal(plan) = &done[0] else { panic!("expected a seal") };
    assert_eq!(plan.metadata_xml.as_deref(), Some("<v2/>"));
}

// Guards against a set claiming more than was recorded: one stream carrying both parties
// (BroadWorks' mixed stream) sat on the caller's side unmarked, as if it were the caller
// alone. The set is flagged `mixed`, and its roles say so for recovery after a crash.
#[test]
fn one_mixed_stream_is_sealed_flagged_mixed() {
    let mut sim = Sim::new();
    sim.new_session(1);
    let seen = sim.decided(1, true);
    sim.event(Event::StreamsChanged { id: SessionId(1), streams: vec![stream(0, Role::Mixed, 30000)], drop_media: false });
    let _ = sim.outputs();
    let t = sim.now;
    let _ = sim.calls.handle_media([packet(1, 0, 1, t)]);
    sim.ended(1, EndReason::Bye);
    let _ = sim.calls.handle_media([closed(1, 0, StreamStats::default())]);
    sim.advance(Duration::from_millis(100));
    let done = sealed(sim.outputs());
    let Completion::Seal(plan) = &done[0] else { panic!("expected a seal") };
    assert_eq!(plan.flags, ["mixed"]);
    assert_eq!(plan.streams[0].side.as_deref(), Some("caller"), "the left channel, marked mixed by the flag");
    let roles = seen.lock().unwrap_or_else(|e| e.into_inner()).roles.clone().expect("roles written");
    assert!(roles.mixed, "{roles:?}");
    assert_eq!(roles.caller.as_deref(), Some("stream0.wav"));
    assert_eq!(roles.callee, None);
}
