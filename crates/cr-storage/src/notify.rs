//! Outage notifications as a state machine fed with time and outcomes (S28–S30): one notice
//! when a target's outage starts, reminders every `reminder_interval`, one when it is over;
//! and a warning when the spool's file system runs short of space.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// What waits for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Backlog {
    /// Sets not yet delivered to the target.
    pub sets: usize,
    /// When the oldest of them entered the spool.
    pub oldest: Option<DateTime<Utc>>,
}

impl Backlog {
    /// A backlog of `sets` sets, the oldest enqueued at `oldest`.
    pub fn new(sets: usize, oldest: Option<DateTime<Utc>>) -> Self {
        Self { sets, oldest }
    }
}

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoticeKind {
    /// A target started failing.
    OutageStarted,
    /// A target is still failing.
    Reminder,
    /// A target works again.
    Recovered,
    /// The spool's file system passed the free-space threshold.
    LowSpace,
    /// Free space is back above the threshold.
    SpaceRecovered,
    /// Deleting expired sets at a target started failing (the deletion pass,
    /// [`Notifier::for_deletions`]).
    DeletionFailing,
    /// Deleting at a target is still failing.
    DeletionStillFailing,
    /// Deleting at a target works again.
    DeletionRecovered,
    /// The daily list of sets flagged `quality` at sealing ([`crate::QualityDigest`]).
    QualityFlagged,
}

/// A notification to send.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Notice {
    /// Which notice.
    pub kind: NoticeKind,
    /// The target (empty for space notices).
    pub target: String,
    /// The last error (empty on recovery).
    pub error: String,
    /// What waits: sets not yet delivered to the target, or (deletion notices) sets whose
    /// deletion waits for it.
    pub backlog: Backlog,
    /// When the outage started.
    pub since: DateTime<Utc>,
    /// When this notice was made.
    pub at: DateTime<Utc>,
    /// Free space in percent (space notices).
    pub free_percent: Option<f64>,
    /// The sets listed ([`NoticeKind::QualityFlagged`]; empty otherwise).
    pub flagged: Vec<cr_types::QualityRecord>,
}

fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

impl Notice {
    /// The mail subject.
    pub fn subject(&self, module_id: &str) -> String {
        match self.kind {
            NoticeKind::OutageStarted => format!("[callrec {module_id}] upload to {} failing", self.target),
            NoticeKind::Reminder => format!("[callrec {module_id}] upload to {} still failing", self.target),
            NoticeKind::Recovered => format!("[callrec {module_id}] upload to {} works again", self.target),
            NoticeKind::LowSpace => format!("[callrec {module_id}] spool disk space low"),
            NoticeKind::SpaceRecovered => format!("[callrec {module_id}] spool disk space sufficient again"),
            NoticeKind::DeletionFailing => format!("[callrec {module_id}] deletion at {} failing", self.target),
            NoticeKind::DeletionStillFailing => format!("[callrec {module_id}] deletion at {} still failing", self.target),
            NoticeKind::DeletionRecovered => format!("[callrec {module_id}] deletion at {} works again", self.target),
            NoticeKind::QualityFlagged => {
                let n = self.flagged.len();
                format!("[callrec {module_id}] {n} recording{} flagged for quality", if n == 1 { "" } else { "s" })
            }
        }
    }

    /// The mail body (plain text).
    pub fn body(&self, module_id: &str) -> String {
        let oldest = self
            .backlog
            .oldest
            .map(|t| format!("{} (waiting {})", t.to_rfc3339(), human(self.at - t)))
            .unwrap_or_else(|| "-".into());
        let mut b = String::new();
        match self.kind {
            NoticeKind::OutageStarted | NoticeKind::Reminder => {
                b.push_str(&format!(
                    "Recordings of callrec installation {module_id} cannot be uploaded to target {}.\n\n",
                    self.target
                ));
                b.push_str(&format!("Error: {}\n", self.error));
                b.push_str(&format!("Failing since: {} ({})\n", self.since.to_rfc3339(), human(self.at - self.since)));
                b.push_str(&format!("Sets waiting for this target: {}\n", self.backlog.sets));
                b.push_str(&format!("Oldest waiting set: {oldest}\n\n"));
                b.push_str("The recordings stay on the recorder and are uploaded again automatically.\n");
            }
            NoticeKind::Recovered => {
                b.push_str(&format!("Target {} accepts uploads again.\n\n", self.target));
                b.push_str(&format!("The outage lasted {} (since {}).\n", human(self.at - self.since), self.since.to_rfc3339()));
                b.push_str(&format!("Sets still waiting for this target: {}\n", self.backlog.sets));
            }
            NoticeKind::LowSpace | NoticeKind::SpaceRecovered => {
                let pct = self.free_percent.unwrap_or(0.0);
                b.push_str(&format!("Free space on the spool's file system: {pct:.1} %\n"));
                b.push_str(&format!("Sets waiting in the spool: {}\nOldest waiting set: {oldest}\n", self.backlog.sets));
                if self.kind == NoticeKind::LowSpace {
                    b.push_str("\nWhen the disk is full, new recordings cannot be stored. Fix the failing targets or add space.\n");
                }
            }
            NoticeKind::DeletionFailing | NoticeKind::DeletionStillFailing => {
                b.push_str(&format!(
                    "Recordings of callrec installation {module_id} whose retention ended cannot be deleted at target {}.\n\n",
                    self.target
                ));
                b.push_str(&format!("Error: {}\n", self.error));
                b.push_str(&format!("Failing since: {} ({})\n", self.since.to_rfc3339(), human(self.at - self.since)));
                b.push_str(&format!("Sets whose deletion waits for this target: {}\n\n", self.backlog.sets));
                b.push_str(
                    "The deletions stay pending (crctl status lists them) and are tried again at every deletion pass; \
                     no deletion receipt is sealed for these sets until the target has confirmed.\n",
                );
            }
            NoticeKind::DeletionRecovered => {
                b.push_str(&format!("Target {} confirms deletions again.\n\n", self.target));
                b.push_str(&format!("The outage lasted {} (since {}).\n", human(self.at - self.since), self.since.to_rfc3339()));
            }
            NoticeKind::QualityFlagged => {
                b.push_str(&format!(
                    "{} recording(s) of callrec installation {module_id} sealed since {} are past the [quality] thresholds.\n\n",
                    self.flagged.len(),
                    self.since.to_rfc3339()
                ));
                for set in &self.flagged {
                    b.push_str(&format!("{}  sealed {}  reasons: {}\n", set.set_id, set.sealed_at.to_rfc3339(), set.reasons.join(", ")));
                    for line in set.leg_lines() {
                        b.push_str(&format!("  {line}\n"));
                    }
                }
                b.push_str("\nThe sets are sealed and delivered as they are. List them with: crctl search --flag quality\n");
            }
        }
        b
    }
}

#[derive(Debug, Clone)]
struct Outage {
    since: DateTime<Utc>,
    last_mail: DateTime<Utc>,
}

/// The outage state of every target.
///
/// ```
/// use std::time::Duration;
/// use cr_storage::{Notifier, NoticeKind, Backlog};
/// let t0 = chrono::Utc::now();
/// let min = |m| t0 + chrono::Duration::minutes(m);
/// let mut n = Notifier::new(Duration::from_secs(3600));
/// let b = Backlog::new(3, Some(t0));
/// assert_eq!(n.observe("nas", Err("refused"), t0, b).unwrap().kind, NoticeKind::OutageStarted);
/// assert!(n.observe("nas", Err("refused"), min(30), b).is_none());
/// assert_eq!(n.observe("nas", Err("refused"), min(61), b).unwrap().kind, NoticeKind::Reminder);
/// assert_eq!(n.observe("nas", Ok(()), min(70), b).unwrap().kind, NoticeKind::Recovered);
/// assert!(n.observe("nas", Ok(()), min(71), b).is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Notifier {
    reminder: Duration,
    outages: BTreeMap<String, Outage>,
    /// The kinds it gives: started, reminder, recovered.
    kinds: [NoticeKind; 3],
}

impl Notifier {
    /// Upload outages; reminders every `reminder` while an outage lasts.
    pub fn new(reminder: Duration) -> Self {
        Self { reminder, outages: BTreeMap::new(), kinds: [NoticeKind::OutageStarted, NoticeKind::Reminder, NoticeKind::Recovered] }
    }

    /// Deletion outages (the deletion pass): the same rule with the kinds
    /// [`NoticeKind::DeletionFailing`], [`NoticeKind::DeletionStillFailing`] and
    /// [`NoticeKind::DeletionRecovered`]; its state is its own, apart from the uploads'.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cr_storage::{Notifier, NoticeKind, Backlog};
    /// let t0 = chrono::Utc::now();
    /// let mut n = Notifier::for_deletions(Duration::from_secs(3600));
    /// let b = Backlog::new(1, None);
    /// let first = n.observe("offsite", Err("connection refused"), t0, b).unwrap();
    /// assert_eq!(first.kind, NoticeKind::DeletionFailing);
    /// assert!(first.subject("pbx1").contains("deletion at offsite failing"));
    /// assert_eq!(n.observe("offsite", Ok(()), t0, b).unwrap().kind, NoticeKind::DeletionRecovered);
    /// ```
    pub fn for_deletions(reminder: Duration) -> Self {
        Self {
            kinds: [NoticeKind::DeletionFailing, NoticeKind::DeletionStillFailing, NoticeKind::DeletionRecovered],
            ..Self::new(reminder)
        }
    }

    /// Feeds the outcome of an attempt on `target` at `now`; returns a notice to send, if any.
    pub fn observe(
        &mut self,
        target: &str,
        outcome: Result<(), &str>,
        now: DateTime<Utc>,
        backlog: Backlog,
    ) -> Option<Notice> {
        let [started, reminder, recovered] = self.kinds;
        let notice = |kind, since, error: &str| Notice {
            kind,
            target: target.to_owned(),
            error: error.to_owned(),
            backlog,
            since,
            at: now,
            free_percent: None,
            flagged: Vec::new(),
        };
        match (outcome, self.outages.get_mut(target)) {
            (Ok(()), None) => None,
            (Ok(()), Some(_)) => {
                let o = self.outages.remove(target)?;
                Some(notice(recovered, o.since, ""))
            }
            (Err(e), None) => {
                self.outages.insert(target.to_owned(), Outage { since: now, last_mail: now });
                Some(notice(started, now, e))
            }
            (Err(e), Some(o)) => {
                let due = o.last_mail + chrono::Duration::from_std(self.reminder).unwrap_or(chrono::Duration::MAX);
                if now >= due {
                    o.last_mail = now;
                    let since = o.since;
                    Some(notice(reminder, since, e))
                } else {
                    None
                }
            }
        }
    }

    /// Whether `target` is in an outage.
    pub fn in_outage(&self, target: &str) -> bool {
        self.outages.contains_key(target)
    }
}

/// Watches the spool's free space against a threshold (S30).
///
/// ```
/// use cr_storage::{SpaceWatch, NoticeKind, Backlog};
/// let now = chrono::Utc::now();
/// let mut w = SpaceWatch::new(10.0);
/// assert!(w.observe(50.0, now, Backlog::default()).is_none());
/// assert_eq!(w.observe(9.5, now, Backlog::default()).unwrap().kind, NoticeKind::LowSpace);
/// assert!(w.observe(9.0, now, Backlog::default()).is_none());
/// assert_eq!(w.observe(12.0, now, Backlog::default()).unwrap().kind, NoticeKind::SpaceRecovered);
/// ```
#[derive(Debug, Clone)]
pub struct SpaceWatch {
    threshold: f64,
    low_since: Option<DateTime<Utc>>,
}

impl SpaceWatch {
    /// Warn below `min_free_percent` percent free.
    pub fn new(min_free_percent: f64) -> Self {
        Self { threshold: min_free_percent, low_since: None }
    }

    /// Feeds the free space at `now`; returns a notice when the threshold is crossed (with
    /// one percentage point of hysteresis on the way back).
    pub fn observe(&mut self, free_percent: f64, now: DateTime<Utc>, backlog: Backlog) -> Option<Notice> {
        let notice = |kind, since| Notice {
            kind,
            target: String::new(),
            error: String::new(),
            backlog,
            since,
            at: now,
            free_percent: Some(free_percent),
            flagged: Vec::new(),
        };
        match self.low_since {
            None if free_percent < self.threshold => {
                self.low_since = Some(now);
                Some(notice(NoticeKind::LowSpace, now))
            }
            Some(since) if free_percent >= self.threshold + 1.0 => {
                self.low_since = None;
                Some(notice(NoticeKind::SpaceRecovered, since))
            }
            _ => None,
        }
    }

    /// Whether free space is below the threshold now.
    pub fn is_low(&self) -> bool {
        self.low_since.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn two_targets_are_independent_and_texts_name_everything() {
        let t0 = "2026-03-07T09:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut n = Notifier::new(Duration::from_secs(600));
        let b = Backlog::new(4, Some(t0 - chrono::Duration::hours(2)));
        let a = n.observe("nas", Err("connection refused"), t0, b).unwrap();
        assert!(n.observe("sftp", Ok(()), t0, b).is_none());
        let body = a.body("pbx1");
        for w in ["nas", "connection refused", "4", "2 h 0 min", "pbx1"] {
            assert!(body.contains(w) || a.subject("pbx1").contains(w), "{w}: {body}");
        }
        let r = n.observe("nas", Err("x"), t0 + chrono::Duration::seconds(600), b).unwrap();
        assert_eq!(r.kind, NoticeKind::Reminder);
        assert_eq!(r.since, t0);
        assert!(n.observe("nas", Err("x"), t0 + chrono::Duration::seconds(900), b).is_none());
        let ok = n.observe("nas", Ok(()), t0 + chrono::Duration::seconds(3600), b).unwrap();
        assert!(ok.body("pbx1").contains("1 h 0 min"), "{}", ok.body("pbx1"));
    }

    #[test]
    fn deletion_outages_have_their_own_state_and_texts() {
        let t0 = "2026-03-07T09:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut uploads = Notifier::new(Duration::from_secs(600));
        let mut deletions = Notifier::for_deletions(Duration::from_secs(600));
        assert_eq!(uploads.observe("nas", Err("refused"), t0, Backlog::default()).unwrap().kind, NoticeKind::OutageStarted);
        let d = deletions.observe("nas", Err("permission denied"), t0, Backlog::new(3, None)).unwrap();
        assert_eq!(d.kind, NoticeKind::DeletionFailing, "an upload outage does not hide a deletion outage");
        let body = d.body("pbx1");
        for w in ["cannot be deleted at target nas", "permission denied", "Sets whose deletion waits for this target: 3", "crctl status"] {
            assert!(body.contains(w), "{w}: {body}");
        }
        assert_eq!(d.subject("pbx1"), "[callrec pbx1] deletion at nas failing");
        let later = t0 + chrono::Duration::seconds(600);
        assert_eq!(deletions.observe("nas", Err("x"), later, Backlog::default()).unwrap().subject("p"), "[callrec p] deletion at nas still failing");
        let ok = deletions.observe("nas", Ok(()), later, Backlog::default()).unwrap();
        assert_eq!(ok.kind, NoticeKind::DeletionRecovered);
        assert!(ok.body("p").contains("Target nas confirms deletions again") && ok.body("p").contains("10 min"), "{}", ok.body("p"));
        assert!(uploads.in_outage("nas"), "the uploads' outage goes on");
    }
}
