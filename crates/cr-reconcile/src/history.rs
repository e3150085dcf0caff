//! Membership state as it stood at a given time: the configuration's `members` /
//! `inactive`, then the journal's run-time changes up to that time, applied in order.

use chrono::{DateTime, Utc};
use cr_journal::MembershipChange;
use cr_policy::Policy;

/// Replays membership changes onto a policy as time moves forward.
pub(crate) struct Timeline {
    changes: Vec<MembershipChange>,
    next: usize,
    /// Changes naming a group or user the configuration no longer has.
    pub(crate) unknown: u64,
    pub(crate) applied: u64,
}

impl Timeline {
    /// `changes` in journal order; sorted by time here (stable, so that changes with the
    /// same time keep the order they were made in).
    pub(crate) fn new(mut changes: Vec<MembershipChange>) -> Self {
        changes.sort_by_key(|c| c.at);
        Self { changes, next: 0, unknown: 0, applied: 0 }
    }

    /// Applies every change made at or before `t` that was not applied yet. Calls must
    /// come in order of time.
    pub(crate) fn advance(&mut self, policy: &Policy, t: DateTime<Utc>) {
        while let Some(c) = self.changes.get(self.next) {
            if c.at > t {
                break;
            }
            match policy.set_active(&c.group, &c.user, c.active) {
                Ok(_) => self.applied += 1,
                Err(_) => self.unknown += 1,
            }
            self.next += 1;
        }
    }
}
