//! The planning core, without I/O: from what the journal knows about a set that is due for
//! deletion (its deliveries, its deletions so far, a hold on it) it says what to do with
//! it. The executor ([`crate::Pass`]) does it and asks again.

use cr_journal::{Deletion, DeletionState, RecordingInfo, UploadState};
use cr_types::chain_set::DeletionRule;

/// The local spool's place name (in the journal: [`Deletion::LOCAL`]).
pub const LOCAL: &str = Deletion::LOCAL;

/// The name a place has in output lines and receipts: the target's, or `local` for the
/// recorder's own spool.
pub fn place_name(target: &str) -> &str {
    if target == LOCAL { "local" } else { target }
}

/// A set due for deletion, why, and the journal's view of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The set id.
    pub set_id: String,
    /// Why it is due.
    pub rule: DeletionRule,
    /// The case of a standing hold that covers it, if any.
    pub hold: Option<String>,
    /// Targets it was delivered to (upload `done`).
    pub delivered: Vec<String>,
    /// Targets still delivering it (upload `pending`).
    pub delivering: Vec<String>,
    /// Places (targets, [`LOCAL`]) that confirmed its deletion already.
    pub confirmed: Vec<String>,
}

impl Candidate {
    /// The journal's view of `set` and its `deletions`.
    pub fn new(set: &RecordingInfo, deletions: &[Deletion], rule: DeletionRule, hold: Option<String>) -> Self {
        let with = |state| set.uploads.iter().filter(|u| u.state == state).map(|u| u.target.clone()).collect();
        Self {
            set_id: set.set_id.clone(),
            rule,
            hold,
            delivered: with(UploadState::Done),
            delivering: with(UploadState::Pending),
            confirmed: deletions
                .iter()
                .filter(|d| d.state == DeletionState::Confirmed)
                .map(|d| d.target.clone())
                .collect(),
        }
    }
}

/// What to do with one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A hold covers it: it stays, whatever the rule.
    Held {
        /// The hold's case.
        case: String,
    },
    /// It cannot be deleted yet at `target`.
    Wait {
        /// The target.
        target: String,
        /// Why.
        why: String,
    },
    /// Delete it at these places (targets; [`Deletion::LOCAL`] for the spool), then seal
    /// the receipt once every place confirmed.
    Delete {
        /// Places not confirmed yet.
        todo: Vec<String>,
        /// Every place the set must be gone from (the receipt names each).
        places: Vec<String>,
    },
}

/// Decides what to do with `c`. `configured` are the names of the targets the pass can
/// reach.
///
/// - a hold wins over every rule;
/// - a target still delivering the set (upload `pending`) is waited for: deleting under
///   the uploader's feet would leave a copy behind;
/// - the places are every target the set was delivered to (upload `done`) and the spool;
///   a target given up on (`failed`) never received it;
/// - a delivered-to target that is no longer configured keeps the deletion pending.
pub fn plan(c: &Candidate, configured: &[String]) -> Step {
    if let Some(case) = &c.hold {
        return Step::Held { case: case.clone() };
    }
    if let Some(t) = c.delivering.first() {
        return Step::Wait { target: t.clone(), why: "still being delivered there; deleted once delivered".into() };
    }
    let mut places = c.delivered.clone();
    places.push(LOCAL.to_owned());
    if let Some(missing) = places.iter().find(|p| p.as_str() != LOCAL && !configured.contains(p)) {
        return Step::Wait {
            target: missing.clone(),
            why: "the set was delivered there, but the target is not in the configuration any more".into(),
        };
    }
    let todo = places.iter().filter(|p| !c.confirmed.contains(p)).cloned().collect();
    Step::Delete { todo, places }
}

/// The rule in words, for the audit event and the log.
pub fn rule_text(rule: &DeletionRule) -> String {
    match rule {
        DeletionRule::RetentionExpired { expires_at } => format!("retention expired at {}", expires_at.to_rfc3339()),
        DeletionRule::Request { request, requested_by, approved_by, .. } => {
            format!("deletion request {request} by {requested_by}, approved by {approved_by}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expired(id: &str, delivered: &[&str]) -> Candidate {
        Candidate {
            set_id: id.into(),
            rule: DeletionRule::RetentionExpired { expires_at: chrono::DateTime::UNIX_EPOCH },
            hold: None,
            delivered: delivered.iter().map(|s| s.to_string()).collect(),
            delivering: vec![],
            confirmed: vec![],
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_delivered_target_and_the_spool_are_places() {
        let c = expired("a", &["nas", "sftp"]);
        let step = plan(&c, &names(&["nas", "sftp", "other"]));
        assert_eq!(step, Step::Delete { todo: names(&["nas", "sftp", LOCAL]), places: names(&["nas", "sftp", LOCAL]) });
    }

    #[test]
    fn confirmed_places_are_not_done_again() {
        let mut c = expired("a", &["nas", "sftp"]);
        c.confirmed = names(&["nas", LOCAL]);
        let Step::Delete { todo, places } = plan(&c, &names(&["nas", "sftp"])) else { panic!("not a deletion") };
        assert_eq!(todo, names(&["sftp"]));
        assert_eq!(places.len(), 3);
    }

    // Guards against: a held set deleted because its retention ended or a request was approved.
    #[test]
    fn a_hold_wins_over_every_rule() {
        let mut c = expired("a", &["nas"]);
        c.hold = Some("case-7".into());
        assert_eq!(plan(&c, &names(&["nas"])), Step::Held { case: "case-7".into() });
        c.rule = DeletionRule::Request {
            request: 3,
            reason: "private call".into(),
            requested_by: "ann".into(),
            approved_by: "bob".into(),
            approved_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(plan(&c, &names(&["nas"])), Step::Held { case: "case-7".into() });
    }

    // Guards against: deleting at a target while the uploader still writes the set there.
    #[test]
    fn a_set_still_being_delivered_waits() {
        let mut c = expired("a", &["nas"]);
        c.delivering = names(&["sftp"]);
        assert!(matches!(plan(&c, &names(&["nas", "sftp"])), Step::Wait { target, .. } if target == "sftp"));
    }

    #[test]
    fn a_target_gone_from_the_configuration_keeps_it_pending() {
        let c = expired("a", &["old-nas"]);
        assert!(matches!(plan(&c, &names(&["nas"])), Step::Wait { target, .. } if target == "old-nas"));
        // Never delivered anywhere: only the spool.
        let c = expired("b", &[]);
        assert_eq!(plan(&c, &[]), Step::Delete { todo: names(&[LOCAL]), places: names(&[LOCAL]) });
    }
}
