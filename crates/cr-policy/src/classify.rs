//! The direction of a call whose source does not say it (SIPREC metadata, a PBX's call
//! records): classified against the policy's directory.

use crate::facts::{CallFacts, Direction};

/// Classifies a call from its parties: incoming is tried first (the callee is a recorded
/// group or user), then outgoing (the caller is a recorded user or active member); when
/// neither records, the facts of the incoming reading are kept. `records` answers whether
/// the policy records a call with these facts (`|f| policy.decide(f).record`).
pub fn classify_direction(
    caller: String,
    callee: String,
    diversions: Vec<String>,
    records: impl Fn(&CallFacts) -> bool,
) -> CallFacts {
    let incoming = CallFacts::new(Direction::Incoming, caller.clone(), callee.clone()).diverted_from(diversions.clone());
    if records(&incoming) {
        return incoming;
    }
    let outgoing = CallFacts::new(Direction::Outgoing, caller, callee).diverted_from(diversions);
    if records(&outgoing) {
        return outgoing;
    }
    incoming
}
