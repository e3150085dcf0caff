//! The recorder API's JSON as far as a library reaches it: any bytes as the body of
//! `POST /v1/decide` (a `CallFacts`), and as the call-facts part of `POST /v1/recordings`,
//! which the binary reads through `#[serde(flatten)]` (serde's buffered path, a different
//! one). What parses is decided by a small policy, printed back and parsed again to the same
//! facts; the decision and the redacted log forms are printed too. Never a panic.
//!
//! The ingest request itself (`legs`, `started_at`, `ended_at`, `call_id`) is a private type
//! of bins/cr-recorder and is not reached from here.
#![no_main]

use std::sync::LazyLock;

use cr_policy::{CallFacts, Channels, GroupSpec, Policy, RecordingSpec, UserSpec};
use libfuzzer_sys::fuzz_target;

/// The shape `POST /v1/recordings` parses: the facts flattened beside other fields.
#[derive(serde::Deserialize)]
struct Flattened {
    #[serde(flatten)]
    facts: CallFacts,
    #[serde(flatten)]
    _rest: serde_json::Map<String, serde_json::Value>,
}

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::builder()
        .user(UserSpec::new("alice").numbers(["201", "+4930555201"]))
        .user(UserSpec::new("bob").number("202"))
        .group(GroupSpec::new("trading").number("300").members(["alice", "bob"]).inactive(["bob"]))
        .recording(RecordingSpec::new("desk").groups(["trading"]).record_direct_calls_to_active_members(true).channels(Channels::Stereo).targets(["nas"]))
        .recording(RecordingSpec::new("bob").users(["bob"]).channels(Channels::Caller).targets(["nas"]))
        .build()
        .expect("the fuzz policy is valid")
});

fn check(facts: &CallFacts) {
    let printed = serde_json::to_vec(facts).expect("call facts serialize");
    let again: CallFacts = serde_json::from_slice(&printed).expect("printed call facts parse");
    assert_eq!(&again, facts);
    let d = POLICY.decide(facts);
    let _ = serde_json::to_string(&d).expect("a decision serializes");
    let _ = facts.redacted().to_string();
    let _ = d.reason.redacted().to_string();
    let claimed = POLICY.decide_and_claim("fuzz", facts);
    if claimed.record {
        POLICY.release("fuzz");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(facts) = serde_json::from_slice::<CallFacts>(data) {
        check(&facts);
    }
    if let Ok(f) = serde_json::from_slice::<Flattened>(data) {
        check(&f.facts);
    }
});
