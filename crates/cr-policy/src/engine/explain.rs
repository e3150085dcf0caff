//! What a decision depended on besides the numbers: the memberships that could have made a
//! configuration record the call (for the decision log, issue 15).

use super::{Policy, Resolved};
use crate::facts::{CallFacts, Direction, MembershipState};

impl Policy {
    /// The group memberships that decide `facts` as [`decide`](Self::decide) walks them,
    /// with their state now: for the callee's side (incoming, internal) the memberships of
    /// the called user in groups a configuration records with
    /// `record_direct_calls_to_active_members`; for the caller's side (outgoing, internal)
    /// the calling user's memberships in every recorded group. Empty when the parties are
    /// not users. A declined call whose list holds a logged-out membership was declined
    /// because of it.
    pub fn memberships_deciding(&self, facts: &CallFacts) -> Vec<MembershipState> {
        let (caller_side, callee_side) = match facts.direction {
            Direction::Incoming => (false, true),
            Direction::Outgoing => (true, false),
            Direction::Internal => (true, true),
        };
        let mut out: Vec<MembershipState> = Vec::new();
        for (raw, incoming, wanted) in [(&facts.caller, false, caller_side), (&facts.callee, true, callee_side)] {
            if !wanted {
                continue;
            }
            let Resolved::User(u, _) = self.resolve(raw) else { continue };
            let user = &self.users[u as usize];
            let vias = if incoming { &user.via_direct } else { &user.via_groups };
            for v in vias {
                let m = MembershipState {
                    group: self.groups[v.group as usize].id.to_string(),
                    user: user.id.to_string(),
                    active: self.is_slot_active(v.slot),
                };
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{CallFacts, GroupSpec, Policy, RecordingSpec, UserSpec};

    fn policy() -> Policy {
        Policy::builder()
            .user(UserSpec::new("alice").number("201"))
            .user(UserSpec::new("bob").number("202"))
            .group(GroupSpec::new("trading").number("300").members(["alice", "bob"]).inactive(["bob"]))
            .recording(RecordingSpec::new("desk").groups(["trading"]))
            .build()
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn a_logged_out_caller_is_named_with_the_group() {
        let p = policy();
        let m = p.memberships_deciding(&CallFacts::outgoing("202", "+4930999"));
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].group.as_str(), m[0].user.as_str(), m[0].active), ("trading", "bob", false));
        assert!(!p.decide(&CallFacts::outgoing("202", "+4930999")).record);
        let _ = p.set_active("trading", "bob", true);
        assert!(p.memberships_deciding(&CallFacts::outgoing("202", "+4930999"))[0].active);
    }

    #[test]
    fn numbers_that_are_no_users_name_no_membership() {
        let p = policy();
        assert!(p.memberships_deciding(&CallFacts::incoming("+4930999", "300")).is_empty());
        assert!(p.memberships_deciding(&CallFacts::outgoing("999", "300")).is_empty());
        // Incoming to bob: the configuration does not record direct calls to members.
        assert!(p.memberships_deciding(&CallFacts::incoming("+4930999", "202")).is_empty());
    }
}
