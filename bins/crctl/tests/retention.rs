//! crctl retention extend, run as a supervisor runs it on a temporary installation with
//! named operators (tests/common). Sets are sealed through cr-journal, their expiry written with sqlite3;
//! what changed is read back with the `sqlite3` CLI (`recordings.expires_at`, milliseconds
//! since 1970) and `crctl audit --json`. Expected times come from GNU `date`.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use chrono::{DateTime, Utc};
use common::{Install, add_operators};

/// Outcome of one crctl run: exit code, stdout, stderr.
type Run = (i32, String, String);

/// An installation in `zone` whose journal has the test operators.
fn install(zone: &str) -> Install {
    let inst = Install::new("");
    let text = std::fs::read_to_string(&inst.config).unwrap();
    let text = text.replace("timezone = \"UTC\"", &format!("timezone = \"{zone}\""));
    assert!(text.contains(zone));
    std::fs::write(&inst.config, text).unwrap();
    add_operators(&inst.journal());
    inst
}

/// `retention extend ARGS` as supervisor sup1.
fn extend(inst: &Install, args: &[&str]) -> Run {
    let mut all = vec!["retention", "extend"];
    all.extend(args);
    inst.crctl_as("sup1", &all)
}

/// GNU `date -u -d WHEN` formatted with `fmt`.
fn gnu_date(when: &str, fmt: &str) -> String {
    let out = Command::new("date").args(["-u", "-d", when, fmt]).output().unwrap();
    assert!(out.status.success(), "date -d {when:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `when` as RFC 3339 UTC with milliseconds, by GNU date.
fn rfc(when: &str) -> String {
    gnu_date(when, "+%Y-%m-%dT%H:%M:%S.%3NZ")
}

/// `when` as milliseconds since 1970, by GNU date (as the journal stores it).
fn millis(when: &str) -> String {
    gnu_date(when, "+%s%3N")
}

/// A time, read by chrono, for sealing (the expected values never come from it).
fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// `sqlite3` on the installation's journal.
fn sql(inst: &Install, query: &str) -> String {
    let out = Command::new("sqlite3").arg(inst.data.join("journal.sqlite")).arg(query).output().unwrap();
    assert!(out.status.success(), "sqlite3 {query}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every set's `expires_at` as the journal holds it (`id|millis`, empty for never).
fn expiries(inst: &Install) -> String {
    sql(inst, "SELECT set_id, expires_at FROM recordings ORDER BY set_id")
}

/// The `retention_extended` events of `crctl audit --json` (read as an auditor).
fn extended_events(inst: &Install) -> Vec<serde_json::Value> {
    let out = inst.crctl_as("aud", &["audit", "--json"]);
    assert_eq!(out.0, 0, "{out:?}");
    out.1
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "retention_extended")
        .collect()
}

/// The kinds and actors of every audit event, straight from the journal.
fn audit_kinds(inst: &Install) -> Vec<(String, Option<String>)> {
    inst.journal()
        .audit_events(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind.as_str().to_owned(), e.actor))
        .collect()
}

/// Seals set `id` of a 60 s call `caller -> 300` started at `start`; `expires` (GNU date's
/// reading of it, in milliseconds) is written into `recordings.expires_at` with sqlite3.
fn seal(inst: &Install, id: &str, caller: &str, start: &str, expires: Option<&str>) {
    common::seal(&inst.journal(), id, caller, "300", at(start), 60, &[]);
    if let Some(e) = expires {
        sql(inst, &format!("UPDATE recordings SET expires_at = {} WHERE set_id = '{id}'", millis(e)));
    }
}

#[test]
fn a_date_keeps_the_sets_through_that_whole_day_in_utc() {
    // The installation's zone is far from UTC: the rule is UTC all the same.
    let inst = install("Pacific/Auckland");
    seal(&inst, "s1", "+4930999888", "2026-11-26T09:00:00Z", Some("2031-11-26T09:00:00.123Z"));
    seal(&inst, "s2", "+4930999888", "2026-11-26T10:00:00Z", None);
    let end = rfc("2090-12-31 + 1 day");
    seal(&inst, "s3", "+4930999888", "2026-11-26T11:00:00Z", Some(&end));

    let out = extend(&inst, &["--set", "s1", "s2", "--set", "s3", "--until", "2090-12-31", "--reason", "FCA request 17"]);
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(out.2, "");
    assert_eq!(
        out.1,
        format!("EXTENDED s1 2031-11-26T09:00:00.123Z -> {end}\nNEVER-EXPIRES s2\nUNCHANGED s3 {end}\n")
    );
    assert_eq!(end, "2091-01-01T00:00:00.000Z", "GNU date and the rule agree");
    assert_eq!(
        expiries(&inst),
        format!("s1|{m}\ns2|\ns3|{m}\n", m = millis("2090-12-31 + 1 day"))
    );
    let ev = extended_events(&inst);
    assert_eq!(ev.len(), 1, "only the changed set is audited: {ev:?}");
    assert_eq!(ev[0]["actor"], "sup1");
    assert_eq!(ev[0]["set_id"], "s1");
    assert_eq!(ev[0]["details"]["before"], "2031-11-26T09:00:00.123Z");
    assert_eq!(ev[0]["details"]["after"], end.as_str());
    assert_eq!(ev[0]["details"]["reason"], "FCA request 17");

    // An RFC 3339 time with an offset is that instant; s2 still never expires.
    let when = "2095-06-01T12:30:00+02:00";
    let out = extend(&inst, &["--set", "s1", "s2", "--until", when, "--reason", "seven years on request"]);
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(out.1, format!("EXTENDED s1 {end} -> {}\nNEVER-EXPIRES s2\n", rfc(when)));
    assert_eq!(expiries(&inst), format!("s1|{}\ns2|\ns3|{}\n", millis(when), millis("2090-12-31 + 1 day")));
    let ev = extended_events(&inst);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["details"]["after"], rfc(when).as_str());
    assert_eq!(ev[1]["details"]["reason"], "seven years on request");

    // An admin may extend too.
    let out = inst.crctl_as("root", &["retention", "extend", "--set", "s3", "--until", "2099-01-01", "--reason", "r"]);
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(out.1, format!("EXTENDED s3 {end} -> {}\n", rfc("2099-01-02")));
}

#[test]
fn a_party_extends_the_sets_of_its_calls_in_the_range_only() {
    let inst = install("UTC");
    let old = "2031-01-01T00:00:00.000Z";
    seal(&inst, "early", "+4930999888", "2026-11-25T23:59:59Z", Some(old)); // before --from
    seal(&inst, "p1", "+4930999888", "2026-11-26T00:00:00Z", Some(old));
    seal(&inst, "p2", "030 999888", "2026-11-26T15:00:00Z", Some(old)); // national form
    seal(&inst, "other", "+4930111222", "2026-11-26T16:00:00Z", Some(old));
    seal(&inst, "gone", "+4930999888", "2026-11-26T17:00:00Z", Some(old));
    seal(&inst, "next-day", "+4930999888", "2026-11-27T00:00:00Z", Some(old)); // --to includes the 26th only
    sql(&inst, "UPDATE recordings SET deleted_at = 1800000000000 WHERE set_id = 'gone'");
    let before = expiries(&inst);

    let out = extend(
        &inst,
        &["--party", "+49 30 999888", "--from", "2026-11-26", "--to", "2026-11-26", "--until", "2040-06-30", "--reason", "litigation"],
    );
    assert_eq!(out.0, 0, "{out:?}");
    let new = rfc("2040-06-30 + 1 day");
    assert_eq!(out.1, format!("EXTENDED p1 {old} -> {new}\nEXTENDED p2 {old} -> {new}\n"));
    let o = millis(old);
    let n = millis("2040-07-01");
    assert_eq!(
        expiries(&inst),
        format!("early|{o}\ngone|{o}\nnext-day|{o}\nother|{o}\np1|{n}\np2|{n}\n"),
        "before: {before}"
    );
    let sets: Vec<_> = extended_events(&inst).iter().map(|e| e["set_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sets, ["p1", "p2"]);

    // --exact: the national form no longer matches.
    let out = extend(&inst, &["--party", "4930999888", "--exact", "--from", "2026-11-26", "--to", "2026-11-26", "--until", "2041-01-01", "--reason", "r"]);
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(out.1, format!("EXTENDED p1 {new} -> {}\n", rfc("2041-01-02")));
}

#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    let inst = install("UTC");
    seal(&inst, "s1", "+4930999888", "2026-11-26T09:00:00Z", Some("2031-11-26T09:00:00.000Z"));
    seal(&inst, "late", "+4930111222", "2026-11-26T10:00:00Z", Some("2080-01-01T00:00:00.000Z"));
    seal(&inst, "never", "+4930111222", "2026-11-26T11:00:00Z", None);
    let before = expiries(&inst);
    let events = audit_kinds(&inst).len();
    let yesterday = gnu_date("yesterday", "+%F");
    let a_second_ago = rfc("1 second ago");
    for (args, says) in [
        (&["--set", "s1", "--until", yesterday.as_str(), "--reason", "r"][..], "not in the future"),
        (&["--set", "s1", "--until", a_second_ago.as_str(), "--reason", "r"], "not in the future"),
        (&["--set", "never", "--until", "2020-01-01", "--reason", "r"], "not in the future"),
        (&["--set", "s1", "--set", "ghost", "--until", "2090-01-01", "--reason", "r"], "\"ghost\" not found"),
        // s1 could be extended, late would be shortened (2079-12-30 means until 2079-12-31T00:00Z): neither changes.
        (&["--set", "s1", "late", "--until", "2079-12-30", "--reason", "r"], "set late expires later, at 2080-01-01T00:00:00.000Z"),
        (&["--set", "s1", "--until", "2090-01-01", "--reason", ""], "reason"),
        (&["--set", "s1", "--until", "2090-01-01", "--reason", "  "], "reason"),
        (&["--set", "s1", "--until", "2090-13-01", "--reason", "r"], "--until \"2090-13-01\" is not a time"),
        (&["--set", "s1", "--until", "next year", "--reason", "r"], "--until \"next year\" is not a time"),
        (&["--set", "s1", "--from", "2026-11-26", "--until", "2090-01-01", "--reason", "r"], "--from"),
        (&["--party", "+4930555000", "--until", "2090-01-01", "--reason", "r"], "no recording of party +4930555000 matches: nothing was changed"),
        (&["--party", "+4930999888", "--from", "2026-11-27", "--until", "2090-01-01", "--reason", "r"], "no recording of party +4930999888 matches in that time range"),
        (&["--party", "anonymous", "--until", "2090-01-01", "--reason", "r"], "no digits"),
    ] {
        let out = extend(&inst, args);
        assert_eq!(out.0, 2, "{args:?}: {out:?}");
        assert!(out.2.contains(says), "{args:?}: {}", out.2);
        assert_eq!(out.1, "", "{args:?}");
        assert_eq!(expiries(&inst), before, "{args:?} changed nothing");
    }
    assert_eq!(audit_kinds(&inst).len(), events, "a refused extension writes no audit event");
    // Without --set or --party, or with both, clap refuses before anything runs.
    for args in [&["--until", "2090-01-01", "--reason", "r"][..], &["--set", "s1", "--party", "1234567", "--until", "2090-01-01", "--reason", "r"]] {
        let out = extend(&inst, args);
        assert_eq!(out.0, 2, "{args:?}: {out:?}");
    }
    assert_eq!(expiries(&inst), before);
    assert!(extended_events(&inst).is_empty());
}

#[test]
fn an_auditor_or_a_wrong_password_is_refused_audited_and_changes_nothing() {
    let inst = install("UTC");
    seal(&inst, "s1", "+4930999888", "2026-11-26T09:00:00Z", Some("2031-11-26T09:00:00.000Z"));
    let before = expiries(&inst);
    let args = ["retention", "extend", "--set", "s1", "--until", "2090-01-01", "--reason", "r"];

    let out = inst.crctl_as("aud", &args);
    assert_eq!(out.0, 3, "{out:?}");
    assert!(out.2.contains("has role auditor; retention extend needs supervisor"), "{}", out.2);
    assert_eq!(out.1, "");
    assert_eq!(expiries(&inst), before);
    assert_eq!(audit_kinds(&inst).last().unwrap(), &("access_denied".to_owned(), Some("aud".to_owned())));

    let wrong = common::password_file(inst.dir.path(), "wrong", "not the password at all");
    let mut all = args.to_vec();
    all.extend(["--operator", "sup1"]);
    let out = inst.crctl_with(Some(&wrong), &all);
    assert_eq!(out.0, 3, "{out:?}");
    assert!(out.2.contains("wrong operator name or password"), "{}", out.2);
    assert!(!out.2.contains("not the password at all"), "the password is not echoed: {}", out.2);
    assert_eq!(expiries(&inst), before);
    let last = inst.journal().audit_events(0, 10_000).unwrap().pop().unwrap();
    assert_eq!(last.kind.as_str(), "login_failed");
    assert!(extended_events(&inst).is_empty());
}

#[test]
fn the_help_names_the_rule_of_until() {
    let inst = install("UTC");
    let out = inst.crctl(&["retention", "extend", "--help"]);
    assert_eq!(out.0, 0, "{out:?}");
    for word in ["--until", "--set", "--party", "--reason", "--operator", "whole day in UTC", "EXTENDED"] {
        assert!(out.1.contains(word), "{word}: {}", out.1);
    }
}
