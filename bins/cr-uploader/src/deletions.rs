//! The deletion pass inside the uploader (issue 13, docs/reference.md §4): one
//! [`cr_retention::run_configured`] every `[retention] interval`, each outcome logged with its
//! set id, a target failing in the pass mailed as upload outages are (its own outage state).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use cr_retention::{Outcome, PassError};
use cr_storage::{Backlog, Mailer, Notifier};
use tracing::{error, info, warn};

/// The pass's schedule, its outage state and what it left pending.
pub(crate) struct Deletions {
    interval: Duration,
    /// When the next pass is due; `None`: now (the first pass follows the first delivery).
    next: Option<Instant>,
    notifier: Notifier,
    /// Sets with a deletion still pending after the last pass that ran.
    pub(crate) pending_sets: usize,
}

/// What one attempt to run the pass came to.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ran {
    /// It sealed a receipt or an audit checkpoint (spooled: deliver again).
    pub(crate) sealed: bool,
    /// A deletion is still pending, or the pass could not run (not: another one was running).
    pub(crate) unfinished: bool,
}

impl Deletions {
    /// Passes every `interval`; deletion outage reminders every `reminder`.
    pub(crate) fn new(interval: Duration, reminder: Duration) -> Self {
        Self { interval, next: None, notifier: Notifier::for_deletions(reminder), pending_sets: 0 }
    }

    /// Whether a pass is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.next.is_none_or(|t| now >= t)
    }

    /// How long until the next pass is due.
    pub(crate) fn until_due(&self, now: Instant) -> Duration {
        self.next.map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    /// Runs one pass now and schedules the next; logs every outcome and mails outage notices.
    pub(crate) fn run(&mut self, cfg: &cr_config::Config, mailer: Option<&Mailer>) -> Ran {
        self.next = Some(Instant::now() + self.interval);
        let now = Utc::now();
        let report = match cr_retention::run_configured(cfg, "cr-uploader", now, false) {
            Ok(r) => r,
            Err(PassError::Busy(e)) => {
                info!("deletion pass skipped: another one is running ({e})");
                return Ran::default();
            }
            Err(e) => {
                error!("deletion pass could not run (deliveries go on): {e}");
                return Ran { sealed: false, unfinished: true };
            }
        };
        let mut pending: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut sealed = report.checkpoint.is_some();
        for o in &report.outcomes {
            match o {
                Outcome::Deleted { .. } => {
                    sealed = true;
                    info!("retention: {o}");
                }
                Outcome::Pending { set_id, target, .. } => {
                    pending.entry(target.as_str()).or_default().insert(set_id.as_str());
                    warn!("retention: {o}");
                }
                _ => info!("retention: {o}"),
            }
        }
        if let Some(id) = &report.checkpoint {
            info!("retention: CHECKPOINT {id}");
        }
        self.pending_sets = pending.values().flatten().collect::<BTreeSet<_>>().len();
        let waiting = |t: &str| Backlog::new(pending.get(t).map_or(0, BTreeSet::len), None);
        let mut notices = Vec::new();
        for (target, e) in &report.failing_targets {
            notices.extend(self.notifier.observe(target, Err(e), now, waiting(target)));
        }
        for target in &report.working_targets {
            notices.extend(self.notifier.observe(target, Ok(()), now, waiting(target)));
        }
        for n in &notices {
            crate::notify(n, mailer);
        }
        Ran { sealed, unfinished: report.has_pending() }
    }
}
