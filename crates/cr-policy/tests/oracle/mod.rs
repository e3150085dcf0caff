//! A naive reference evaluator written straight from SPEC S2–S9: it scans the
//! configurations in order and the directory entry by entry, with no index. The property
//! tests compare the indexed engine against it, and the benchmark measures both.
#![allow(dead_code)]

use cr_policy::{CallFacts, Direction, GroupSpec, NumberPlan, RecordingSpec, UserSpec};

/// Which side of a call made a configuration apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The callee's incoming side (announcement_incoming).
    Incoming,
    /// The caller's outgoing side (announcement_outgoing).
    Outgoing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(String),
    Group(String),
}

pub struct Oracle {
    pub plan: NumberPlan,
    pub users: Vec<UserSpec>,
    pub groups: Vec<GroupSpec>,
    pub recordings: Vec<RecordingSpec>,
}

impl Oracle {
    fn owner_exact(&self, n: &str) -> Option<Owner> {
        for u in &self.users {
            if u.numbers.iter().any(|x| self.plan.normalize(x).ok().as_deref() == Some(n)) {
                return Some(Owner::User(u.id.clone()));
            }
        }
        for g in &self.groups {
            if let Some(x) = &g.number
                && self.plan.normalize(x).ok().as_deref() == Some(n)
            {
                return Some(Owner::Group(g.id.clone()));
            }
        }
        None
    }

    pub fn owner(&self, raw: &str) -> Option<Owner> {
        let n = self.plan.normalize(raw).ok()?;
        self.owner_exact(&n).or_else(|| self.owner_exact(&self.plan.local_to_international(&n)?))
    }

    fn is_member(&self, group: &str, user: &str) -> bool {
        self.groups.iter().any(|g| g.id == group && g.members.iter().any(|m| m == user))
    }

    fn incoming_applies(&self, r: &RecordingSpec, callee: &str, active: &dyn Fn(&str, &str) -> bool) -> bool {
        match self.owner(callee) {
            Some(Owner::Group(g)) => r.groups.contains(&g),
            Some(Owner::User(u)) => {
                r.users.contains(&u)
                    || (r.record_direct_calls_to_active_members
                        && r.groups.iter().any(|g| self.is_member(g, &u) && active(g, &u)))
            }
            None => false,
        }
    }

    fn outgoing_applies(&self, r: &RecordingSpec, caller: &str, active: &dyn Fn(&str, &str) -> bool) -> bool {
        match self.owner(caller) {
            Some(Owner::User(u)) => {
                r.users.contains(&u) || r.groups.iter().any(|g| self.is_member(g, &u) && active(g, &u))
            }
            _ => false,
        }
    }

    /// The index of the first configuration that applies, and the side that made it apply.
    pub fn decide(&self, facts: &CallFacts, active: &dyn Fn(&str, &str) -> bool) -> Option<(usize, Side)> {
        for (i, r) in self.recordings.iter().enumerate() {
            let hit = match facts.direction {
                Direction::Incoming => self.incoming_applies(r, &facts.callee, active).then_some(Side::Incoming),
                Direction::Outgoing => self.outgoing_applies(r, &facts.caller, active).then_some(Side::Outgoing),
                Direction::Internal => {
                    if self.incoming_applies(r, &facts.callee, active) {
                        Some(Side::Incoming)
                    } else {
                        self.outgoing_applies(r, &facts.caller, active).then_some(Side::Outgoing)
                    }
                }
            };
            if let Some(side) = hit {
                return Some((i, side));
            }
        }
        None
    }
}
