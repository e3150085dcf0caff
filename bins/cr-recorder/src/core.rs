//! The recorder's state and the way every recording ends: finalize → seal with the chain
//! link → journal → spool. Both adapters (SIPREC and the ingest API) and crash recovery go
//! through [`Recorder::seal_call`].

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};
use cr_call::flags::{FLAG_QUALITY, FLAG_RECOVERED, StreamReport};
use cr_call::io::FileLegs;
use cr_call::{CallRecord, CallStart, LegQuality, LegsRoot, QualityThresholds, Recovery, SetMetadata};
use cr_config::Config;
use cr_journal::{CallId, FileEntry, Journal, NewCall, NewRecording};
use cr_policy::{CallFacts, Decision, Direction, Policy};

mod decision_log;
mod health;

pub use decision_log::sealer as decision_log_sealer;

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// Calls being recorded now.
    pub active_calls: AtomicI64,
    /// Sets sealed.
    pub recorded: AtomicU64,
    /// Calls no configuration records.
    pub declined: AtomicU64,
    /// Recordings that failed to finalize or seal.
    pub failed: AtomicU64,
    /// RTP packets written into leg files.
    pub rtp_packets: AtomicU64,
    /// The SIPREC driver's own counters (received and ignored RTP), once it runs.
    pub siprec: std::sync::OnceLock<std::sync::Arc<cr_pbx::driver::DriverStats>>,
    /// Received packets no open recording took (its call already sealed, or its leg
    /// could not be written).
    pub rtp_unrouted: AtomicU64,
    /// Sealed sets by flag (`recovered`, `shutdown`, `rtp_rejected`, `media_lost`, ...).
    pub flagged: Mutex<std::collections::BTreeMap<String, u64>>,
    /// SIPREC calls whose 200 OK was never acknowledged and that got no media: not sealed.
    pub unconfirmed: AtomicU64,
    /// Sealed sets flagged `quality`, by reason (a set past two thresholds counts in both).
    pub quality_flagged: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Sends that found a channel between the recorder's threads full, by channel.
    channel_full: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// The decision log's counters.
    pub log: decision_log::LogMetrics,
}

/// The channels between the recorder's threads that count full sends (all shown in
/// `/metrics`, also at 0).
const CHANNELS: [&str; 2] = ["admit", "decide"];

impl Metrics {
    /// Counts a send that found `channel` full (and waited).
    pub fn channel_full(&self, channel: &'static str) {
        *self.channel_full.lock().unwrap_or_else(|e| e.into_inner()).entry(channel).or_default() += 1;
    }
}

/// Input of [`Recorder::seal_call`].
pub struct SealJob<'a> {
    /// The call.
    pub call: &'a CallRecord,
    /// The caller's leg file (need not exist for mode `callee`).
    pub caller_leg: PathBuf,
    /// The callee's leg file (need not exist for mode `caller`).
    pub callee_leg: PathBuf,
    /// The SIPREC metadata XML, kept in the set as `<id>.siprec.xml`.
    pub metadata_xml: Option<String>,
    /// Flags for metadata and journal (`recovered`, `shutdown`, `rtp_rejected`,
    /// `media_lost`, `no_media`; docs/reference.md).
    pub flags: Vec<String>,
    /// What each received stream got (SIPREC; empty for legs recorded elsewhere).
    pub streams: Vec<StreamReport>,
    /// The figures of the streams that are sides of the set, counted as their packets
    /// arrived (SIPREC); without streams the legs' audio is measured at sealing.
    pub quality: Vec<LegQuality>,
    /// End of the call, when known (else start + audio length).
    pub ended_at: Option<DateTime<Utc>>,
}

/// What sealing a set came to: its id, its flags, why it is flagged `quality`.
struct Sealed {
    id: String,
    flags: Vec<String>,
    reasons: Vec<String>,
}

/// The recorder.
pub struct Recorder {
    cfg: Config,
    policy: Policy,
    /// `[retention] default`: the period of sets whose configuration names none.
    default_retention: Option<cr_types::Period>,
    /// `[quality]`: when a sealed set is flagged `quality`.
    quality: QualityThresholds,
    journal: Mutex<Journal>,
    identity: cr_sign::Identity,
    spool: cr_storage::Spool,
    legs_root: LegsRoot,
    membership_stamp: AtomicI64,
    /// `[decision_log]`.
    decision_log: cr_setup::DecisionLogSettings,
    /// Counters.
    pub metrics: Metrics,
    /// Held while the recorder runs: one recorder per data directory.
    _instance: cr_storage::InstanceLock,
}

fn lock(j: &Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    // A panic elsewhere while holding the lock leaves the connection usable: SQLite rolls
    // back the open transaction when the reservation is dropped.
    j.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorder {
    /// Loads keystore, journal, policy and spool, and seals what a crash left behind.
    /// `default_retention` is `[retention] default` (the period of sets whose
    /// configuration names none; `None`: those never expire); `quality` is `[quality]`.
    /// `decision_log` is `[decision_log]`.
    pub fn start(
        cfg: Config,
        policy: Policy,
        default_retention: Option<cr_types::Period>,
        decision_log: cr_setup::DecisionLogSettings,
        quality: QualityThresholds,
    ) -> anyhow::Result<Self> {
        let data_dir = cfg.installation.data_dir.clone();
        // Before anything else, and above all before recovery: a second recorder on the
        // same data directory would otherwise seal and delete the first one's live legs.
        let instance = cr_storage::InstanceLock::acquire(&data_dir, "cr-recorder")?;
        let identity = open_identity(&cfg)?;
        let journal = Journal::open_url(&cfg.journal.url, &data_dir, &cr_journal::OpenOptions::new())
            .with_context(|| format!("{}: [journal] url", cfg.path.display()))?;
        let spool = cr_storage::Spool::open(data_dir.join("spool"))?;
        let legs_root = data_dir.join("legs");
        cr_storage::private_dir(&legs_root).with_context(|| format!("creating {}", legs_root.display()))?;
        journal.audit(
            &cr_journal::AuditKind::ConfigLoaded,
            Utc::now(),
            Some("cr-recorder"),
            None,
            &serde_json::json!({"config": cfg.path, "configurations": policy.configurations().collect::<Vec<_>>()}),
        )?;
        let recorder = Self {
            cfg,
            policy,
            default_retention,
            quality,
            journal: Mutex::new(journal),
            identity,
            spool,
            legs_root: LegsRoot::new(legs_root),
            membership_stamp: AtomicI64::new(-1),
            decision_log,
            metrics: Metrics::default(),
            _instance: instance,
        };
        recorder.sync_memberships();
        recorder.recover_decision_logs();
        recorder.recover_leftovers();
        Ok(recorder)
    }

    /// The policy engine.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Applies membership changes made by other processes (crctl) since the last look.
    pub fn sync_memberships(&self) {
        let journal = lock(&self.journal);
        let stamp = match journal.membership_stamp() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot read membership state from the journal: {e}");
                return;
            }
        };
        if self.membership_stamp.swap(stamp, Ordering::SeqCst) == stamp {
            return;
        }
        match journal.memberships() {
            Ok(list) => {
                for m in list {
                    match self.policy.set_active(&m.group, &m.user, m.active) {
                        Ok(_) => tracing::debug!(group = %m.group, user = %m.user, active = m.active, "membership applied"),
                        Err(e) => tracing::warn!("membership state in the journal no longer fits the configuration: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!("cannot read membership state from the journal: {e}"),
        }
    }

    /// Logs `user` in or out of `group` (API): policy at once, journal for restarts and
    /// other processes.
    pub fn set_membership(&self, group: &str, user: &str, active: bool, actor: &str) -> anyhow::Result<bool> {
        let before = self.policy.set_active(group, user, active)?;
        lock(&self.journal).set_membership(group, user, active, actor, Utc::now())?;
        tracing::info!(%group, %user, active, %actor, "membership changed");
        Ok(before)
    }

    /// Decides a call and, when it is recorded, claims it (a call id is recorded once) and
    /// journals it. Calls not recorded are journaled too, with the reason.
    pub fn begin_call(
        &self,
        pbx_call_id: &str,
        facts: &CallFacts,
        started_at: DateTime<Utc>,
        source: &str,
    ) -> anyhow::Result<(Decision, Option<CallRecord>)> {
        let start = CallStart { pbx_call_id: pbx_call_id.to_owned(), facts: facts.clone(), started_at };
        let mut all = self.begin_calls(std::slice::from_ref(&start), source)?;
        all.pop().ok_or_else(|| anyhow::anyhow!("no decision"))
    }

    /// [`begin_call`](Self::begin_call) for many calls at once, journaled in one
    /// transaction (one disk sync): what keeps call set-up fast when hundreds of calls
    /// start within a second. On a journal error no call of the batch is claimed.
    pub fn begin_calls(&self, starts: &[CallStart], source: &str) -> anyhow::Result<Vec<(Decision, Option<CallRecord>)>> {
        let decisions: Vec<Decision> =
            starts.iter().map(|c| self.policy.decide_and_claim(&c.pbx_call_id, &c.facts)).collect();
        let rows: Vec<NewCall> = starts
            .iter()
            .zip(&decisions)
            .map(|(c, decision)| NewCall {
                pbx_call_id: c.pbx_call_id.clone(),
                direction: match c.facts.direction {
                    Direction::Incoming => cr_journal::Direction::Incoming,
                    Direction::Outgoing => cr_journal::Direction::Outgoing,
                    _ => cr_journal::Direction::Internal,
                },
                caller: c.facts.caller.clone(),
                callee: c.facts.callee.clone(),
                diversions: c.facts.diversions.clone(),
                started_at: c.started_at,
                record: decision.record,
                configuration: decision.configuration.as_deref().map(str::to_owned),
                reason: decision.reason.to_string(),
            })
            .collect();
        let journal = lock(&self.journal);
        let declined: Vec<decision_log::CallSide<'_>> = starts
            .iter()
            .zip(&decisions)
            .filter(|(_, d)| !d.record)
            .map(|(c, d)| decision_log::CallSide { source, pbx_call_id: Some(&c.pbx_call_id), facts: &c.facts, decision: d, at: c.started_at })
            .collect();
        let changes =
            if declined.iter().any(|c| self.needs_changes(c)) { journal.memberships().unwrap_or_default() } else { Vec::new() };
        let entries: Vec<_> = declined.iter().map(|c| self.declined_entry(c, &changes)).collect();
        let written = journal.record_calls_logged(&rows, &entries);
        drop(journal);
        let ids = match written {
            Ok(ids) => {
                self.metrics.log.declined.fetch_add(entries.len() as u64, Ordering::Relaxed);
                ids
            }
            Err(e) => {
                for (c, d) in starts.iter().zip(&decisions) {
                    if d.record {
                        self.policy.release(&c.pbx_call_id);
                    }
                }
                return Err(e.into());
            }
        };
        let mut out = Vec::with_capacity(starts.len());
        for ((c, decision), journal_call) in starts.iter().zip(decisions).zip(ids) {
            if !decision.record {
                self.metrics.declined.fetch_add(1, Ordering::Relaxed);
                tracing::info!(call = %redact_id(&c.pbx_call_id), facts = %c.facts.redacted(), reason = %decision.reason.redacted(), "not recorded");
                out.push((decision, None));
                continue;
            }
            let record = CallRecord {
                id: new_set_id(c.started_at),
                pbx_call_id: c.pbx_call_id.clone(),
                journal_call: journal_call.0,
                facts: c.facts.clone(),
                decision: decision.clone(),
                started_at: c.started_at,
                source: source.to_owned(),
            };
            tracing::info!(
                set = %record.id,
                configuration = decision.configuration.as_deref().unwrap_or(""),
                facts = %c.facts.redacted(),
                reason = %decision.reason.redacted(),
                "recording"
            );
            self.metrics.active_calls.fetch_add(1, Ordering::Relaxed);
            out.push((decision, Some(record)));
        }
        Ok(out)
    }

    /// Creates the call's legs directory with its `call.json` (for recovery after a crash).
    pub fn persist_call(&self, call: &CallRecord) -> anyhow::Result<FileLegs> {
        Ok(FileLegs::create(&self.legs_root, call)?)
    }

    /// Ends a call that will not be sealed (e.g. no audio at all): releases the claim.
    pub fn abandon_call(&self, call: &CallRecord, why: &str) {
        self.log_failure(call, why);
        self.policy.release(&call.pbx_call_id);
        self.metrics.active_calls.fetch_sub(1, Ordering::Relaxed);
        let _ = lock(&self.journal).end_call(CallId(call.journal_call), Utc::now());
        tracing::warn!(set = %call.id, "recording abandoned: {why}");
    }

    /// Finalizes the legs into the configured channel layout, seals the set with the next
    /// chain link, journals it and hands it to the spool. Returns the set id.
    pub fn seal_call(&self, job: SealJob<'_>) -> anyhow::Result<String> {
        self.seal_with(job, None)
    }

    /// [`seal_call`](Self::seal_call) from legs the caller opened and checked (the ingest
    /// API: `leg_files`), read through those descriptors; `job`'s leg paths are not opened.
    pub fn seal_opened(
        &self,
        job: SealJob<'_>,
        caller: Option<cr_audio::WavReader>,
        callee: Option<cr_audio::WavReader>,
    ) -> anyhow::Result<String> {
        self.seal_with(job, Some((caller, callee)))
    }

    /// The set already sealed for PBX call id `pbx_call_id`, if any.
    pub fn sealed_set_of(&self, pbx_call_id: &str) -> anyhow::Result<Option<String>> {
        Ok(lock(&self.journal).set_of_pbx_call(pbx_call_id)?)
    }

    /// After a failed [`seal_opened`](Self::seal_opened) of an ingested call: nothing is
    /// left behind unless the set was journaled (then it stays, and is spooled by the
    /// next start). The staging directory goes, the call is ended in the journal.
    pub fn discard_failed(&self, call: &CallRecord) {
        let journal = lock(&self.journal);
        if matches!(journal.recording(&call.id), Ok(Some(_))) {
            return;
        }
        let _ = journal.end_call(CallId(call.journal_call), Utc::now());
        drop(journal);
        match self.spool.incoming(&call.id).map(|slot| slot.discard()) {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => tracing::warn!(set = %call.id, "cannot remove the set's staging directory: {e}"),
        }
    }

    fn seal_with(
        &self,
        job: SealJob<'_>,
        opened: Option<(Option<cr_audio::WavReader>, Option<cr_audio::WavReader>)>,
    ) -> anyhow::Result<String> {
        let result = self.seal_call_inner(&job, opened);
        self.policy.release(&job.call.pbx_call_id);
        self.metrics.active_calls.fetch_sub(1, Ordering::Relaxed);
        match &result {
            Ok(sealed) => {
                self.metrics.recorded.fetch_add(1, Ordering::Relaxed);
                let mut flagged = self.metrics.flagged.lock().unwrap_or_else(|e| e.into_inner());
                for f in &sealed.flags {
                    *flagged.entry(f.clone()).or_default() += 1;
                }
                drop(flagged);
                let mut by_reason = self.metrics.quality_flagged.lock().unwrap_or_else(|e| e.into_inner());
                for r in &sealed.reasons {
                    *by_reason.entry(r.clone()).or_default() += 1;
                }
            }
            Err(e) => {
                self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                self.log_failure(job.call, &format!("the set could not be sealed: {e:#}"));
                tracing::error!(set = %job.call.id, "recording could not be sealed (legs kept for the next start): {e:#}");
            }
        }
        result.map(|s| s.id)
    }

    fn seal_call_inner(
        &self,
        job: &SealJob<'_>,
        mut opened: Option<(Option<cr_audio::WavReader>, Option<cr_audio::WavReader>)>,
    ) -> anyhow::Result<Sealed> {
        let call = job.call;
        let id = &call.id;
        let decision = &call.decision;
        let configuration = decision.configuration.as_deref().context("decision records no configuration")?;
        // One type (cr_types::Channels): the policy's decision is the finaliser's mode.
        let channels = decision.channels.unwrap_or_default();
        let staging = self.spool.staging_dir(id)?;
        let (caller_leg, callee_leg) = (&job.caller_leg, &job.callee_leg);
        let siprec = !job.streams.is_empty();
        let quality = crate::quality::assess(&self.quality, channels, &job.quality, siprec, caller_leg, callee_leg, opened.as_mut())
            .with_context(|| format!("measuring the legs of {id}"))?;
        let mut flags = job.flags.clone();
        if quality.flagged() {
            flags.push(FLAG_QUALITY.to_owned());
            tracing::warn!(set = %id, reasons = ?quality.reasons, "set flagged quality: {}", quality.summary());
        }
        let audio = match opened {
            None => cr_audio::finalize(&job.caller_leg, &job.callee_leg, channels, &staging, id),
            Some((a, b)) => cr_audio::finalize_opened(a, b, channels, &staging, id, &cr_audio::FinalizeOptions::default()),
        }
        .with_context(|| format!("finalizing the legs of {id}"))?;
        let mut duration_ms = 0u64;
        for f in &audio {
            let info = cr_audio::read_info(f)?;
            duration_ms = duration_ms.max(info.duration().as_millis() as u64);
        }
        let ended_at = job
            .ended_at
            .unwrap_or_else(|| call.started_at + chrono::Duration::milliseconds(duration_ms as i64));
        let meta_path = staging.join(format!("{id}.json"));
        let mut files: Vec<PathBuf> = audio.clone();
        if let Some(xml) = &job.metadata_xml {
            let p = staging.join(format!("{id}.siprec.xml"));
            std::fs::write(&p, xml).with_context(|| format!("writing {}", p.display()))?;
            files.push(p);
        }
        // Hash the audio before taking the chain link: other calls wait for the link only
        // while the small metadata file is written, hashed and signed.
        let mut hashed = cr_sign::HashedFiles::new(id)?;
        hashed.add(&files)?;
        let targets: Vec<String> = decision.targets.iter().map(|t| t.to_string()).collect();
        let expires_at = self.expiry(call);
        let now = Utc::now();
        let cert = self.identity.certificate();
        let location = self.spool.set_dir(id);
        let journal = lock(&self.journal);
        let make_meta = |link: &cr_journal::ChainLink| {
            SetMetadata {
                audio: audio.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect(),
                callee: call.facts.callee.clone(),
                caller: call.facts.caller.clone(),
                certificate_sha256: cert.fingerprint_sha256(),
                chain: link.clone(),
                channels,
                configuration: configuration.to_owned(),
                direction: call.facts.direction,
                diversions: call.facts.diversions.clone(),
                duration_ms,
                ended_at,
                expires_at,
                flags: flags.clone(),
                id: id.clone(),
                module_id: self.cfg.installation.module_id.clone(),
                pbx_call_id: call.pbx_call_id.clone(),
                quality: Some(quality.clone()),
                reason: decision.reason.to_string(),
                sealed_at: now,
                source: call.source.clone(),
                started_at: call.started_at,
                streams: job.streams.clone(),
            }
            .to_json()
        };
        let commit = |mut reservation: cr_journal::ChainReservation<'_>, sealed: &cr_sign::SealedSet| {
            reservation.record_quality(&quality)?;
            reservation.commit(
                &sealed.checksum_sha256,
                &NewRecording {
                    set_id: id.clone(),
                    call: CallId(call.journal_call),
                    configuration: configuration.to_owned(),
                    started_at: call.started_at,
                    ended_at,
                    channels: channels.to_string(),
                    files: sealed
                        .files
                        .iter()
                        .map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() })
                        .collect(),
                    cert_fingerprint: cert.fingerprint_sha256(),
                    flags: flags.clone(),
                    location: location.display().to_string(),
                    targets: targets.clone(),
                    expires_at,
                },
            )
        };
        let (link, sealed) = cr_sign::seal_into_chain(&journal, &self.identity, hashed, id, now, &meta_path, make_meta, commit)?;
        let _ = journal.end_call(CallId(call.journal_call), ended_at);
        drop(journal);
        // From here the set is sealed; moving it into the spool is idempotent on restart.
        self.spool.enqueue(&staging, id, &targets, call.started_at, now)?;
        tracing::info!(
            set = %id,
            seq = link.seq,
            configuration,
            files = sealed.files.len(),
            duration_ms,
            flags = ?flags,
            quality = %quality.summary(),
            "sealed and spooled for {}",
            targets.join(", ")
        );
        Ok(Sealed { id: id.clone(), flags, reasons: quality.reasons })
    }

    /// When the set of `call` expires: its start plus the period of the configuration that
    /// recorded it (kept in the call's decision, also across a crash), else
    /// `[retention] default`; `None`: never.
    fn expiry(&self, call: &CallRecord) -> Option<DateTime<Utc>> {
        call.decision.retention.or(self.default_retention).map(|p| p.expiry(call.started_at))
    }

    /// Seals every call a crash left in `legs/`: legs are repaired (`cr_audio::recover`)
    /// and the set flagged `recovered`. A set sealed before the crash but not yet spooled is
    /// spooled.
    pub fn recover_leftovers(&self) {
        for dir in cr_call::io::leftover_dirs(&self.legs_root) {
            if let Err(e) = self.recover_one(dir.clone()) {
                tracing::error!(dir = %dir.path().display(), "cannot recover this call (left in place): {e:#}");
            }
        }
    }

    fn recover_one(&self, dir: cr_call::LegsDir) -> anyhow::Result<()> {
        let leftover = cr_call::io::read_leftover(dir)?;
        let Some(call) = &leftover.record else {
            tracing::warn!(dir = %leftover.dir.path().display(), "leftover legs without call.json: nothing to seal, left in place");
            return Ok(());
        };
        let sealed = lock(&self.journal).recording(&call.id)?.is_some();
        let slot = self.spool.incoming(&call.id)?;
        let remove = |dir: &cr_call::LegsDir| std::fs::remove_dir_all(dir.path());
        match leftover.plan(sealed) {
            Recovery::LeaveInPlace => {}
            Recovery::Spool => {
                // Sealed and committed before the crash; make sure it reached the spool.
                if slot.exists() {
                    let targets: Vec<String> = call.decision.targets.iter().map(|t| t.to_string()).collect();
                    self.spool.enqueue(slot.path(), &call.id, &targets, call.started_at, Utc::now())?;
                }
                remove(&leftover.dir)?;
                tracing::info!(set = %call.id, "set was sealed before the restart; spooled");
            }
            Recovery::EndWithoutAudio => {
                // Not sealed, and stopped before any audio was written: nothing to seal.
                let _ = slot.discard();
                let _ = lock(&self.journal).end_call(CallId(call.journal_call), call.started_at);
                remove(&leftover.dir)?;
                tracing::warn!(set = %call.id, "call ended by the crash before any audio was recorded");
            }
            Recovery::Seal => {
                // Not sealed: start over from the legs.
                let _ = slot.discard();
                let repaired = cr_audio::recover(leftover.dir.path())?;
                for r in &repaired {
                    tracing::info!(set = %call.id, leg = %r.path.display(), action = ?r.action, samples = r.samples, "leg recovered");
                }
                let _ = self.policy.decide_and_claim(&call.pbx_call_id, &call.facts);
                self.metrics.active_calls.fetch_add(1, Ordering::Relaxed);
                let roles = cr_call::io::read_roles(&leftover.dir);
                let (caller_leg, callee_leg) = leftover.dir.leg_paths(&roles);
                self.seal_call(SealJob {
                    call,
                    caller_leg,
                    callee_leg,
                    metadata_xml: leftover.metadata_xml.clone(),
                    flags: std::iter::once(FLAG_RECOVERED).chain(roles.flag()).map(str::to_owned).collect(),
                    streams: Vec::new(),
                    quality: Vec::new(),
                    ended_at: None,
                })?;
                remove(&leftover.dir)?;
            }
        }
        Ok(())
    }

    /// Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        // One computation for these gauges and the console's status page.
        let (spool_sets, oldest, free) = match self.spool.gauges(Utc::now()) {
            Ok(g) => (g.sets, g.oldest_secs, g.free_percent),
            Err(_) => (0, 0, self.spool.free_percent().unwrap_or(-1.0)),
        };
        let mut text = format!(
            "# HELP callrec_active_calls Calls being recorded now.\n# TYPE callrec_active_calls gauge\ncallrec_active_calls {}\n\
             # HELP callrec_recorded_total Recording sets sealed.\n# TYPE callrec_recorded_total counter\ncallrec_recorded_total {}\n\
             # HELP callrec_declined_total Calls no configuration records.\n# TYPE callrec_declined_total counter\ncallrec_declined_total {}\n\
             # HELP callrec_failed_total Recordings that could not be sealed.\n# TYPE callrec_failed_total counter\ncallrec_failed_total {}\n\
             # HELP callrec_rtp_packets_total RTP packets written into leg files.\n# TYPE callrec_rtp_packets_total counter\ncallrec_rtp_packets_total {}\n\
             # HELP callrec_rtp_received_total RTP packets received on accepted SIPREC streams.\n# TYPE callrec_rtp_received_total counter\ncallrec_rtp_received_total {}\n\
             # HELP callrec_rtp_ignored_total RTP packets dropped on receipt (telephone-event, declined media, and all of callrec_rtp_rejected_total).\n# TYPE callrec_rtp_ignored_total counter\ncallrec_rtp_ignored_total {}\n\
             # HELP callrec_rtp_rejected_total RTP packets refused on a stream's port, by reason: source (not the address and port of the SDP), ssrc (another SSRC than the stream's), payload_type, malformed.\n# TYPE callrec_rtp_rejected_total counter\n\
             callrec_rtp_rejected_total{{reason=\"source\"}} {}\ncallrec_rtp_rejected_total{{reason=\"ssrc\"}} {}\ncallrec_rtp_rejected_total{{reason=\"payload_type\"}} {}\ncallrec_rtp_rejected_total{{reason=\"malformed\"}} {}\n\
             # HELP callrec_rtp_unrouted_total Received RTP packets no open recording took.\n# TYPE callrec_rtp_unrouted_total counter\ncallrec_rtp_unrouted_total {}\n\
             # HELP callrec_rtp_ports_free Even RTP ports of rtp_ports free now (a call needs two).\n# TYPE callrec_rtp_ports_free gauge\ncallrec_rtp_ports_free {}\n\
             # HELP callrec_calls_refused_total SIPREC INVITEs answered 503, by reason: no_ports (no RTP port free), source_limit (max_pending_invites_per_source reached), media_failed (an RTP socket could not be bound).\n# TYPE callrec_calls_refused_total counter\n\
             callrec_calls_refused_total{{reason=\"no_ports\"}} {}\ncallrec_calls_refused_total{{reason=\"source_limit\"}} {}\ncallrec_calls_refused_total{{reason=\"media_failed\"}} {}\n\
             # HELP callrec_calls_unconfirmed_total SIPREC calls whose 200 OK was never acknowledged and that got no media (not sealed).\n# TYPE callrec_calls_unconfirmed_total counter\ncallrec_calls_unconfirmed_total {}\n\
             # HELP callrec_srtp_rejected_total SRTP packets dropped before the leg writers: failed authentication, or replayed.\n# TYPE callrec_srtp_rejected_total counter\ncallrec_srtp_rejected_total{{reason=\"auth\"}} {}\ncallrec_srtp_rejected_total{{reason=\"replay\"}} {}\n\
             # HELP callrec_spool_sets Sets waiting in the spool.\n# TYPE callrec_spool_sets gauge\ncallrec_spool_sets {}\n\
             # HELP callrec_spool_oldest_seconds Age of the oldest set in the spool.\n# TYPE callrec_spool_oldest_seconds gauge\ncallrec_spool_oldest_seconds {}\n\
             # HELP callrec_spool_free_percent Free space on the spool's file system.\n# TYPE callrec_spool_free_percent gauge\ncallrec_spool_free_percent {:.1}\n",
            m.active_calls.load(Ordering::Relaxed).max(0),
            m.recorded.load(Ordering::Relaxed),
            m.declined.load(Ordering::Relaxed),
            m.failed.load(Ordering::Relaxed),
            m.rtp_packets.load(Ordering::Relaxed),
            m.siprec.get().map_or(0, |s| s.rtp_packets.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.rtp_ignored.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.rtp_rejected_source.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.rtp_rejected_ssrc.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.rtp_rejected_payload_type.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.rtp_rejected_malformed.load(Ordering::Relaxed)),
            m.rtp_unrouted.load(Ordering::Relaxed),
            m.siprec.get().map_or(0, |s| s.rtp_ports_free.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.refused_no_ports.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.refused_source_limit.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.refused_media_failed.load(Ordering::Relaxed)),
            m.unconfirmed.load(Ordering::Relaxed),
            m.siprec.get().map_or(0, |s| s.srtp_rejected_auth.load(Ordering::Relaxed)),
            m.siprec.get().map_or(0, |s| s.srtp_rejected_replay.load(Ordering::Relaxed)),
            spool_sets,
            oldest,
            free,
        );
        text.push_str(&self.decision_log_metrics());
        text.push_str("# HELP callrec_sets_flagged_total Sealed sets by flag (recovered, shutdown, rtp_rejected, media_lost, no_media, ...).\n# TYPE callrec_sets_flagged_total counter\n");
        for (flag, n) in m.flagged.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            text.push_str(&format!("callrec_sets_flagged_total{{flag=\"{flag}\"}} {n}\n"));
        }
        text.push_str("# HELP callrec_quality_flagged_total Sealed sets flagged quality, by reason: loss, gap, silence, one_sided ([quality] thresholds; a set past two counts in both).\n# TYPE callrec_quality_flagged_total counter\n");
        let by_reason = m.quality_flagged.lock().unwrap_or_else(|e| e.into_inner());
        for reason in cr_call::REASONS {
            let n = by_reason.get(reason).copied().unwrap_or(0);
            text.push_str(&format!("callrec_quality_flagged_total{{reason=\"{reason}\"}} {n}\n"));
        }
        drop(by_reason);
        text.push_str("# HELP callrec_channel_full_total Sends that found a channel between the recorder's threads full (and waited), by channel: decide (new SIPREC sessions to the decider thread), admit (decisions back).\n# TYPE callrec_channel_full_total counter\n");
        let full = m.channel_full.lock().unwrap_or_else(|e| e.into_inner());
        for channel in CHANNELS {
            let n = full.get(channel).copied().unwrap_or(0);
            text.push_str(&format!("callrec_channel_full_total{{channel=\"{channel}\"}} {n}\n"));
        }
        drop(full);
        if let Some(s) = m.siprec.get() {
            let counter = |text: &mut String, name: &str, help: &str, v: &AtomicU64| {
                let v = v.load(Ordering::Relaxed);
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"));
            };
            counter(&mut text, "callrec_sip_tcp_accept_errors_total", "SIP/TCP accepts that failed (e.g. no descriptor left); the listener retries.", &s.tcp_accept_errors);
            counter(&mut text, "callrec_sip_tcp_refused_total", "SIP/TCP connections closed at once: tcp_max_connections were open.", &s.tcp_refused);
            counter(&mut text, "callrec_sip_tcp_idle_closed_total", "SIP/TCP connections closed after tcp_idle_timeout without a SIP message.", &s.tcp_idle_closed);
            let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
            text.push_str(&format!(
                "# HELP callrec_sip_dropped_total Received SIP messages dropped before the SIPREC core, by reason: queue_full (the bounded queue to the core was full; UDP senders retransmit).\n\
                 # TYPE callrec_sip_dropped_total counter\ncallrec_sip_dropped_total{{reason=\"queue_full\"}} {}\n\
                 # HELP callrec_send_errors_total SIP messages that could not be sent, by transport (no connection, queue full, connection closed, write failed).\n\
                 # TYPE callrec_send_errors_total counter\ncallrec_send_errors_total{{transport=\"udp\"}} {}\ncallrec_send_errors_total{{transport=\"tcp\"}} {}\ncallrec_send_errors_total{{transport=\"tls\"}} {}\n",
                load(&s.sip_dropped_queue_full),
                load(&s.send_errors_udp),
                load(&s.send_errors_tcp),
                load(&s.send_errors_tls),
            ));
        }
        text
    }
}

/// RTP ports one call needs (caller and callee streams): `/v1/health` answers 503 below.
const PORTS_PER_CALL: u64 = 2;

/// Periodic work: membership changes made by crctl.
pub async fn housekeeping(
    recorder: std::sync::Arc<Recorder>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = every.tick() => {
                // The journal is read on a thread that may block, never on the async workers.
                let r = recorder.clone();
                let _ = tokio::task::spawn_blocking(move || r.sync_memberships()).await;
            }
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Opens the keystore and logs the certificate at INFO (S14, S19).
fn open_identity(cfg: &Config) -> anyhow::Result<cr_sign::Identity> {
    cr_sign::open_configured(cfg)
        .map_err(|e| anyhow::anyhow!("{e} (create it with `crctl --config {} keys init`)", cfg.path.display()))
}

/// A set id ([`cr_types::set_id::new`]): start time (UTC, sortable) and 32 random bits
/// from the OS, ASCII-safe on every target.
pub fn new_set_id(started_at: DateTime<Utc>) -> String {
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    cr_types::set_id::new(started_at, r)
}

/// A PBX call id for logs: SIP Call-IDs often carry host names and numbers.
pub fn redact_id(id: &str) -> String {
    let keep: String = id.chars().take(6).collect();
    format!("{keep}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn set_ids_sort_by_start_and_are_safe_file_names() {
        let a = new_set_id(Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0).unwrap());
        let b = new_set_id(Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 1).unwrap());
        assert!(a.starts_with("20261126T093000000Z-"), "{a}");
        assert!(a < b);
        assert!(cr_sign::is_valid_id(&a));
    }
}
