//! The deletion pass inside the uploader (issue 13, docs/reference.md §4): one
//! [`cr_retention::run_configured`] every `[retention] interval`, each outcome logged with its
//! set id, a target failing in the pass mailed as upload outages are (its own outage state).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cr_retention::{Outcome, PassError, PassReport};
use cr_storage::{Backlog, Mailer, Notice, Notifier};
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
        for o in &report.outcomes {
            match o {
                Outcome::Pending { .. } => warn!("retention: {o}"),
                _ => info!("retention: {o}"),
            }
        }
        if let Some(id) = &report.checkpoint {
            info!("retention: CHECKPOINT {id}");
        }
        let sealed = report.checkpoint.is_some() || report.outcomes.iter().any(|o| matches!(o, Outcome::Deleted { .. }));
        for n in &self.observe(&report, now) {
            crate::notify(n, mailer);
        }
        Ran { sealed, unfinished: report.has_pending() }
    }

    /// Takes in what a pass at `now` did: the sets left pending, and a notice for each target
    /// whose outage starts, goes on past the reminder interval, or ends.
    fn observe(&mut self, report: &PassReport, now: DateTime<Utc>) -> Vec<Notice> {
        let mut pending: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for o in &report.outcomes {
            if let Outcome::Pending { set_id, target, .. } = o {
                pending.entry(target.as_str()).or_default().insert(set_id.as_str());
            }
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
        notices
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cr_storage::NoticeKind;

    fn report(failing: &[(&str, &[&str])], working: &[&str]) -> PassReport {
        let mut r = PassReport::default();
        for (target, sets) in failing {
            r.failing_targets.insert((*target).to_owned(), "connection refused".to_owned());
            for set in *sets {
                r.outcomes.push(Outcome::Pending { set_id: (*set).into(), target: (*target).into(), error: "connection refused".into() });
            }
        }
        r.working_targets = working.iter().map(|t| (*t).to_owned()).collect();
        r
    }

    #[test]
    fn a_target_failing_in_passes_is_mailed_once_then_at_the_reminder_then_when_it_works() {
        let t0 = "2026-03-07T09:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = |min| t0 + chrono::Duration::minutes(min);
        let mut d = Deletions::new(Duration::from_secs(3600), Duration::from_secs(7200));
        let down = report(&[("offsite", &["s1", "s2"])], &["nas"]);
        let n = d.observe(&down, t0);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!((n[0].kind, n[0].target.as_str(), n[0].backlog.sets), (NoticeKind::DeletionFailing, "offsite", 2));
        assert_eq!(d.pending_sets, 2);
        assert!(d.observe(&down, at(60)).is_empty(), "no mail per pass, nor per set");
        let n = d.observe(&down, at(120));
        assert_eq!(n.iter().map(|n| n.kind).collect::<Vec<_>>(), [NoticeKind::DeletionStillFailing]);
        assert_eq!(n[0].since, t0);
        let up = report(&[], &["offsite", "nas"]);
        let n = d.observe(&up, at(180));
        assert_eq!(n.iter().map(|n| (n.kind, n.target.as_str())).collect::<Vec<_>>(), [(NoticeKind::DeletionRecovered, "offsite")]);
        assert_eq!(d.pending_sets, 0);
        assert!(d.observe(&up, at(240)).is_empty());
    }

    #[test]
    fn a_set_pending_at_two_targets_counts_once() {
        let mut d = Deletions::new(Duration::from_secs(3600), Duration::from_secs(3600));
        d.observe(&report(&[("offsite", &["s1"]), ("nas", &["s1", "s2"])], &[]), Utc::now());
        assert_eq!(d.pending_sets, 2);
    }
}
