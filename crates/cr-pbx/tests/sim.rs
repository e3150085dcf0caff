//! Our SRC and our SRS talking in memory on a simulated clock, with loss, duplication and
//! reordering injected. No sockets.

use cr_pbx::{
    CallSpec, Codec, EndReason, Event, Input, Output, Role, SessionId, Src, SrcCallId, SrcConfig,
    RandomSource, SrcEvent, SrcOutput, Srs, SrsConfig, Timers, Transport,
};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic randomness for the network (and the SRS's port choice).
#[derive(Debug)]
struct Rng(u64);
impl RandomSource for Rng {
    fn next_u64(&mut self) -> u64 {
        self.next()
    }
}
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

struct Net {
    rng: Rng,
    loss: f64,
    dup: f64,
    /// (deliver at, seq) -> (to_srs, from, bytes)
    queue: BTreeMap<(Instant, u64), (bool, SocketAddr, Vec<u8>)>,
    seq: u64,
}

impl Net {
    fn send(&mut self, now: Instant, to_srs: bool, from: SocketAddr, bytes: Vec<u8>) {
        if self.rng.chance(self.loss) {
            return;
        }
        let copies = if self.rng.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            // 1..80 ms of jitter reorders messages sent close together
            let at = now + Duration::from_millis(self.rng.range(1, 80));
            self.seq += 1;
            self.queue
                .insert((at, self.seq), (to_srs, from, bytes.clone()));
        }
    }
}

#[derive(Default, Debug)]
struct Seen {
    answered: usize,
    failed: Vec<u16>,
    src_ended: usize,
    new_sessions: usize,
    roles_ok: usize,
    ended: HashMap<SessionId, EndReason>,
}

fn run(seed: u64, calls: usize, loss: f64, dup: f64, hangup_after: Duration) -> (Seen, Srs, Src) {
    let srs_addr: SocketAddr = "10.0.0.1:5060".parse().expect("addr");
    let src_addr: SocketAddr = "10.0.0.2:5060".parse().expect("addr");
    let t0 = Instant::now();
    let mut now = t0;
    let mut cfg = SrsConfig::new(srs_addr.ip(), 5060);
    cfg.rtp_ports = (40000, 40999);
    let mut srs = Srs::with_random(cfg, Box::new(Rng(seed.rotate_left(17) | 1)));
    let mut src = Src::new(SrcConfig {
        local: src_addr,
        timers: Timers::default(),
        seed: seed ^ 0xabc,
    });
    let mut net = Net {
        rng: Rng(seed | 1),
        loss,
        dup,
        queue: BTreeMap::new(),
        seq: 0,
    };
    let mut seen = Seen::default();
    let mut hangups: BTreeMap<(Instant, u64), SrcCallId> = BTreeMap::new();
    for i in 0..calls {
        src.start_call(
            CallSpec {
                target: srs_addr,
                transport: Transport::Udp,
                caller: format!("+49301{i}"),
                callee: format!("20{i}"),
                rtp_ports: [20000, 20002],
                codec: if i % 2 == 0 { Codec::Pcmu } else { Codec::Pcma },
            },
            now,
        );
    }
    let end = t0 + Duration::from_secs(600);
    while now < end {
        // drain both cores
        let src_next = loop {
            match src.poll_output() {
                SrcOutput::Transmit { bytes, .. } => net.send(now, true, src_addr, bytes),
                SrcOutput::Event(SrcEvent::Answered { id, rtp }) => {
                    assert_eq!(rtp.len(), 2, "two RTP destinations");
                    let p0 = rtp[0].expect("stream 1 accepted").port();
                    let p1 = rtp[1].expect("stream 2 accepted").port();
                    for p in [p0, p1] {
                        assert!(p % 2 == 0 && (40000..=40999).contains(&p), "even port of the range: {p}");
                    }
                    assert_eq!(p1, p0 + 2, "consecutive even ports within a session");
                    seen.answered += 1;
                    hangups.insert((now + hangup_after, id.0), id);
                }
                SrcOutput::Event(SrcEvent::Failed { status, .. }) => seen.failed.push(status),
                SrcOutput::Event(SrcEvent::Ended { .. }) => seen.src_ended += 1,
                SrcOutput::Event(_) => {}
                SrcOutput::Timeout(t) => break t,
            }
        };
        let srs_next = loop {
            match srs.poll_output() {
                Output::Transmit { bytes, .. } => net.send(now, false, srs_addr, bytes),
                Output::Event(Event::NewSession {
                    id,
                    facts,
                    streams,
                    metadata_xml,
                    ..
                }) => {
                    seen.new_sessions += 1;
                    assert!(metadata_xml.is_some());
                    assert!(
                        facts
                            .caller
                            .as_deref()
                            .is_some_and(|c| c.starts_with("+49301"))
                    );
                    assert!(facts.callee.as_deref().is_some_and(|c| c.starts_with("20")));
                    let l1 = streams
                        .iter()
                        .find(|s| s.label.as_deref() == Some("1"))
                        .expect("label 1");
                    let l2 = streams
                        .iter()
                        .find(|s| s.label.as_deref() == Some("2"))
                        .expect("label 2");
                    if l1.role == Role::Caller && l2.role == Role::Callee {
                        seen.roles_ok += 1;
                    }
                    srs.accept(id, now);
                }
                Output::Event(Event::SessionEnded { id, reason }) => {
                    seen.ended.insert(id, reason);
                }
                // The driver's part: sockets bound, the 200 may leave.
                Output::Event(Event::StreamsChanged { id, .. }) => srs.media_ready(id, Ok(()), now),
                Output::Event(_) => {}
                Output::Timeout(t) => break t,
            }
        };
        let due_hangup = hangups.keys().next().map(|k| k.0);
        let due_net = net.queue.keys().next().map(|k| k.0);
        let mut next = src_next.min(srs_next);
        if let Some(h) = due_hangup {
            next = next.min(h);
        }
        if let Some(d) = due_net {
            next = next.min(d);
        }
        if src.call_count() == 0
            && srs.session_count() == 0
            && net.queue.is_empty()
            && hangups.is_empty()
        {
            break;
        }
        now = next.max(now);
        if let Some(d) = due_net
            && d <= now
        {
            let (_, (to_srs, from, bytes)) = net.queue.pop_first().expect("non-empty");
            if to_srs {
                srs.handle_input(
                    Input::Datagram {
                        source: from,
                        transport: Transport::Udp,
                        bytes: &bytes,
                    },
                    now,
                );
            } else {
                src.handle_input(
                    Input::Datagram {
                        source: from,
                        transport: Transport::Udp,
                        bytes: &bytes,
                    },
                    now,
                );
            }
            continue;
        }
        if let Some(h) = due_hangup
            && h <= now
        {
            let (_, id) = hangups.pop_first().expect("non-empty");
            src.hangup(id, now);
            continue;
        }
        if src_next <= now {
            src.handle_input(Input::Timeout, now);
        }
        if srs_next <= now {
            srs.handle_input(Input::Timeout, now);
        }
    }
    (seen, srs, src)
}

#[test]
fn clean_network_all_calls_complete() {
    let (seen, srs, src) = run(1, 20, 0.0, 0.0, Duration::from_secs(5));
    assert_eq!(seen.answered, 20);
    assert_eq!(seen.new_sessions, 20);
    assert_eq!(
        seen.roles_ok, 20,
        "caller stream = label 1, callee = label 2"
    );
    assert_eq!(seen.ended.len(), 20);
    assert!(
        seen.ended.values().all(|r| *r == EndReason::Bye),
        "{:?}",
        seen.ended
    );
    assert_eq!(srs.session_count(), 0);
    assert_eq!(src.call_count(), 0);
}

#[test]
fn lossy_duplicating_reordering_network_still_completes() {
    for seed in [7u64, 99, 12345, 0xfeed] {
        let (seen, srs, _src) = run(seed, 30, 0.2, 0.15, Duration::from_secs(3));
        // Loss of 20% per message: INVITE and BYE retransmissions must carry every call
        // through; a session is never created twice for a duplicated INVITE.
        assert!(
            seen.failed.is_empty(),
            "seed {seed}: failures {:?}",
            seen.failed
        );
        assert_eq!(seen.new_sessions, 30, "seed {seed}");
        assert_eq!(seen.answered, 30, "seed {seed}");
        assert_eq!(seen.ended.len(), 30, "seed {seed}");
        assert!(
            seen.ended.values().all(|r| *r == EndReason::Bye),
            "seed {seed}: {:?}",
            seen.ended
        );
        assert_eq!(srs.session_count(), 0, "seed {seed}");
        assert_eq!(seen.src_ended, 30, "seed {seed}");
    }
}

#[test]
fn total_loss_fails_with_timeout_and_leaves_nothing_behind() {
    let (seen, srs, src) = run(3, 3, 1.0, 0.0, Duration::from_secs(1));
    assert_eq!(seen.failed, vec![408, 408, 408]);
    assert_eq!(srs.session_count(), 0);
    assert_eq!(src.call_count(), 0);
}

/// Delivers every message between the two cores at once (no loss) until both are idle;
/// `decide` answers NewSession (None = keep the SRS waiting).
fn exchange(src: &mut Src, srs: &mut Srs, now: Instant, decide: bool, log: &mut Vec<String>) {
    let src_addr: SocketAddr = "10.0.0.2:5060".parse().expect("addr");
    let srs_addr: SocketAddr = "10.0.0.1:5060".parse().expect("addr");
    for _ in 0..20 {
        let mut moved = false;
        loop {
            match src.poll_output() {
                SrcOutput::Transmit { bytes, .. } => {
                    moved = true;
                    srs.handle_input(
                        Input::Datagram {
                            source: src_addr,
                            transport: Transport::Udp,
                            bytes: &bytes,
                        },
                        now,
                    );
                }
                SrcOutput::Event(e) => log.push(format!("src {e:?}")),
                SrcOutput::Timeout(_) => break,
            }
        }
        loop {
            match srs.poll_output() {
                Output::Transmit { bytes, .. } => {
                    moved = true;
                    src.handle_input(
                        Input::Datagram {
                            source: srs_addr,
                            transport: Transport::Udp,
                            bytes: &bytes,
                        },
                        now,
                    );
                }
                Output::Event(Event::NewSession { id, .. }) => {
                    log.push("srs NewSession".into());
                    if decide {
                        srs.accept(id, now);
                    }
                }
                Output::Event(e) => {
                    if let Event::StreamsChanged { id, .. } = &e {
                        srs.media_ready(*id, Ok(()), now);
                    }
                    log.push(format!("srs {e:?}"))
                }
                Output::Timeout(_) => break,
            }
        }
        if !moved {
            break;
        }
    }
}

#[test]
fn src_cancel_before_answer_gets_487() {
    let t0 = Instant::now();
    let mut srs = Srs::new(SrsConfig::new("10.0.0.1".parse().expect("ip"), 5060));
    let mut src = Src::new(SrcConfig {
        local: "10.0.0.2:5060".parse().expect("addr"),
        timers: Timers::default(),
        seed: 5,
    });
    let spec = CallSpec {
        target: "10.0.0.1:5060".parse().expect("addr"),
        transport: Transport::Udp,
        caller: "1".into(),
        callee: "2".into(),
        rtp_ports: [20000, 20002],
        codec: Codec::Pcmu,
    };
    let id = src.start_call(spec.clone(), t0);
    let mut log = Vec::new();
    exchange(&mut src, &mut srs, t0, false, &mut log);
    assert!(log.iter().any(|l| l == "srs NewSession"));
    src.hangup(id, t0);
    exchange(&mut src, &mut srs, t0, false, &mut log);
    assert!(
        log.iter()
            .any(|l| l.contains("Failed") && l.contains("487")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("SessionEnded") && l.contains("Cancelled")),
        "{log:?}"
    );
    assert_eq!(srs.session_count(), 0);
    assert_eq!(src.call_count(), 0);
}
