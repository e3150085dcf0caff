//! The rules table: every direction × target kind × membership × option × order, forwarded
//! and internal calls, number forms. Expected values come from SPEC S2–S9 and S12–S13.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use cr_policy::{CallFacts, Channels, Decision, GroupSpec, NumberPlan, Policy, RecordingSpec, UserSpec};

/// Variants of one directory: S7 on the trading configuration, and the order of the first
/// two configurations.
#[derive(Clone, Copy, Debug)]
struct Variant {
    direct_on_trading: bool,
    sales_first: bool,
}

const BASE: Variant = Variant { direct_on_trading: false, sales_first: false };
const DIRECT: Variant = Variant { direct_on_trading: true, sales_first: false };
const SWAPPED: Variant = Variant { direct_on_trading: false, sales_first: true };
const DIRECT_SWAPPED: Variant = Variant { direct_on_trading: true, sales_first: true };

fn policy(v: Variant) -> Policy {
    let trading = RecordingSpec::new("trading-desk")
        .groups(["trading"])
        .record_direct_calls_to_active_members(v.direct_on_trading)
        .channels(Channels::Stereo)
        .announcement_incoming("announcements/incoming.wav")
        .announcement_outgoing("announcements/beep.wav")
        .targets(["nas"]);
    let sales = RecordingSpec::new("sales-floor")
        .groups(["sales"])
        .users(["alice"])
        .record_direct_calls_to_active_members(true)
        .channels(Channels::Separate)
        .announcement_incoming("announcements/sales.wav")
        .targets(["offsite"]);
    let vip = RecordingSpec::new("vip").users(["erin"]).channels(Channels::Caller).targets(["nas", "offsite"]);
    let (first, second) = if v.sales_first { (sales, trading) } else { (trading, sales) };
    Policy::builder()
        .number_plan(NumberPlan::new().with_country_code("49").unwrap().with_area_code("30").unwrap())
        .user(UserSpec::new("alice").numbers(["201", "+49 30 555201"]))
        .user(UserSpec::new("bob").number("202"))
        .user(UserSpec::new("carol").number("203"))
        .user(UserSpec::new("dave").number("204"))
        .user(UserSpec::new("erin").number("sip:205@pbx"))
        .user(UserSpec::new("frank").number("206"))
        .group(GroupSpec::new("trading").number("300").members(["alice", "bob"]))
        .group(GroupSpec::new("sales").number("310").members(["carol", "dave"]).inactive(["dave"]))
        .group(GroupSpec::new("support").number("320").members(["frank"]))
        .group(GroupSpec::new("overflow").number("330"))
        .recording(first)
        .recording(second)
        .recording(vip)
        .build()
        .expect("the table's directory is valid")
}

/// What a row expects: `None` = not recorded; else configuration and announcement.
type Want = Option<(&'static str, Option<&'static str>)>;

struct Row {
    line: u32,
    variant: Variant,
    /// (group, user) logged out before the call; `+` prefix on the group logs in instead.
    changes: &'static [(&'static str, &'static str)],
    facts: CallFacts,
    want: Want,
    /// A part the reason must contain.
    reason: &'static str,
}

fn inc(caller: &str, callee: &str) -> CallFacts {
    CallFacts::incoming(caller, callee)
}
fn out(caller: &str, callee: &str) -> CallFacts {
    CallFacts::outgoing(caller, callee)
}
fn int(caller: &str, callee: &str) -> CallFacts {
    CallFacts::internal(caller, callee)
}

const IN_WAV: Option<&str> = Some("announcements/incoming.wav");
const BEEP: Option<&str> = Some("announcements/beep.wav");
const SALES_WAV: Option<&str> = Some("announcements/sales.wav");
const EXT: &str = "+4930999888";

macro_rules! row {
    ($v:expr, $ch:expr, $facts:expr, $want:expr, $reason:expr) => {
        Row { line: line!(), variant: $v, changes: $ch, facts: $facts, want: $want, reason: $reason }
    };
}

fn rows() -> Vec<Row> {
    vec![
        // --- incoming × group number (S3)
        row!(BASE, &[], inc(EXT, "300"), Some(("trading-desk", IN_WAV)), "incoming call to group trading (300)"),
        row!(BASE, &[], inc(EXT, "sip:300@pbx;user=phone"), Some(("trading-desk", IN_WAV)), "group trading (300)"),
        row!(BASE, &[], inc(EXT, "\"Trading\" <sip:300@10.0.0.1:5060>"), Some(("trading-desk", IN_WAV)), "group trading"),
        row!(BASE, &[("trading", "alice"), ("trading", "bob")], inc(EXT, "300"), Some(("trading-desk", IN_WAV)), "group trading (300)"),
        row!(BASE, &[], inc(EXT, "310"), Some(("sales-floor", SALES_WAV)), "incoming call to group sales (310)"),
        row!(SWAPPED, &[], inc(EXT, "300"), Some(("trading-desk", IN_WAV)), "group trading"),
        row!(BASE, &[], inc(EXT, "320"), None, "no configuration records group support (320)"),
        // --- incoming × unknown number, exact matching
        row!(BASE, &[], inc(EXT, "301"), None, "no configuration records 301: no user or group has this number"),
        row!(BASE, &[], inc(EXT, "30"), None, "no configuration records 30:"),
        row!(BASE, &[], inc(EXT, "3000"), None, "no configuration records 3000:"),
        row!(BASE, &[], inc(EXT, "20"), None, "no configuration records 20:"),
        row!(BASE, &[], inc(EXT, "2011"), None, "no configuration records 2011:"),
        row!(BASE, &[], inc(EXT, ""), None, "callee's number is missing"),
        row!(BASE, &[], inc(EXT, "---"), None, "is not a phone number"),
        // --- incoming × user number × option (S3, S7)
        row!(BASE, &[], inc(EXT, "202"), None, "configuration trading-desk records group trading but not direct calls to its members"),
        row!(DIRECT, &[], inc(EXT, "202"), Some(("trading-desk", IN_WAV)), "incoming call to user bob (202), an active member of group trading"),
        row!(DIRECT, &[("trading", "bob")], inc(EXT, "202"), None, "user bob is logged out of group trading"),
        row!(BASE, &[], inc(EXT, "203"), Some(("sales-floor", SALES_WAV)), "user carol (203), an active member of group sales"),
        row!(BASE, &[], inc(EXT, "204"), None, "user dave is logged out of group sales"),
        row!(BASE, &[("+sales", "dave")], inc(EXT, "204"), Some(("sales-floor", SALES_WAV)), "user dave (204), an active member of group sales"),
        row!(BASE, &[], inc(EXT, "205"), Some(("vip", None)), "incoming call to user erin (205)"),
        row!(BASE, &[], inc(EXT, "206"), None, "no configuration records user frank (206)"),
        // explicit user beats nothing; order decides between explicit and S7 (S2)
        row!(BASE, &[], inc(EXT, "201"), Some(("sales-floor", SALES_WAV)), "incoming call to user alice (201)"),
        row!(DIRECT, &[], inc(EXT, "201"), Some(("trading-desk", IN_WAV)), "user alice (201), an active member of group trading"),
        row!(DIRECT, &[("trading", "alice")], inc(EXT, "201"), Some(("sales-floor", SALES_WAV)), "user alice (201)"),
        row!(DIRECT_SWAPPED, &[], inc(EXT, "201"), Some(("sales-floor", SALES_WAV)), "user alice (201)"),
        // --- number forms
        row!(BASE, &[], inc(EXT, "+4930555201"), Some(("sales-floor", SALES_WAV)), "user alice (+4930555201)"),
        row!(BASE, &[], inc(EXT, "0049 30 555-201"), Some(("sales-floor", SALES_WAV)), "user alice"),
        row!(BASE, &[], inc(EXT, "030 555201"), Some(("sales-floor", SALES_WAV)), "user alice"),
        row!(BASE, &[], inc(EXT, "+49 (0)30 555201"), Some(("sales-floor", SALES_WAV)), "user alice"),
        row!(BASE, &[], inc(EXT, "555201"), Some(("sales-floor", SALES_WAV)), "user alice"),
        row!(BASE, &[], inc(EXT, "tel:+49-30-555201;phone-context=pbx.example"), Some(("sales-floor", SALES_WAV)), "user alice"),
        row!(BASE, &[], inc(EXT, "<sip:+4930555201@pbx;user=phone>"), Some(("sales-floor", SALES_WAV)), "user alice"),
        row!(BASE, &[], inc(EXT, "+4930555202"), None, "no configuration records +4930555202"),
        row!(BASE, &[], inc(EXT, "55520"), None, "no configuration records 55520:"),
        // --- incoming: only the callee counts
        row!(BASE, &[], inc("202", "399"), None, "no configuration records 399"),
        // --- forwarded calls (S4): the destination after diversions counts
        row!(BASE, &[], inc(EXT, "300").diverted_from(["330"]), Some(("trading-desk", IN_WAV)), "incoming call to group trading (300), diverted from 330"),
        row!(BASE, &[], inc(EXT, "300").diverted_from(["330", "sip:320@pbx"]), Some(("trading-desk", IN_WAV)), "diverted from 330, 320"),
        row!(BASE, &[], inc(EXT, "330").diverted_from(["300"]), None, "no configuration records group overflow (330), diverted from 300"),
        // --- outgoing × group membership (S5, S6)
        row!(BASE, &[], out("202", EXT), Some(("trading-desk", BEEP)), "outgoing call from user bob (202), an active member of group trading"),
        row!(BASE, &[], out("\"Bob\" <sip:202@pbx>;tag=x", EXT), Some(("trading-desk", BEEP)), "user bob (202)"),
        row!(BASE, &[("trading", "bob")], out("202", EXT), None, "user bob is logged out of group trading"),
        row!(BASE, &[("trading", "bob"), ("+trading", "bob")], out("202", EXT), Some(("trading-desk", BEEP)), "user bob"),
        row!(BASE, &[], out("204", EXT), None, "user dave is logged out of group sales"),
        row!(BASE, &[], out("203", EXT), Some(("sales-floor", None)), "outgoing call from user carol (203), an active member of group sales"),
        row!(BASE, &[], out("206", EXT), None, "no configuration records user frank (206)"),
        // option S7 does not matter for outgoing calls
        row!(DIRECT, &[], out("202", EXT), Some(("trading-desk", BEEP)), "user bob"),
        // --- outgoing × explicit user, order (S2, S5)
        row!(BASE, &[], out("201", EXT), Some(("trading-desk", BEEP)), "user alice (201), an active member of group trading"),
        row!(BASE, &[("trading", "alice")], out("201", EXT), Some(("sales-floor", None)), "outgoing call from user alice (201)"),
        row!(SWAPPED, &[], out("201", EXT), Some(("sales-floor", None)), "outgoing call from user alice (201)"),
        row!(BASE, &[], out("205", EXT), Some(("vip", None)), "outgoing call from user erin (205)"),
        // --- outgoing × unknown / group number; the callee does not count
        row!(BASE, &[], out("299", EXT), None, "no configuration records 299: no user has this number"),
        row!(BASE, &[], out("300", EXT), None, "the caller 300 is the number of group trading, not of a user"),
        row!(BASE, &[], out(EXT, "300"), None, "no configuration records +4930999888"),
        row!(BASE, &[], out("", "300"), None, "caller's number is missing"),
        // --- internal calls (S9): caller side as outgoing, callee side as incoming
        row!(BASE, &[], int("206", "202"), None, "internal call: caller side: no configuration records user frank (206)"),
        row!(BASE, &[], int("206", "202"), None, "callee side: no configuration records user bob (202)"),
        row!(DIRECT, &[], int("206", "202"), Some(("trading-desk", IN_WAV)), "internal call to user bob (202), an active member of group trading"),
        row!(BASE, &[], int("202", "206"), Some(("trading-desk", BEEP)), "internal call from user bob (202), an active member of group trading"),
        row!(BASE, &[("trading", "bob")], int("202", "206"), None, "user bob is logged out of group trading"),
        row!(BASE, &[], int("206", "300"), Some(("trading-desk", IN_WAV)), "internal call to group trading (300)"),
        row!(BASE, &[], int("202", "310"), Some(("trading-desk", BEEP)), "internal call from user bob"),
        row!(SWAPPED, &[], int("202", "310"), Some(("sales-floor", SALES_WAV)), "internal call to group sales (310)"),
        row!(BASE, &[], int("203", "300"), Some(("trading-desk", IN_WAV)), "internal call to group trading"),
        row!(SWAPPED, &[], int("203", "300"), Some(("sales-floor", None)), "internal call from user carol (203)"),
        row!(BASE, &[], int("202", "205"), Some(("trading-desk", BEEP)), "internal call from user bob"),
        row!(BASE, &[("trading", "bob")], int("202", "205"), Some(("vip", None)), "internal call to user erin (205)"),
        // both sides in the same configuration: recorded once, by the callee's side
        row!(BASE, &[], int("201", "202"), Some(("trading-desk", BEEP)), "internal call from user alice"),
        row!(DIRECT, &[], int("201", "202"), Some(("trading-desk", IN_WAV)), "internal call to user bob"),
        row!(BASE, &[], int("203", "310"), Some(("sales-floor", SALES_WAV)), "internal call to group sales"),
    ]
}

fn apply_changes(p: &Policy, changes: &[(&str, &str)]) {
    for (g, u) in changes {
        match g.strip_prefix('+') {
            Some(g) => p.set_active(g, u, true).expect("known membership"),
            None => p.set_active(g, u, false).expect("known membership"),
        };
    }
}

fn check(row: &Row, d: &Decision) -> Result<(), String> {
    let got = d.configuration.as_deref().map(|c| (c, d.announcement.as_deref()));
    if got != row.want {
        return Err(format!("want {:?}, got {got:?}", row.want));
    }
    if d.record != row.want.is_some() {
        return Err(format!("record = {} but configuration = {:?}", d.record, d.configuration));
    }
    let reason = d.reason.to_string();
    if !reason.contains(row.reason) {
        return Err(format!("reason {reason:?} lacks {:?}", row.reason));
    }
    if !d.record && (d.channels.is_some() || !d.targets.is_empty() || d.announcement.is_some()) {
        return Err(format!("an unrecorded call carries recording details: {d:?}"));
    }
    Ok(())
}

#[test]
fn rules_table() {
    let mut failures = Vec::new();
    for row in rows() {
        let p = policy(row.variant);
        apply_changes(&p, row.changes);
        let d = p.decide(&row.facts);
        if let Err(e) = check(&row, &d) {
            failures.push(format!("row at line {} ({:?}, {:?}): {e}", row.line, row.variant, row.facts));
        }
        // The claiming form agrees with the pure one.
        let c = p.decide_and_claim("call-1", &row.facts);
        if c != d {
            failures.push(format!("row at line {}: decide_and_claim differs: {c:?}", row.line));
        }
    }
    assert!(failures.is_empty(), "{} failing rows:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn recorded_decision_carries_channels_and_targets_of_its_configuration() {
    let p = policy(BASE);
    let d = p.decide(&inc(EXT, "310"));
    assert_eq!(d.channels, Some(Channels::Separate));
    assert_eq!(d.targets.iter().map(|t| &**t).collect::<Vec<_>>(), ["offsite"]);
    let d = p.decide(&out("205", EXT));
    assert_eq!(d.channels, Some(Channels::Caller));
    assert_eq!(d.targets.iter().map(|t| &**t).collect::<Vec<_>>(), ["nas", "offsite"]);
}

#[test]
fn decision_json_is_exactly_the_contract_shape() {
    let p = policy(BASE);
    let d = p.decide(&CallFacts::incoming("+4930999888", "300").diverted_from(["301"]));
    let v: serde_json::Value = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"record": true, "configuration": "trading-desk", "channels": "stereo",
            "announcement": "announcements/incoming.wav", "targets": ["nas"],
            "reason": "incoming call to group trading (300), diverted from 301", "on_failure": "allow"})
    );
    let d = p.decide(&inc(EXT, "301"));
    let v: serde_json::Value = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"record": false, "configuration": null, "channels": null,
            "announcement": null, "targets": [],
            "reason": "incoming call: no configuration records 301: no user or group has this number", "on_failure": null})
    );
    // Key order as in docs/reference.md §2.
    let text = serde_json::to_string(&d).unwrap();
    let order: Vec<usize> = ["\"record\"", "\"configuration\"", "\"channels\"", "\"announcement\"", "\"targets\"", "\"reason\""]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn call_facts_parse_from_contract_json() {
    let f: CallFacts = serde_json::from_str(
        r#"{"direction": "incoming", "caller": "+4930999888", "callee": "300", "diversions": ["301"]}"#,
    )
    .unwrap();
    assert_eq!(f, CallFacts::incoming("+4930999888", "300").diverted_from(["301"]));
    let f: CallFacts = serde_json::from_str(r#"{"direction":"internal","caller":null,"callee":"300"}"#).unwrap();
    assert_eq!(f, CallFacts::internal("", "300"));
    assert!(serde_json::from_str::<CallFacts>(r#"{"direction":"sideways","caller":"1","callee":"2"}"#).is_err());
}

#[test]
fn reasons_redact_numbers_for_logs() {
    let p = policy(BASE);
    for facts in [
        inc(EXT, "+4930555201"),
        inc(EXT, "+4930555299").diverted_from(["+4930555288"]),
        out("+4930555277", EXT),
        int("+4930555266", "---+4930555255"),
    ] {
        let d = p.decide(&facts);
        let full = d.reason.to_string();
        let red = d.reason.redacted().to_string();
        for secret in ["4930555", "555201", "555299", "555288", "555277", "555266", "555255"] {
            assert!(!red.contains(secret), "redacted reason leaks {secret}: {red}");
        }
        assert_ne!(full, red);
        let logged = facts.redacted().to_string();
        assert!(!logged.contains("4930"), "{logged}");
    }
    assert_eq!(
        inc("<sip:+4930999888@pbx.example>", "sip:300@pbx;user=phone").diverted_from(["tel:+4930555201"]).redacted().to_string(),
        "incoming ***888 -> *** diverted from ***201"
    );
    {
    }
    // Group names and user ids stay readable.
    let d = p.decide(&inc(EXT, "+4930555201"));
    assert!(d.reason.redacted().to_string().contains("user alice (***201)"), "{}", d.reason.redacted());
}

#[test]
fn a_claimed_call_is_not_recorded_twice_until_released() {
    let p = policy(BASE);
    let d = p.decide_and_claim("abc@pbx", &inc(EXT, "300"));
    assert!(d.record);
    assert_eq!(p.recording_of("abc@pbx").as_deref(), Some("trading-desk"));
    // The same call reported again (e.g. the other leg of an internal call) is not taken again,
    // not even by a configuration later in the order.
    let again = p.decide_and_claim("abc@pbx", &out("205", EXT));
    assert!(!again.record);
    assert_eq!(again.reason.to_string(), "call abc@pbx is already being recorded by configuration trading-desk");
    // An unrecorded decision claims nothing.
    assert!(!p.decide_and_claim("other", &inc(EXT, "301")).record);
    assert_eq!(p.active_recordings(), 1);
    assert_eq!(p.release("abc@pbx").as_deref(), Some("trading-desk"));
    assert_eq!(p.release("abc@pbx"), None);
    assert!(p.decide_and_claim("abc@pbx", &out("205", EXT)).record);
    assert_eq!(p.recording_of("abc@pbx").as_deref(), Some("vip"));
}

#[test]
fn concurrent_claims_of_one_call_record_it_once() {
    let p = std::sync::Arc::new(policy(BASE));
    for round in 0..50 {
        let id = format!("call-{round}");
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let p = p.clone();
                let id = id.clone();
                std::thread::spawn(move || {
                    let facts = if t % 2 == 0 { inc(EXT, "300") } else { out("205", EXT) };
                    p.decide_and_claim(&id, &facts).record
                })
            })
            .collect();
        let recorded = handles.into_iter().map(|h| h.join().unwrap()).filter(|r| *r).count();
        assert_eq!(recorded, 1, "round {round}");
    }
}

#[test]
fn membership_changes_while_deciding_from_many_threads() {
    let p = std::sync::Arc::new(policy(BASE));
    let flipper = {
        let p = p.clone();
        std::thread::spawn(move || {
            for i in 0..2000 {
                p.set_active("trading", "bob", i % 2 == 1).unwrap();
            }
        })
    };
    let deciders: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let d = p.decide(&out("202", EXT));
                    // Either state is fine mid-flight, but the decision is always coherent.
                    assert_eq!(d.record, d.configuration.is_some());
                }
            })
        })
        .collect();
    flipper.join().unwrap();
    for d in deciders {
        d.join().unwrap();
    }
    // The last change (i = 1999, odd) logged bob in.
    assert!(p.is_active("trading", "bob").unwrap());
    assert!(p.decide(&out("202", EXT)).record);
}

#[test]
fn membership_api_errors_and_export_import() {
    let p = policy(BASE);
    assert!(matches!(p.set_active("nope", "bob", false), Err(cr_policy::MembershipError::UnknownGroup { .. })));
    assert!(matches!(p.set_active("trading", "zed", false), Err(cr_policy::MembershipError::UnknownUser { .. })));
    assert!(matches!(p.set_active("trading", "carol", false), Err(cr_policy::MembershipError::NotAMember { .. })));
    assert_eq!(p.set_active("trading", "bob", false), Ok(true));
    assert_eq!(p.set_active("trading", "bob", false), Ok(false));

    let saved = p.memberships();
    let json = serde_json::to_string(&saved).unwrap();
    assert!(json.contains(r#"{"group":"trading","user":"bob","active":false}"#), "{json}");
    assert!(json.contains(r#"{"group":"sales","user":"dave","active":false}"#), "{json}");

    // A fresh policy (a restart) takes the saved state over.
    let fresh = policy(BASE);
    assert!(fresh.decide(&out("202", EXT)).record);
    let mut states: Vec<cr_policy::MembershipState> = serde_json::from_str(&json).unwrap();
    states.push(cr_policy::MembershipState { group: "gone".into(), user: "bob".into(), active: true });
    let skipped = fresh.import_memberships(&states);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(!fresh.decide(&out("202", EXT)).record);
    assert_eq!(fresh.memberships(), saved);
}

#[test]
fn a_reloaded_policy_adopts_memberships_and_claims() {
    let old = policy(BASE);
    old.set_active("trading", "bob", false).unwrap();
    assert!(old.decide_and_claim("c1", &inc(EXT, "300")).record);
    // The reloaded file drops group support and logs bob in at start.
    let new = policy(DIRECT);
    assert!(new.is_active("trading", "bob").unwrap());
    let skipped = new.adopt_state(&old);
    assert!(skipped.is_empty(), "{skipped:?}");
    assert!(!new.is_active("trading", "bob").unwrap(), "bob's log-out survives the reload");
    assert!(!new.decide_and_claim("c1", &out("205", EXT)).record, "the running call is not taken again");
    assert_eq!(new.release("c1").as_deref(), Some("trading-desk"));
}
