//! crctl hold place|release|list, delete and approve, run as supervisors run them on a
//! temporary installation with named operators (tests/common); sets are
//! sealed through cr-journal, and what changed is read back from the journal.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{Install, add_operators};

/// Seals set `id` of a 60 s call `caller -> 300` that started at `start`.
fn seal(j: &cr_journal::Journal, id: &str, caller: &str, start: DateTime<Utc>) {
    common::seal(j, id, caller, "300", start, 60, &[]);
}

/// Outcome of one crctl run: exit code, stdout, stderr.
type Run = (i32, String, String);

/// An installation whose journal has the test operators (`sup1`, `sup2` supervisors, `aud`
/// an auditor, `root` an admin).
fn install() -> Install {
    let inst = Install::new("");
    add_operators(&inst.journal());
    inst
}

/// Runs crctl as operator `who` (`--operator who` appended, with their password).
fn as_op(inst: &Install, who: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--operator", who]);
    inst.crctl(&all)
}

/// The journal's holds, requests and hold/request audit events, to compare before and
/// after a refused command.
fn snapshot(inst: &Install) -> String {
    let j = inst.journal();
    let holds = j.holds(false).unwrap();
    let requests: Vec<_> = (1..=20).filter_map(|id| j.request(id).unwrap()).collect();
    let events: Vec<String> = j
        .audit_events(0, 10_000)
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                e.kind.as_str(),
                "hold_placed" | "hold_release_requested" | "hold_released" | "deletion_requested" | "request_approved"
            )
        })
        .map(|e| format!("{} {:?} {}", e.kind, e.actor, e.details))
        .collect();
    format!("{holds:?}\n{requests:?}\n{events:?}")
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap() + Duration::seconds(secs)
}

/// The request number of a `REQUEST <id> ...` line.
fn request_id(stdout: &str) -> i64 {
    let mut words = stdout.split_whitespace();
    assert_eq!(words.next(), Some("REQUEST"), "{stdout}");
    words.next().unwrap().parse().unwrap()
}

#[test]
fn the_same_supervisor_cannot_approve_their_own_deletion_or_release() {
    let inst = install();
    let j = inst.journal();
    seal(&j, "s1", "+4930999888", t(0));
    seal(&j, "s2", "+4930111222", t(100));

    let out = as_op(&inst, "sup1", &["hold", "place", "--case", "case-1", "--reason", "SEC inquiry", "--set", "s1"]);
    assert_eq!(out, (0, "HOLD case-1 placed: 1 sets now\n".into(), String::new()));

    // Deletion: asked by sup1, refused to sup1 (exit 3, still pending), approved by sup2.
    let out = as_op(&inst, "sup1", &["delete", "--set", "s2", "--reason", "private call"]);
    assert_eq!(out.0, 0, "{out:?}");
    let del = request_id(&out.1);
    assert_eq!(out.1, format!("REQUEST {del} delete set s2 pending approval\n"));
    let before = snapshot(&inst);
    let out = as_op(&inst, "sup1", &["approve", &del.to_string()]);
    assert_eq!(out.0, 3, "{out:?}");
    assert!(out.2.contains("different supervisor"), "{}", out.2);
    assert_eq!(snapshot(&inst), before, "a refused approval changes nothing");
    let req = j.request(del).unwrap().unwrap();
    assert_eq!((req.approved_by, req.requested_by.as_str()), (None, "sup1"));
    assert!(j.approved_deletions().unwrap().is_empty());
    assert!(
        j.audit_events(0, 1000).unwrap().iter().any(|e| e.kind.as_str() == "deletion_requested" && e.set_id.as_deref() == Some("s2")),
        "the request is audited"
    );
    let out = as_op(&inst, "sup2", &["approve", &del.to_string()]);
    assert_eq!(out.0, 0, "{out:?}");
    assert!(out.1.starts_with(&format!("APPROVED {del} delete set s2")), "{}", out.1);
    let ad = j.approved_deletions().unwrap();
    assert_eq!(ad.len(), 1);
    assert_eq!((ad[0].set_id.as_str(), ad[0].requested_by.as_str(), ad[0].approved_by.as_str()), ("s2", "sup1", "sup2"));

    // Release: asked by sup2, refused to sup2, approved by sup1.
    let out = as_op(&inst, "sup2", &["hold", "release", "--case", "case-1"]);
    assert_eq!(out.0, 0, "{out:?}");
    let rel = request_id(&out.1);
    assert_eq!(out.1, format!("REQUEST {rel} release case-1 pending approval\n"));
    let before = snapshot(&inst);
    let out = as_op(&inst, "sup2", &["approve", &rel.to_string()]);
    assert_eq!(out.0, 3, "{out:?}");
    assert_eq!(snapshot(&inst), before);
    assert_eq!(j.hold_of("s1").unwrap().as_deref(), Some("case-1"), "the hold stands");
    let out = as_op(&inst, "sup1", &["hold", "list"]);
    assert!(out.1.contains(&format!("release pending: request {rel} by sup2")), "{}", out.1);
    let out = as_op(&inst, "sup1", &["approve", &rel.to_string()]);
    assert_eq!(out, (0, format!("APPROVED {rel} release case-1: the hold is released\n"), String::new()));
    assert_eq!(j.hold_of("s1").unwrap(), None);
    let out = as_op(&inst, "sup1", &["hold", "list"]);
    assert_eq!((out.0, out.1.as_str(), out.2.as_str()), (0, "", "no holds\n"));
    // Approving twice: not pending any more (exit 2).
    let out = as_op(&inst, "sup2", &["approve", &rel.to_string()]);
    assert_eq!(out.0, 2, "{out:?}");
    assert!(out.2.contains("not pending"), "{}", out.2);
}

#[test]
fn an_auditor_is_refused_and_nothing_changes() {
    let inst = install();
    let j = inst.journal();
    seal(&j, "s1", "+4930999888", t(0));
    let out = as_op(&inst, "sup1", &["delete", "--set", "s1", "--reason", "private call"]);
    let del = request_id(&out.1).to_string();
    let before = snapshot(&inst);
    for args in [
        &["hold", "place", "--case", "c", "--reason", "r", "--set", "s1"][..],
        &["hold", "list"],
        &["delete", "--set", "s1", "--reason", "r"],
        &["approve", &del],
    ] {
        let out = as_op(&inst, "aud", args);
        assert_eq!(out.0, 3, "{args:?}: {out:?}");
        assert!(out.2.contains("supervisor"), "{args:?}: {}", out.2);
    }
    assert_eq!(snapshot(&inst), before);
}

#[test]
fn a_party_hold_covers_a_set_recorded_after_it_was_placed() {
    let inst = install();
    let j = inst.journal();
    seal(&j, "early", "+4930999888", t(-86_400)); // 2026-11-25: before --from
    let out = as_op(
        &inst,
        "sup1",
        &["hold", "place", "--case", "party-1", "--reason", "litigation", "--party", "+49 30 999888", "--from", "2026-11-26", "--to", "2026-11-26"],
    );
    assert_eq!(out, (0, "HOLD party-1 placed: 0 sets now\n".into(), String::new()));
    // Recorded after the hold, in its range, the number in its national form.
    seal(&j, "later", "030 999888", t(3600));
    seal(&j, "next-day", "+4930999888", t(86_400)); // --to 2026-11-26 includes only that day
    assert_eq!(j.hold_of("later").unwrap().as_deref(), Some("party-1"));
    assert_eq!(j.hold_of("early").unwrap(), None);
    assert_eq!(j.hold_of("next-day").unwrap(), None);
    let before = snapshot(&inst);
    let out = as_op(&inst, "sup1", &["delete", "--set", "later", "--reason", "private call"]);
    assert_eq!(out.0, 3, "{out:?}");
    assert!(out.2.contains("party-1"), "names the case: {}", out.2);
    assert_eq!(snapshot(&inst), before, "a held set's deletion is not even requested");

    let out = as_op(&inst, "sup1", &["hold", "list", "--json"]);
    assert_eq!(out.0, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(out.1.trim()).unwrap();
    assert_eq!(v["case"], "party-1");
    assert_eq!(v["covered"], 1);
    assert_eq!(v["scope"]["by"], "party");
    assert_eq!(v["scope"]["from"], "2026-11-26T00:00:00Z");
    assert_eq!(v["scope"]["to"], "2026-11-27T00:00:00Z");
}

#[test]
fn unknown_set_case_or_request_is_a_clear_error_and_changes_nothing() {
    let inst = install();
    seal(&inst.journal(), "s1", "+4930999888", t(0));
    let before = snapshot(&inst);
    for (args, says) in [
        (&["delete", "--set", "ghost", "--reason", "r"][..], "\"ghost\" not found"),
        (&["hold", "place", "--case", "c", "--reason", "r", "--set", "s1", "--set", "ghost"], "\"ghost\" not found"),
        (&["hold", "release", "--case", "no-such-case"], "standing hold of case \"no-such-case\" not found"),
        (&["approve", "4711"], "request 4711 not found"),
        (&["hold", "place", "--case", "bad\tname", "--reason", "r", "--set", "s1"], "case name"),
        (&["hold", "place", "--case", "c", "--reason", "r", "--set", "s1", "--from", "2026-11-26"], "--from"),
        (&["hold", "place", "--case", "c", "--reason", "r", "--party", "anonymous"], "no digits"),
        (&["delete", "--set", "s1", "--reason", ""], "reason"),
    ] {
        let out = as_op(&inst, "sup1", args);
        assert_eq!(out.0, 2, "{args:?}: {out:?}");
        assert!(out.2.contains(says), "{args:?}: {}", out.2);
        assert_eq!(out.1, "", "{args:?}");
    }
    assert_eq!(snapshot(&inst), before);
    // Without --set or --party clap refuses (exit 2) before anything runs.
    let out = as_op(&inst, "sup1", &["hold", "place", "--case", "c", "--reason", "r"]);
    assert_eq!(out.0, 2, "{out:?}");
    // A second standing hold of the same case: exit 2, named.
    assert_eq!(as_op(&inst, "sup1", &["hold", "place", "--case", "c", "--reason", "r", "--set", "s1"]).0, 0);
    let out = as_op(&inst, "sup1", &["hold", "place", "--case", "c", "--reason", "r", "--party", "+4930999888"]);
    assert_eq!(out.0, 2, "{out:?}");
    assert!(out.2.contains("already has a standing hold"), "{}", out.2);
}
