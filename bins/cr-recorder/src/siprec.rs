//! The SIPREC adapter: cr-pbx's recording server → policy → one leg writer per stream →
//! seal at BYE.
//!
//! Legs are written as `legs/<set id>/stream<N>.wav` (N = m-line index) with
//! `roles.json` naming which stream is the caller's and which the callee's, so that a
//! metadata update that swaps roles (an SRC that sends a placeholder participant first)
//! and a restart after a crash both pick the right files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use cr_audio::{LegOptions, LegWriter, RtpFrame};
use cr_pbx::driver::{Command, MediaEvent, SrsHandle, StreamStats};
use cr_pbx::{Decline, EndReason, Event, Role, SessionId, StreamInfo};
use cr_policy::{CallFacts, Direction};
use serde::{Deserialize, Serialize};

use crate::core::{CallRecord, CallStart, Recorder, SealJob, StreamReport};

/// How long after BYE we wait for the last streams to close before sealing anyway. The
/// driver reports each stream closed about 300 ms after BYE, behind the stream's last
/// packet; this only bounds a driver that fell far behind under overload.
const END_GRACE: Duration = Duration::from_secs(15);

/// Starts the SIPREC server of `[pbx.siprec]`.
pub async fn start(settings: &cr_setup::SipRecSettings) -> anyhow::Result<SrsHandle> {
    let driver = settings.driver_config();
    let handle = cr_pbx::driver::start_srs(driver)
        .await
        .map_err(|e| anyhow::anyhow!("[pbx.siprec]: {e}"))?;
    for a in &handle.local_addrs {
        tracing::info!(listen = ?a, rtp_ports = %settings.rtp_ports, "SIPREC recording server listening");
    }
    Ok(handle)
}

/// Which leg file holds whose voice.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Roles {
    /// File name of the caller's leg.
    pub caller: Option<String>,
    /// File name of the callee's leg.
    pub callee: Option<String>,
}

/// The caller's and callee's leg files in a call's legs directory (`roles.json`, else
/// `stream0.wav` / `stream1.wav`).
pub fn leg_paths(dir: &Path) -> (PathBuf, PathBuf) {
    let roles: Roles = std::fs::read(dir.join("roles.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (
        dir.join(roles.caller.unwrap_or_else(|| "stream0.wav".into())),
        dir.join(roles.callee.unwrap_or_else(|| "stream1.wav".into())),
    )
}

struct Session {
    record: CallRecord,
    dir: PathBuf,
    started: Instant,
    started_wall: SystemTime,
    /// Open leg writers by stream index (two, usually: a list beats a map here).
    legs: Vec<(usize, LegWriter)>,
    open: std::collections::HashSet<usize>,
    roles: Roles,
    metadata_xml: Option<String>,
    ended: Option<Instant>,
    failed: bool,
    /// What the RTP receiver reported for each closed stream (by m-line index).
    received: HashMap<usize, StreamStats>,
    /// RTP packets written into the legs.
    packets: u64,
    /// Why the session ended, once it did.
    end_reason: Option<EndReason>,
    /// SRTP packets of this call that failed authentication (flagged `srtp_rejected`).
    srtp_rejected: u64,
}

impl Session {
    /// The leg writer of stream `index`, opened at its first use.
    fn leg(&mut self, index: usize, codec: cr_pbx::Codec) -> Option<&mut LegWriter> {
        if let Some(at) = self.legs.iter().position(|(i, _)| *i == index) {
            return Some(&mut self.legs[at].1);
        }
        if self.failed {
            return None;
        }
        let rate = if codec == cr_pbx::Codec::G722 { 16_000 } else { 8_000 };
        let path = self.dir.join(format!("stream{index}.wav"));
        match LegWriter::create(&path, LegOptions::new(rate, self.started_wall)) {
            Ok(w) => {
                self.open.insert(index);
                self.legs.push((index, w));
                self.legs.last_mut().map(|(_, w)| w)
            }
            Err(e) => {
                tracing::error!(set = %self.record.id, "cannot create leg {}: {e}", path.display());
                self.failed = true;
                None
            }
        }
    }

    fn assign_roles(&mut self, streams: &[StreamInfo]) {
        let name = |i: usize| format!("stream{i}.wav");
        let mut roles = Roles::default();
        for s in streams.iter().filter(|s| s.codec.is_some()) {
            match s.role {
                Role::Caller if roles.caller.is_none() => roles.caller = Some(name(s.index)),
                Role::Callee if roles.callee.is_none() => roles.callee = Some(name(s.index)),
                _ => {}
            }
        }
        // No (usable) metadata: first stream the caller's, second the callee's; one mixed
        // stream goes to the caller's side.
        for s in streams.iter().filter(|s| s.codec.is_some()) {
            let n = name(s.index);
            if roles.caller.as_ref() == Some(&n) || roles.callee.as_ref() == Some(&n) {
                continue;
            }
            if roles.caller.is_none() {
                roles.caller = Some(n);
            } else if roles.callee.is_none() {
                roles.callee = Some(n);
            }
        }
        if roles != self.roles {
            self.roles = roles;
            let _ = std::fs::write(self.dir.join("roles.json"), serde_json::to_vec(&self.roles).unwrap_or_default());
        }
    }
}

/// Classifies a SIPREC call against the directory: SIPREC metadata does not say whether a
/// call is incoming or outgoing. Incoming is tried first (the callee is a recorded group or
/// user), then outgoing (the caller is a recorded user or active member); when neither
/// records, the facts of the incoming reading are kept with that reason.
fn classify(recorder: &Recorder, facts: &cr_pbx::CallFacts) -> CallFacts {
    let caller = facts.caller.clone().unwrap_or_default();
    let callee = facts.callee.clone().unwrap_or_default();
    let incoming = CallFacts::new(Direction::Incoming, caller.clone(), callee.clone());
    if recorder.policy().decide(&incoming).record {
        return incoming;
    }
    let outgoing = CallFacts::new(Direction::Outgoing, caller, callee);
    if recorder.policy().decide(&outgoing).record {
        return outgoing;
    }
    incoming
}

/// Runs the adapter until shutdown; then seals the calls in progress.
pub async fn run(
    recorder: Arc<Recorder>,
    mut handle: SrsHandle,
    decline: Decline,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut sessions: HashMap<SessionId, Session> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut sealing = tokio::task::JoinSet::new();
    let (decide, mut admissions) = start_decider(recorder.clone())?;
    let _ = recorder.metrics.siprec.set(handle.stats.clone());
    let mut pending = std::collections::HashSet::new();
    let mut ended_early = std::collections::HashSet::new();
    loop {
        tokio::select! {
            ev = handle.events.recv() => {
                let Some(ev) = ev else { break };
                on_event(&recorder, &mut sessions, &decide, &mut pending, &mut ended_early, ev);
            }
            batch = handle.media.recv() => {
                let Some(batch) = batch else { break };
                let (mut written, mut unrouted) = (0, 0);
                for m in batch {
                    match on_media(&mut sessions, m) {
                        Some(true) => written += 1,
                        Some(false) => unrouted += 1,
                        None => {}
                    }
                }
                let (m, relaxed) = (&recorder.metrics, std::sync::atomic::Ordering::Relaxed);
                m.rtp_packets.fetch_add(written, relaxed);
                m.rtp_unrouted.fetch_add(unrouted, relaxed);
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let done: Vec<SessionId> = sessions
                    .iter_mut()
                    .filter_map(|(id, s)| {
                        let since = now.saturating_duration_since(s.started);
                        for (_, leg) in &mut s.legs {
                            if let Err(e) = leg.tick(since) {
                                tracing::error!(set = %s.record.id, "leg write failed: {e}");
                                s.failed = true;
                            }
                        }
                        let ended = s.ended?;
                        (s.open.is_empty() || now.saturating_duration_since(ended) > END_GRACE).then_some(*id)
                    })
                    .collect();
                for id in done {
                    if let Some(s) = sessions.remove(&id) {
                        sealing.spawn_blocking({
                            let r = recorder.clone();
                            move || finish(&r, s, Vec::new())
                        });
                    }
                }
            }
            Some(_) = sealing.join_next(), if !sealing.is_empty() => {}
            Some(a) = admissions.recv() => {
                pending.remove(&a.id);
                admit(&recorder, &handle, &mut sessions, &mut ended_early, decline, a);
            }
            _ = shutdown.changed() => break,
        }
    }
    // Shutting down: calls still being decided were never answered; the calls in progress
    // are sealed as they are.
    drop(decide);
    while let Some(a) = admissions.recv().await {
        if let Admission { id, outcome: Ok(Some((record, dir))), .. } = a {
            let _ = handle.commands.send(Command::Decline(id, Decline::Reject(480)));
            recorder.abandon_call(&record, "the recorder is stopping");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    for (id, s) in sessions.drain() {
        let _ = handle.commands.send(Command::Hangup(id));
        let r = recorder.clone();
        sealing.spawn_blocking(move || finish(&r, s, vec!["shutdown".to_owned()]));
    }
    while sealing.join_next().await.is_some() {}
    handle.shutdown();
    Ok(())
}

/// A new session to decide.
struct DecideRequest {
    id: SessionId,
    facts: Box<cr_pbx::CallFacts>,
    metadata_xml: Option<String>,
}

/// Sessions decided at most in one journal transaction.
const DECIDE_BATCH: usize = 512;

/// Starts the thread that decides new sessions. It takes every request waiting and
/// journals them in one transaction: call set-up then costs one disk sync per batch, not
/// per call, when hundreds of calls start within a second.
fn start_decider(
    recorder: Arc<Recorder>,
) -> anyhow::Result<(std::sync::mpsc::Sender<DecideRequest>, tokio::sync::mpsc::UnboundedReceiver<Admission>)> {
    let (req_tx, req_rx) = std::sync::mpsc::channel::<DecideRequest>();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::Builder::new().name("cr-decide".into()).spawn(move || {
        while let Ok(first) = req_rx.recv() {
            let mut batch = vec![first];
            while batch.len() < DECIDE_BATCH {
                match req_rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let now = Utc::now();
            let starts: Vec<CallStart> = batch
                .iter()
                .map(|r| CallStart { pbx_call_id: r.facts.call_id.clone(), facts: classify(&recorder, &r.facts), started_at: now })
                .collect();
            let decided = recorder.begin_calls(&starts, "siprec");
            for (i, r) in batch.into_iter().enumerate() {
                let outcome = match &decided {
                    Ok(all) => match all.get(i).and_then(|(_, rec)| rec.clone()) {
                        Some(record) => match recorder.persist_call(&record) {
                            Ok(dir) => {
                                if let Some(xml) = &r.metadata_xml {
                                    let _ = std::fs::write(dir.join("metadata.xml"), xml);
                                }
                                Ok(Some((record, dir)))
                            }
                            Err(e) => {
                                recorder.abandon_call(&record, &format!("{e:#}"));
                                Err(format!("{e:#}"))
                            }
                        },
                        None => Ok(None),
                    },
                    Err(e) => Err(format!("cannot journal the call: {e:#}")),
                };
                if tx.send(Admission { id: r.id, outcome, metadata_xml: r.metadata_xml }).is_err() {
                    return;
                }
            }
        }
    })?;
    Ok((req_tx, rx))
}

/// What deciding a new session came to (computed off the event loop).
struct Admission {
    id: SessionId,
    outcome: Result<Option<(CallRecord, PathBuf)>, String>,
    metadata_xml: Option<String>,
}

/// Answers the SRC once a new session is decided.
fn admit(
    recorder: &Recorder,
    handle: &SrsHandle,
    sessions: &mut HashMap<SessionId, Session>,
    ended_early: &mut std::collections::HashSet<SessionId>,
    decline: Decline,
    a: Admission,
) {
    let id = a.id;
    let (record, dir) = match a.outcome {
        Ok(Some(x)) => x,
        Ok(None) => {
            ended_early.remove(&id);
            let _ = handle.commands.send(Command::Decline(id, decline));
            return;
        }
        Err(e) => {
            ended_early.remove(&id);
            tracing::error!(session = %id, "refusing the call: {e}");
            let _ = handle.commands.send(Command::Decline(id, Decline::Reject(500)));
            return;
        }
    };
    if ended_early.remove(&id) {
        // Cancelled while we decided.
        recorder.abandon_call(&record, "cancelled before the answer");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    sessions.insert(
        id,
        Session {
            record,
            dir,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            legs: Vec::new(),
            open: Default::default(),
            roles: Roles::default(),
            metadata_xml: a.metadata_xml,
            ended: None,
            failed: false,
            received: HashMap::new(),
            packets: 0,
            end_reason: None,
            srtp_rejected: 0,
        },
    );
    let _ = handle.commands.send(Command::Accept(id));
}

#[allow(clippy::too_many_arguments)]
fn on_event(
    recorder: &Arc<Recorder>,
    sessions: &mut HashMap<SessionId, Session>,
    decide: &std::sync::mpsc::Sender<DecideRequest>,
    pending: &mut std::collections::HashSet<SessionId>,
    ended_early: &mut std::collections::HashSet<SessionId>,
    ev: Event,
) {
    match ev {
        Event::NewSession { id, facts, metadata_xml, metadata_error, .. } => {
            if let Some(e) = &metadata_error {
                tracing::warn!(session = %id, "metadata not usable, falling back to From/To: {e}");
            }
            // The decision writes the journal (durably): off the event loop, so that media
            // keeps flowing while many calls start at once.
            pending.insert(id);
            if decide.send(DecideRequest { id, facts, metadata_xml }).is_err() {
                tracing::error!(session = %id, "the decider thread is gone; the session times out");
            }
        }
        Event::StreamsChanged { id, streams, drop_media } => {
            let Some(s) = sessions.get_mut(&id) else { return };
            if drop_media {
                return;
            }
            s.assign_roles(&streams);
            for st in streams.iter().filter(|st| st.local_port != 0) {
                if let Some((codec, _)) = st.codec {
                    let _ = s.leg(st.index, codec);
                }
            }
        }
        Event::MetadataUpdated { id, metadata_xml, .. } => {
            if let Some(s) = sessions.get_mut(&id) {
                let _ = std::fs::write(s.dir.join("metadata.xml"), &metadata_xml);
                s.metadata_xml = Some(metadata_xml);
            }
        }
        Event::SessionEnded { id, reason } => {
            if pending.contains(&id) {
                ended_early.insert(id);
            }
            if let Some(s) = sessions.get_mut(&id) {
                tracing::debug!(set = %s.record.id, ?reason, "session ended");
                if s.legs.is_empty() || reason == EndReason::MediaFailed {
                    // Cancelled before the answer, never any stream, or refused with 503
                    // because an RTP socket could not be bound: nothing recorded.
                    let s = sessions.remove(&id).expect("present: looked up above");
                    recorder.abandon_call(&s.record, &format!("session ended without media ({reason:?})"));
                    let _ = std::fs::remove_dir_all(&s.dir);
                } else {
                    s.ended = Some(Instant::now());
                    s.end_reason = Some(reason);
                }
            }
        }
        _ => {}
    }
}

/// Feeds one media event to its leg: for a packet, whether it was written.
fn on_media(sessions: &mut HashMap<SessionId, Session>, m: MediaEvent) -> Option<bool> {
    match m {
        MediaEvent::Packet(p) => {
            let Some(s) = sessions.get_mut(&p.session) else { return Some(false) };
            let since = p.arrival.saturating_duration_since(s.started);
            // RTP can overtake the StreamsChanged event right after our 200 OK.
            let Some(leg) = s.leg(p.stream_index, p.codec) else { return Some(false) };
            let codec = match p.codec {
                cr_pbx::Codec::Pcmu => cr_audio::Codec::Pcmu,
                cr_pbx::Codec::Pcma => cr_audio::Codec::Pcma,
                cr_pbx::Codec::G722 => cr_audio::Codec::G722,
                _ => return Some(false),
            };
            let frame = RtpFrame {
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
            if let Some(s) = sessions.get_mut(&session) {
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

/// Finishes the legs and seals the call; the legs directory goes once the set is spooled.
/// Each stream's counts go into the metadata, and a stream that received foreign packets,
/// lost real ones or got none flags the set (docs/reference.md, section 3).
fn finish(recorder: &Recorder, mut s: Session, mut flags: Vec<String>) {
    if s.srtp_rejected > 0 {
        // Forged packets, or real ones that could not be decrypted: audio may be missing.
        tracing::warn!(set = %s.record.id, packets = s.srtp_rejected, "SRTP packets failed authentication");
        flags.push("srtp_rejected".to_owned());
    }
    if s.end_reason == Some(EndReason::NoAck) {
        if s.packets == 0 {
            // Our 200 OK was never acknowledged and no packet came: the SRC never set the
            // call up (a storm of INVITEs, or an SRC that failed); nothing to seal.
            drop(std::mem::take(&mut s.legs));
            recorder.metrics.unconfirmed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            recorder.abandon_call(&s.record, "our 200 OK was never acknowledged and no media came: not a recording");
            let _ = std::fs::remove_dir_all(&s.dir);
            return;
        }
        flags.push("no_ack".to_owned());
    }
    let mut streams = Vec::new();
    for (index, leg) in s.legs.drain(..) {
        let name = format!("stream{index}.wav");
        let side = if s.roles.caller.as_deref() == Some(name.as_str()) {
            Some("caller".to_owned())
        } else if s.roles.callee.as_deref() == Some(name.as_str()) {
            Some("callee".to_owned())
        } else {
            None
        };
        let (packets, late) = match leg.finish() {
            Ok(summary) => (summary.packets, summary.late_packets),
            Err(e) => {
                tracing::error!(set = %s.record.id, "cannot finish a leg: {e}");
                (0, 0)
            }
        };
        let got = s.received.get(&index);
        streams.push(StreamReport {
            index,
            side,
            packets,
            late,
            lost: got.map(|g| g.lost),
            rtp_rejected: got.map(|g| g.rejected()),
            rejected_source: got.map(|g| g.rejected_source),
            rejected_ssrc: got.map(|g| g.rejected_ssrc),
            rejected_payload_type: got.map(|g| g.rejected_payload_type),
            rejected_malformed: got.map(|g| g.rejected_malformed),
        });
    }
    streams.sort_by_key(|r| r.index);
    for f in streams.iter().flat_map(StreamReport::flags) {
        if !flags.iter().any(|x| x == f) {
            flags.push(f.to_owned());
        }
    }
    if !flags.is_empty() {
        tracing::warn!(set = %s.record.id, ?flags, ?streams, "recording flagged");
    }
    let (caller, callee) = leg_paths(&s.dir);
    // A missing side (one mixed stream, or a stream never offered) becomes silence.
    for p in [&caller, &callee] {
        if !p.exists()
            && let Ok(w) = LegWriter::create(p, LegOptions::new(8_000, s.started_wall))
        {
            let _ = w.finish();
        }
    }
    let result = recorder.seal_call(SealJob {
        call: &s.record,
        caller_leg: caller,
        callee_leg: callee,
        metadata_xml: s.metadata_xml.take(),
        flags,
        streams,
        ended_at: Some(Utc::now()),
    });
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&s.dir);
    }
}
