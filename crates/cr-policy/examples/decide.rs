//! Builds a small policy in code (no configuration file) and decides a few calls.
//!
//! `cargo run -p cr-policy --example decide` prints each decision as docs/reference.md §2 JSON and
//! the redacted reason a log line would carry.

use cr_policy::{CallFacts, Channels, GroupSpec, NumberPlan, Policy, RecordingSpec, UserSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = Policy::builder()
        .number_plan(NumberPlan::new().with_country_code("49")?.with_area_code("30")?)
        .user(UserSpec::new("alice").numbers(["201", "+49 30 555201"]))
        .user(UserSpec::new("bob").number("202"))
        .user(UserSpec::new("carol").number("203"))
        .group(GroupSpec::new("trading").number("300").members(["alice", "bob"]))
        .recording(
            RecordingSpec::new("trading-desk")
                .groups(["trading"])
                .record_direct_calls_to_active_members(true)
                .channels(Channels::Stereo)
                .announcement_incoming("announcements/incoming.wav")
                .announcement_outgoing("announcements/beep.wav")
                .targets(["nas", "offsite"]),
        )
        .recording(RecordingSpec::new("compliance").users(["carol"]).channels(Channels::Separate).targets(["nas"]))
        .build()?;

    let calls = [
        CallFacts::incoming("+4930999888", "sip:300@pbx;user=phone").diverted_from(["301"]),
        CallFacts::incoming("+4930999888", "030 555201"),
        CallFacts::outgoing("<sip:202@pbx>", "+4930999888"),
        CallFacts::internal("203", "201"),
        CallFacts::incoming("+4930999888", "2011"),
    ];
    for call in &calls {
        let d = policy.decide(call);
        println!("{}", serde_json::to_string(&d)?);
        println!("  log: {} -> record={} ({})", call.redacted(), d.record, d.reason.redacted());
    }

    // Bob logs out of the group: his outgoing calls are no longer recorded.
    policy.set_active("trading", "bob", false)?;
    let d = policy.decide(&calls[2]);
    println!("after bob logs out: {}", serde_json::to_string(&d)?);
    Ok(())
}
