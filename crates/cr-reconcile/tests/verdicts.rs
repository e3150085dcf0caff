//! Every verdict, worked out by hand from the policy's rules: a trading group (300) with
//! alice and bob, bob logging out and in again at run time, carol in no group.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use cr_journal::{Direction, MembershipChange, RecordedCall};
use cr_policy::{GroupSpec, Policy, RecordingSpec, UserSpec};
use cr_reconcile::{CdrRows, Format, MatchedBy, Options, Verdict, read_cdr, reconcile};

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap() + Duration::minutes(min)
}

fn policy() -> Policy {
    Policy::builder()
        .user(UserSpec::new("alice").number("201"))
        .user(UserSpec::new("bob").number("202"))
        .user(UserSpec::new("carol").number("203"))
        .group(GroupSpec::new("trading").number("300").members(["alice", "bob"]))
        .recording(RecordingSpec::new("desk").groups(["trading"]).targets(["nas"]))
        .build()
        .unwrap()
}

fn set(id: &str, call_id: &str, caller: &str, callee: &str, start: DateTime<Utc>, secs: i64) -> RecordedCall {
    RecordedCall {
        set_id: id.into(),
        pbx_call_id: call_id.into(),
        direction: Direction::Outgoing,
        caller: caller.into(),
        callee: callee.into(),
        started_at: start,
        ended_at: start + Duration::seconds(secs),
        flags: vec![],
        deleted_at: None,
    }
}

fn change(at: DateTime<Utc>, active: bool) -> MembershipChange {
    MembershipChange { at, group: "trading".into(), user: "bob".into(), active }
}

/// A generic CSV (RFC 3339 times): `call_id,caller,callee,answer,billsec`.
fn rows(lines: &[(&str, &str, &str, DateTime<Utc>, i64)]) -> CdrRows {
    let mut text = String::from("id,from,to,answered,secs\n");
    for (id, a, b, at, secs) in lines {
        text.push_str(&format!("{id},{a},{b},{},{secs}\n", at.to_rfc3339()));
    }
    let f = Format::parse("csv", Some("call_id=id,caller=from,callee=to,start=answered,duration=secs")).unwrap();
    read_cdr(&f, None, text.as_bytes()).unwrap()
}

#[test]
fn each_call_gets_the_verdict_of_the_policy_as_it_stood() {
    let cdr = rows(&[
        ("c1", "201", "004930999001", t(0), 95),  // alice out: recorded, set by call id
        ("c2", "+4930999002", "300", t(10), 95),  // to the group: set only 30 s long
        ("c3", "202", "+4930999003", t(20), 60),  // bob, logged in: no set
        ("c4", "202", "+4930999004", t(30), 60),  // bob logged out at 25: declined
        ("c5", "202", "+4930999005", t(50), 60),  // bob back in at 45: no set
        ("c6", "203", "+4930999006", t(60), 60),  // carol, in no group: a set anyway
        ("c7", "+4930999007", "300", t(70), 0),   // to the group, never answered
        ("c8", "+4930999008", "300", t(80), 120), // set 3 s late, 2 s shorter: within tolerance
    ]);
    let sets = vec![
        set("s1", "c1", "201", "+4930999001", t(0), 95),
        set("s2", "other", "+4930999002", "300", t(10), 30),
        set("s6", "x", "203", "+4930999006", t(60) + Duration::seconds(1), 60),
        set("s8", "y", "004930999008", "300", t(80) + Duration::seconds(3), 118),
        set("s9", "z", "201", "+4930999999", t(90), 60), // no call record
    ];
    // Bob out at 25, in at 45, and out again after every call: the final state must not
    // be what decides.
    let history = vec![change(t(25), false), change(t(45), true), change(t(200), false)];
    let report = reconcile(&policy(), &Options::default(), cdr, sets, history);
    let got: Vec<(&str, Verdict, Option<&str>)> =
        report.calls.iter().map(|c| (c.call_id.as_deref().unwrap(), c.verdict, c.set_id.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("c1", Verdict::Recorded, Some("s1")),
            ("c2", Verdict::Short, Some("s2")),
            ("c3", Verdict::Missing, None),
            ("c4", Verdict::NotRecordedAsDecided, None),
            ("c5", Verdict::Missing, None),
            ("c6", Verdict::RecordedUnexpectedly, Some("s6")),
            ("c7", Verdict::NotRecordedAsDecided, None),
            ("c8", Verdict::Recorded, Some("s8")),
        ]
    );
    assert_eq!(report.calls[0].matched_by, Some(MatchedBy::CallId));
    assert_eq!(report.calls[1].matched_by, Some(MatchedBy::Parties));
    let s = &report.summary;
    assert_eq!((s.recorded, s.short, s.missing, s.not_recorded_as_decided, s.recorded_unexpectedly), (2, 1, 2, 2, 1));
    assert_eq!((s.sets_without_call, s.membership_changes_applied), (1, 2), "the change at 200 comes after every call");
    assert_eq!(report.sets_without_call, ["s9"]);
    assert!(report.has_problems());
    // Numbers appear only redacted in what is printed or mailed.
    let text = report.text("cdr.csv", true);
    assert!(!text.contains("4930999003") && text.contains("***003"), "{text}");
}

#[test]
fn a_set_outside_the_window_or_of_other_parties_does_not_match() {
    let cdr = rows(&[("c1", "201", "+4930999001", t(0), 60), ("c2", "201", "+4930999002", t(5), 60)]);
    let sets = vec![
        set("late", "-", "201", "+4930999001", t(0) + Duration::seconds(11), 60),
        set("other", "-", "201", "+4930999555", t(5), 60),
    ];
    let report = reconcile(&policy(), &Options::default(), cdr, sets, vec![]);
    assert!(report.calls.iter().all(|c| c.verdict == Verdict::Missing));
    let mut wide = Options::default();
    wide.match_window = Duration::seconds(12);
    let cdr = rows(&[("c1", "201", "+4930999001", t(0), 60)]);
    let report = reconcile(&policy(), &wide, cdr, vec![set("late", "-", "201", "+4930999001", t(0) + Duration::seconds(11), 60)], vec![]);
    assert_eq!(report.calls[0].verdict, Verdict::Recorded);
}

#[test]
fn one_set_serves_one_call() {
    // Two call records of the same parties at the same time, one set: one is MISSING.
    let cdr = rows(&[("c1", "201", "+4930999001", t(0), 60), ("c2", "201", "+4930999001", t(0), 60)]);
    let report = reconcile(&policy(), &Options::default(), cdr, vec![set("s", "-", "201", "+4930999001", t(0), 60)], vec![]);
    let v: Vec<Verdict> = report.calls.iter().map(|c| c.verdict).collect();
    assert_eq!(v, [Verdict::Recorded, Verdict::Missing]);
}

#[test]
fn a_clean_file_has_no_problems_and_the_json_says_so() {
    let cdr = rows(&[("c1", "201", "+4930999001", t(0), 60)]);
    let report = reconcile(&policy(), &Options::default(), cdr, vec![set("s", "c1", "201", "+4930999001", t(0), 60)], vec![]);
    assert!(!report.has_problems());
    let j = report.json("cdr.csv", false);
    assert_eq!(j["problems"], false);
    assert_eq!(j["summary"]["recorded"], 1);
    assert_eq!(j["calls"].as_array().map(Vec::len), Some(0), "only problems without --all");
    assert_eq!(report.json("cdr.csv", true)["calls"][0]["verdict"], "RECORDED");
}
