//! From a SIPREC session's facts to the policy's: direction and diversions.

mod support;

use cr_call::{classify, diversions};
use cr_policy::{CallFacts, Direction};

// Guards against: the SIPREC diversions dropped on the way to the policy (a call to
// 301 forwarded to 300 must reach the policy as "diverted from 301").
#[test]
fn siprec_diversions_reach_the_policy_oldest_first() {
    let f = support::pbx_facts("c1", &[
        ("Via", "SIP/2.0/UDP pbx"),
        ("Diversion", "<sip:302@pbx;user=phone>;reason=unconditional;counter=1, \"Desk, A\" <tel:301>;reason=no-answer"),
        ("diversion", "<sip:+4930555777@pbx>;reason=user-busy"),
    ]);
    assert_eq!(diversions(&f.headers), ["+4930555777", "301", "302"]);
    let got = classify(&f, |_| true);
    assert_eq!(got.diversions, ["+4930555777", "301", "302"]);
    assert_eq!(got.direction, Direction::Incoming);
}

#[test]
fn direction_is_incoming_first_then_outgoing() {
    let f = support::pbx_facts("c1", &[]);
    let out = classify(&f, |c| c.direction == Direction::Outgoing);
    assert_eq!(out.direction, Direction::Outgoing);
    assert!(out.diversions.is_empty());
    let none = classify(&f, |_| false);
    assert_eq!(none, CallFacts::incoming("+4930999888", "300"));
}

#[test]
fn malformed_diversion_headers_give_what_they_hold() {
    let f = support::pbx_facts("c1", &[("Diversion", ",,<,>\",<sip:@x>"), ("Diversion", "")]);
    // Nothing panics; an entry without a user part is skipped.
    let got = diversions(&f.headers);
    assert!(got.iter().all(|d| !d.is_empty()), "{got:?}");
}
