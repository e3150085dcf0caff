//! The delivery loop's core: one pass over the spool for every target that is due.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backoff::{Backoff, jitter};
use crate::notify::{Backlog, Notice, Notifier, SpaceWatch};
use crate::spool::{DeliveryLog, SetMeta, Spool};
use crate::target::Target;
use crate::template::{DirTemplate, Zone};

struct Slot {
    target: Box<dyn Target>,
    template: DirTemplate,
    backoff: Backoff,
}

/// What one pass did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PassReport {
    /// (set, target) deliveries confirmed in this pass.
    pub delivered: usize,
    /// Failures in this pass: (target, set, error).
    pub failed: Vec<(String, String, String)>,
    /// Sets removed from the spool because every target confirmed them.
    pub removed: Vec<String>,
    /// Sets still waiting after the pass.
    pub pending_sets: usize,
    /// Problems with the spool itself (unknown target names, unreadable sets).
    pub spool_errors: Vec<String>,
    /// Notifications to send.
    pub notices: Vec<Notice>,
    /// When the next target becomes due (`None`: nothing is waiting for back-off).
    pub next_due: Option<DateTime<Utc>>,
    /// Free space of the spool's file system, percent.
    pub free_percent: Option<f64>,
    /// Some target stopped at the pass budget with sets left: start the next pass at once.
    pub more_work: bool,
    /// The time-stamp pass (with a [`Timestamper`](crate::Timestamper) only).
    #[cfg(feature = "timestamps")]
    pub timestamps: Option<crate::TimestampReport>,
}

/// Delivers the spool to its targets: each target on its own thread within a pass, with its
/// own back-off, so that one target's outage never holds back another.
pub struct Uploader {
    spool: Spool,
    log: Mutex<Box<dyn DeliveryLog + Send>>,
    zone: Zone,
    slots: Vec<Slot>,
    notifier: Option<Notifier>,
    space: Option<SpaceWatch>,
    base_delay: Duration,
    max_delay: Duration,
    budget: Duration,
    passes: u64,
    #[cfg(feature = "timestamps")]
    timestamper: Option<crate::Timestamper>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader").field("spool", &self.spool).field("targets", &self.slots.len()).finish()
    }
}

impl Uploader {
    /// An uploader for `spool`, recording into `log`; templates are rendered in `zone`.
    /// Back-off defaults: 10 s doubling up to 15 min.
    pub fn new(spool: Spool, log: Box<dyn DeliveryLog + Send>, zone: Zone) -> Self {
        Self {
            spool,
            log: Mutex::new(log),
            zone,
            slots: Vec::new(),
            notifier: None,
            space: None,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(900),
            budget: Duration::from_secs(60),
            passes: 0,
            #[cfg(feature = "timestamps")]
            timestamper: None,
        }
    }

    /// Adds a target with its directory template.
    pub fn add_target(&mut self, target: Box<dyn Target>, template: DirTemplate) {
        let backoff = Backoff::new(self.base_delay, self.max_delay);
        self.slots.push(Slot { target, template, backoff });
    }

    /// Sets the back-off of targets added afterwards (default 10 s up to 15 min).
    pub fn set_backoff(&mut self, base: Duration, max: Duration) {
        self.base_delay = base;
        self.max_delay = max;
        for s in &mut self.slots {
            s.backoff = Backoff::new(base, max);
        }
    }

    /// How long one target may keep starting new sets within a pass (default 60 s), so a
    /// slow target with a long backlog does not delay new sets for the others.
    pub fn set_pass_budget(&mut self, budget: Duration) {
        self.budget = budget;
    }

    /// Turns on outage notices (reminders every `reminder`) and the free-space watch.
    pub fn set_notifications(&mut self, reminder: Duration, min_free_percent: f64) {
        self.notifier = Some(Notifier::new(reminder));
        self.space = Some(SpaceWatch::new(min_free_percent));
    }

    /// Time-stamps every set (RFC 3161) before delivering it: each pass first asks for
    /// the tokens sets lack, and a set leaves the spool only with its token delivered.
    #[cfg(feature = "timestamps")]
    pub fn set_timestamper(&mut self, t: crate::Timestamper) {
        self.timestamper = Some(t);
    }

    /// Whether set `id` is complete for removal: it has its token, or no token is asked for.
    fn token_ready(&self, _id: &str) -> bool {
        #[cfg(feature = "timestamps")]
        if self.timestamper.is_some() {
            return crate::has_token(&self.spool, _id);
        }
        true
    }

    /// The targets, for start-up checks.
    pub fn targets_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Target>> {
        self.slots.iter_mut().map(|s| &mut s.target)
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Bytes still to deliver (sum over sets and the targets that lack them).
    pub fn backlog_bytes(&self) -> u64 {
        let Ok(pending) = self.spool.pending() else { return 0 };
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = 0;
        for m in pending {
            let Ok(set) = self.spool.open_set(&m.id) else { continue };
            for t in &m.targets {
                if log.state(&m.id, t).map(|s| s.delivered.is_none()).unwrap_or(true) {
                    total += set.total_bytes();
                }
            }
        }
        total
    }

    /// One pass: every due target gets every set it lacks, oldest first, until its first
    /// failure; sets every target confirmed leave the spool. `clock` gives the current time;
    /// `progress` receives byte counts.
    pub fn pass(&mut self, clock: &(dyn Fn() -> DateTime<Utc> + Sync), progress: &(dyn Fn(u64) + Sync)) -> PassReport {
        let mut report = PassReport::default();
        let start = clock();
        self.passes += 1;
        let pending = match self.spool.pending() {
            Ok(p) => p,
            Err(e) => {
                report.spool_errors.push(e.to_string());
                return report;
            }
        };
        let known: Vec<String> = self.slots.iter().map(|s| s.target.name().to_owned()).collect();
        for m in &pending {
            for t in &m.targets {
                if !known.contains(t) {
                    report.spool_errors.push(format!(
                        "set {} names target {t:?}, which is not configured; it stays in the spool",
                        m.id
                    ));
                }
            }
        }
        #[cfg(feature = "timestamps")]
        if let Some(ts) = &mut self.timestamper {
            let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
            report.timestamps = Some(ts.pass(&self.spool, &pending, &mut **guard, start));
        }
        let zone = self.zone;
        let spool = &self.spool;
        let log = &self.log;
        let seed = (start.timestamp_nanos_opt().unwrap_or(0) as u64) ^ self.passes;
        let deadline = start + chrono::Duration::from_std(self.budget).unwrap_or(chrono::Duration::MAX);
        let cx = &PassCtx { spool, log, zone, deadline, clock, progress };
        let results: Vec<(usize, Option<SlotOutcome>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .slots
                .iter_mut()
                .enumerate()
                .filter(|(_, s)| s.backoff.due(start))
                .map(|(i, slot)| {
                    let pending = &pending;
                    (i, scope.spawn(move || run_slot(slot, pending, cx)))
                })
                .collect();
            handles.into_iter().map(|(i, h)| (i, h.join().ok())).collect()
        });
        let now = clock();
        for (i, outcome) in results {
            let slot = &mut self.slots[i];
            let name = slot.target.name().to_owned();
            let outcome = outcome.unwrap_or_else(|| SlotOutcome {
                delivered: 0,
                failure: Some(("-".into(), "the upload thread panicked".into())),
                attempted: true,
                stopped_at_budget: false,
            });
            report.delivered += outcome.delivered;
            report.more_work |= outcome.stopped_at_budget && outcome.failure.is_none();
            let backlog = backlog_of(&name, &pending, log);
            match outcome.failure {
                Some((set, err)) => {
                    slot.backoff.on_failure(now, jitter(seed.wrapping_add(i as u64)));
                    if let Some(n) = &mut self.notifier
                        && let Some(notice) = n.observe(&name, Err(&err), now, backlog)
                    {
                        report.notices.push(notice);
                    }
                    report.failed.push((name, set, err));
                }
                None => {
                    if outcome.attempted {
                        slot.backoff.on_success();
                    }
                    if let Some(n) = &mut self.notifier
                        && outcome.attempted
                        && let Some(notice) = n.observe(&name, Ok(()), now, backlog)
                    {
                        report.notices.push(notice);
                    }
                }
            }
        }
        // Sets every target confirmed leave the spool.
        let guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut left = Vec::new();
        for m in &pending {
            let all = m.targets.iter().all(|t| guard.state(&m.id, t).map(|s| s.delivered.is_some()).unwrap_or(false));
            if all && self.token_ready(&m.id) {
                match self.spool.remove_if_delivered(&m.id, &**guard) {
                    Ok(()) => {
                        tracing::info!(target: "cr_storage", set = %m.id, "every target confirmed the set; removed from the spool");
                        report.removed.push(m.id.clone());
                    }
                    Err(e) => {
                        report.spool_errors.push(e.to_string());
                        left.push(m);
                    }
                }
            } else {
                left.push(m);
            }
        }
        drop(guard);
        report.pending_sets = left.len();
        report.next_due = self
            .slots
            .iter()
            .filter(|s| left.iter().any(|m| m.targets.iter().any(|t| t == s.target.name())))
            .filter_map(|s| s.backoff.next_at())
            .min();
        #[cfg(feature = "timestamps")]
        if let Some(t) = report.timestamps.as_ref().filter(|t| !t.waiting.is_empty()).and_then(|t| t.next_due) {
            report.next_due = Some(report.next_due.map_or(t, |d| d.min(t)));
        }
        if let Ok(pct) = self.spool.free_percent() {
            report.free_percent = Some(pct);
            let oldest = left.iter().map(|m| m.enqueued_at).min();
            if let Some(w) = &mut self.space
                && let Some(n) = w.observe(pct, now, Backlog::new(left.len(), oldest))
            {
                report.notices.push(n);
            }
        }
        report
    }
}

struct SlotOutcome {
    delivered: usize,
    failure: Option<(String, String)>,
    attempted: bool,
    stopped_at_budget: bool,
}

fn backlog_of(target: &str, pending: &[SetMeta], log: &Mutex<Box<dyn DeliveryLog + Send>>) -> Backlog {
    let log = log.lock().unwrap_or_else(|p| p.into_inner());
    let waiting: Vec<&SetMeta> = pending
        .iter()
        .filter(|m| m.targets.iter().any(|t| t == target))
        .filter(|m| log.state(&m.id, target).map(|s| s.delivered.is_none()).unwrap_or(true))
        .collect();
    Backlog::new(waiting.len(), waiting.iter().map(|m| m.enqueued_at).min())
}

/// What every target's thread shares during a pass.
struct PassCtx<'a> {
    spool: &'a Spool,
    log: &'a Mutex<Box<dyn DeliveryLog + Send>>,
    zone: Zone,
    deadline: DateTime<Utc>,
    clock: &'a (dyn Fn() -> DateTime<Utc> + Sync),
    progress: &'a (dyn Fn(u64) + Sync),
}

fn run_slot(slot: &mut Slot, pending: &[SetMeta], cx: &PassCtx<'_>) -> SlotOutcome {
    let PassCtx { spool, log, zone, deadline, clock, progress } = *cx;
    let name = slot.target.name().to_owned();
    let mut out = SlotOutcome { delivered: 0, failure: None, attempted: false, stopped_at_budget: false };
    let lock = || log.lock().unwrap_or_else(|p| p.into_inner());
    for m in pending.iter().filter(|m| m.targets.contains(&name)) {
        match lock().state(&m.id, &name) {
            Ok(s) if s.delivered.is_some() => continue,
            Ok(_) => {}
            Err(e) => {
                out.failure = Some((m.id.clone(), format!("delivery log: {e}")));
                return out;
            }
        }
        let at = clock();
        if out.attempted && at >= deadline {
            out.stopped_at_budget = true;
            return out;
        }
        out.attempted = true;
        if let Err(e) = lock().record_attempt(&m.id, &name, at) {
            out.failure = Some((m.id.clone(), format!("delivery log: {e}")));
            return out;
        }
        let dir = slot.template.render(zone.local(m.started_at));
        let result = match spool.open_set(&m.id) {
            Err(e) => Err((e.to_string(), true)),
            Ok(set) => slot
                .target
                .deliver(&set, &dir, &mut |n| progress(n))
                .map_err(|e| (e.to_string(), e.is_set_specific())),
        };
        let at = clock();
        match result {
            Ok(d) => {
                tracing::info!(
                    target: "cr_storage",
                    set = %m.id, target_name = %name, location = %d.location,
                    written = d.files_written, already_there = d.files_present, bytes = d.bytes_written,
                    "delivered"
                );
                if let Err(e) = lock().record_success(&m.id, &name, at, &d.location, &dir) {
                    out.failure = Some((m.id.clone(), format!("delivery log: {e}")));
                    return out;
                }
                out.delivered += 1;
            }
            Err((e, only_this_set)) => {
                tracing::warn!(target: "cr_storage", set = %m.id, target_name = %name, error = %e, "delivery failed; will retry");
                let _ = lock().record_failure(&m.id, &name, at, &e);
                if out.failure.is_none() {
                    out.failure = Some((m.id.clone(), e));
                }
                if only_this_set {
                    // The target works; the other sets need not wait for this one.
                    continue;
                }
                slot.target.disconnect();
                return out;
            }
        }
    }
    out
}

/// Counts per target of sets waiting, for status displays.
pub(crate) fn _waiting_counts(pending: &[SetMeta]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in pending {
        for t in &s.targets {
            *m.entry(t.clone()).or_insert(0) += 1;
        }
    }
    m
}
