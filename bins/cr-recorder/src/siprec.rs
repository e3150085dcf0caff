//! The SIPREC adapter: cr-pbx's recording server ⇄ cr-call's call core ([`Calls`]), with
//! the threads and tasks around it. The core decides what happens to a call; this module
//! only carries its outputs out: commands to the recording server, decisions to the
//! decider thread (journal writes), sealing and abandoning to blocking tasks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use cr_call::io::FileLegs;
use cr_call::{Abandoned, CallSettings, CallStart, Calls, Completion, DecideRequest, Decided, Finishing, Input, Output};
use cr_pbx::Decline;
use cr_pbx::driver::SrsHandle;
use tokio::sync::mpsc;

use crate::core::{Recorder, SealJob};

/// Sessions decided at most in one journal transaction.
const DECIDE_BATCH: usize = 512;
/// Capacity of the channels to and from the decider thread (sessions).
const DECIDE_QUEUE: usize = 4096;

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

/// What the event loop drives: the core, and where its outputs go.
struct Adapter {
    recorder: Arc<Recorder>,
    calls: Calls<FileLegs>,
    commands: mpsc::UnboundedSender<cr_pbx::driver::Command>,
    /// The decider's queue; None once stopping (the core asks for no decision then).
    decide: Option<mpsc::Sender<DecideRequest>>,
    blocking: tokio::task::JoinSet<()>,
}

impl Adapter {
    /// Carries out every output of the core. A decision request that finds the decider's
    /// queue full is counted and waits, taking decisions in meanwhile (the decider may be
    /// waiting for room on its own queue back).
    async fn drain(&mut self, admissions: &mut mpsc::Receiver<Decided<FileLegs>>) {
        while let Some(out) = self.calls.poll_output() {
            match out {
                Output::Command(c) => {
                    let _ = self.commands.send(c);
                }
                Output::Decide(req) => self.send_decide(req, admissions).await,
                Output::Seal(f) => {
                    let r = self.recorder.clone();
                    self.blocking.spawn_blocking(move || seal(&r, f));
                }
                Output::Abandon(a) => {
                    let r = self.recorder.clone();
                    self.blocking.spawn_blocking(move || abandon(&r, a));
                }
            }
        }
    }

    async fn send_decide(&mut self, req: DecideRequest, admissions: &mut mpsc::Receiver<Decided<FileLegs>>) {
        let id = req.id;
        let Some(decide) = self.decide.clone() else {
            tracing::error!(session = %id, "the decider thread is gone; the session times out");
            return;
        };
        let req = match decide.try_send(req) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!(session = %id, "the decider thread is gone; the session times out");
                return;
            }
            Err(mpsc::error::TrySendError::Full(req)) => req,
        };
        self.recorder.metrics.channel_full("decide");
        loop {
            tokio::select! {
                permit = decide.reserve() => {
                    match permit {
                        Ok(p) => p.send(req),
                        Err(_) => tracing::error!(session = %id, "the decider thread is gone; the session times out"),
                    }
                    return;
                }
                Some(a) = admissions.recv() => admit(&mut self.calls, a),
            }
        }
    }
}

/// Hands a decision to the core (outputs are drained by the caller).
fn admit(calls: &mut Calls<FileLegs>, mut a: Decided<FileLegs>) {
    if let Ok(Some((_, store))) = &mut a.outcome {
        // Sample 0 of the legs is now, the instant the core counts from.
        store.start_at(SystemTime::now());
    }
    calls.handle_input(Input::Decided(a), Instant::now());
}

/// Runs the adapter until shutdown; then seals the calls in progress.
pub async fn run(
    recorder: Arc<Recorder>,
    mut handle: SrsHandle,
    decline: Decline,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (decide, mut admissions) = start_decider(recorder.clone())?;
    let _ = recorder.metrics.siprec.set(handle.stats.clone());
    let mut a = Adapter {
        calls: Calls::new(CallSettings::with_decline(decline)),
        recorder,
        commands: handle.commands.clone(),
        decide: Some(decide),
        blocking: tokio::task::JoinSet::new(),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            ev = handle.events.recv() => {
                let Some(ev) = ev else { break };
                a.calls.handle_input(Input::Event(ev), Instant::now());
            }
            batch = handle.media.recv() => {
                let Some(batch) = batch else { break };
                let counts = a.calls.handle_media(batch);
                let m = &a.recorder.metrics;
                m.rtp_packets.fetch_add(counts.written, Ordering::Relaxed);
                m.rtp_unrouted.fetch_add(counts.unrouted, Ordering::Relaxed);
            }
            _ = tick.tick() => a.calls.handle_input(Input::Timeout, Instant::now()),
            Some(_) = a.blocking.join_next(), if !a.blocking.is_empty() => {}
            Some(d) = admissions.recv() => admit(&mut a.calls, d),
            _ = shutdown.changed() => break,
        }
        a.drain(&mut admissions).await;
    }
    // Shutting down: the calls in progress are hung up and sealed as they are; calls still
    // being decided are answered 480 once their decision comes.
    a.calls.handle_input(Input::Shutdown, Instant::now());
    a.drain(&mut admissions).await;
    // The decider ends once its queue is empty and closed; so does `admissions`.
    a.decide = None;
    while let Some(d) = admissions.recv().await {
        admit(&mut a.calls, d);
        a.drain(&mut admissions).await;
    }
    while a.blocking.join_next().await.is_some() {}
    handle.shutdown();
    Ok(())
}

/// Completes the legs of a call that is over and seals it; the legs directory goes once
/// the set is spooled.
fn seal(recorder: &Recorder, f: Finishing<FileLegs>) {
    match f.complete() {
        Completion::Unconfirmed { record, store } => {
            recorder.metrics.unconfirmed.fetch_add(1, Ordering::Relaxed);
            recorder.abandon_call(&record, "our 200 OK was never acknowledged and no media came: not a recording");
            let _ = store.remove();
        }
        Completion::Seal(plan) => {
            // A missing side (one mixed stream, or a stream never offered) becomes silence.
            plan.store.silence_missing(&plan.roles);
            let (caller_leg, callee_leg) = plan.store.dir().leg_paths(&plan.roles);
            let result = recorder.seal_call(SealJob {
                call: &plan.record,
                caller_leg,
                callee_leg,
                metadata_xml: plan.metadata_xml,
                flags: plan.flags,
                streams: plan.streams,
                quality: plan.quality,
                ended_at: Some(Utc::now()),
            });
            if result.is_ok() {
                let _ = plan.store.remove();
            }
        }
    }
}

fn abandon(recorder: &Recorder, a: Abandoned<FileLegs>) {
    recorder.abandon_call(&a.record, &a.why);
    let _ = a.store.remove();
}

/// Starts the thread that decides new sessions. It takes every request waiting and
/// journals them in one transaction: call set-up then costs one disk sync per batch, not
/// per call, when hundreds of calls start within a second.
fn start_decider(
    recorder: Arc<Recorder>,
) -> anyhow::Result<(mpsc::Sender<DecideRequest>, mpsc::Receiver<Decided<FileLegs>>)> {
    let (req_tx, mut req_rx) = mpsc::channel::<DecideRequest>(DECIDE_QUEUE);
    let (tx, rx) = mpsc::channel(DECIDE_QUEUE);
    std::thread::Builder::new().name("cr-decide".into()).spawn(move || {
        while let Some(first) = req_rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < DECIDE_BATCH {
                match req_rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let now = Utc::now();
            let policy = recorder.policy();
            let starts: Vec<CallStart> = batch
                .iter()
                .map(|r| CallStart {
                    pbx_call_id: r.facts.call_id.clone(),
                    facts: cr_call::classify(&r.facts, |f| policy.decide(f).record),
                    started_at: now,
                })
                .collect();
            let decided = recorder.begin_calls(&starts, cr_call::SOURCE_SIPREC);
            for (i, r) in batch.into_iter().enumerate() {
                let outcome = match &decided {
                    Ok(all) => match all.get(i).and_then(|(_, rec)| rec.clone()) {
                        Some(record) => match recorder.persist_call(&record) {
                            Ok(mut store) => {
                                if let Some(xml) = &r.metadata_xml {
                                    let _ = cr_call::LegStore::write_metadata(&mut store, xml);
                                }
                                Ok(Some((record, store)))
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
                let d = Decided { id: r.id, outcome, metadata_xml: r.metadata_xml };
                let d = match tx.try_send(d) {
                    Ok(()) => continue,
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                    Err(mpsc::error::TrySendError::Full(d)) => d,
                };
                recorder.metrics.channel_full("admit");
                if tx.blocking_send(d).is_err() {
                    return;
                }
            }
        }
    })?;
    Ok((req_tx, rx))
}
