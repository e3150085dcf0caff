//! crctl group login/logout, status and search, run as an operator runs them, against a
//! journal filled through cr-journal; expectations worked out by hand.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::seal;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cr_journal::{AuditKind, Direction, Journal, NewCall, OpenOptions};

struct Install {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
}

const DIRECTORY: &str = r#"
[[users]]
id = "alice"
numbers = ["201"]

[[users]]
id = "bob"
numbers = ["202"]

[[users]]
id = "carol"
numbers = ["203"]

[[groups]]
id = "trading"
number = "300"
members = ["alice", "bob"]
inactive = ["bob"]

[[recordings]]
name = "desk"
groups = ["trading"]
targets = ["nas", "offsite", "archive"]

[[targets]]
name = "nas"
kind = "folder"
path = "/srv/nas"

[[targets]]
name = "offsite"
kind = "folder"
path = "/srv/offsite"

[[targets]]
name = "archive"
kind = "folder"
path = "/srv/archive"
"#;

impl Install {
    fn new(timezone: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let config = dir.path().join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"pbx-test\"\ndata_dir = \"{}\"\ntimezone = \"{timezone}\"\n\n[keystore]\npassword_env = \"CRCTL_TEST_PW\"\n\n[journal]\nurl = \"sqlite:journal.sqlite\"\n{DIRECTORY}",
                data.display()
            ),
        )
        .unwrap();
        Self {
            _dir: dir,
            data,
            config,
        }
    }

    fn crctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            .env("CALLREC_OPERATOR_PASSWORD_FILE", common::password_file(self._dir.path(), "operator", common::PASSWORD))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn journal(&self) -> Journal {
        Journal::open_sqlite(&self.data.join("journal.sqlite"), &OpenOptions::new()).unwrap()
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap() + Duration::seconds(secs)
}


/// s1: +49 30 999888 -> 300 at 09:00:00 UTC for 75 s, nas done ("rec/s1"), offsite
/// failing; s2: 030 999888 -> 300 on the next day at 23:30 UTC for 3725 s, nas pending.
/// An active call started (now - 90 s).
fn fill(j: &Journal) {
    seal(
        j,
        "s1",
        "+49 30 999888",
        "300",
        t(0),
        75,
        &["nas", "offsite"],
    );
    seal(
        j,
        "s2",
        "030 999888",
        "300",
        t(86400 + 14 * 3600 + 30 * 60),
        3725,
        &["nas"],
    );
    j.upload_done("s1", "nas", "rec/s1", &[], t(100)).unwrap();
    j.upload_failed(
        "s1",
        "offsite",
        "connection refused (127.0.0.1:2222)",
        t(200),
    )
    .unwrap();
    j.record_call(&NewCall {
        pbx_call_id: "live-1".into(),
        direction: Direction::Outgoing,
        caller: "201".into(),
        callee: "+4940123456".into(),
        diversions: vec![],
        started_at: Utc::now() - Duration::seconds(90),
        record: true,
        configuration: Some("desk".into()),
        reason: "outgoing call by active member alice of group trading".into(),
    })
    .unwrap();
}

#[test]
fn group_logout_and_login_store_state_and_audit() {
    let inst = Install::new("UTC");
    // A running recorder has the journal open and polls the membership stamp.
    let recorder = inst.journal();
    let stamp0 = recorder.membership_stamp().unwrap();
    let (code, out, err) = inst.crctl(&["group", "logout", "trading", "alice", "--by", "tester"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        recorder.membership_stamp().unwrap() > stamp0,
        "the open handle must see the change"
    );
    assert!(!recorder.memberships().unwrap()[0].active);
    assert_eq!(
        out.trim(),
        "alice is now logged out of group trading (was logged in)"
    );
    // bob starts logged out (config `inactive`).
    let (code, out, err) = inst.crctl(&["group", "login", "trading", "bob", "--by", "tester"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "bob is now logged in to group trading (was logged out)"
    );
    let (code, out, _) = inst.crctl(&["group", "login", "trading", "alice", "--by", "tester"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "alice is now logged in to group trading (was logged out)"
    );

    let j = inst.journal();
    let m: Vec<(String, String, bool, String)> = j
        .memberships()
        .unwrap()
        .into_iter()
        .map(|m| (m.group, m.user, m.active, m.changed_by))
        .collect();
    assert_eq!(
        m,
        [
            (
                "trading".into(),
                "alice".into(),
                true,
                "crctl:tester".into()
            ),
            ("trading".into(), "bob".into(), true, "crctl:tester".into()),
        ]
    );
    let ev = j.audit_events(0, 10).unwrap();
    assert_eq!(ev.len(), 3);
    assert!(ev.iter().all(|e| e.kind == AuditKind::MembershipChanged));
    assert_eq!(ev[0].details["user"], "alice");
    assert_eq!(ev[0].details["active"], false);
}

#[test]
fn group_refuses_unknown_names_and_non_members_with_exit_2() {
    let inst = Install::new("UTC");
    for (args, needle) in [
        (["group", "logout", "sales", "alice"], "no group \"sales\""),
        (
            ["group", "logout", "trading", "mallory"],
            "no user \"mallory\"",
        ),
        (
            ["group", "login", "trading", "carol"],
            "not a member of group \"trading\"",
        ),
    ] {
        let (code, out, err) = inst.crctl(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Nothing was written (the journal may not even exist).
    let path = inst.data.join("journal.sqlite");
    if path.exists() {
        assert!(inst.journal().memberships().unwrap().is_empty());
    }
}

#[test]
fn status_and_search_without_a_journal_say_so() {
    let inst = Install::new("UTC");
    for args in [&["status"][..], &["search", "--number", "300", "--operator", "aud"][..]] {
        let (code, _, err) = inst.crctl(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("there is no journal"), "{err}");
        assert!(
            !Path::new(&inst.data.join("journal.sqlite")).exists(),
            "status must not create a journal"
        );
    }
}

#[test]
fn status_shows_active_calls_backlog_errors_and_pending_deletions() {
    let inst = Install::new("UTC");
    let j = inst.journal();
    fill(&j);
    // Deletions not confirmed yet, at a target and in the local spool.
    j.deletion_failed("s1", "offsite", "connection refused (127.0.0.1:2222)", t(600)).unwrap();
    j.deletion_failed("s1", "offsite", "connection refused (127.0.0.1:2222)", t(700)).unwrap();
    j.deletion_failed("s2", cr_journal::Deletion::LOCAL, "permission denied", t(650)).unwrap();
    let (code, out, err) = inst.crctl(&["status"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "active calls: 1");
    assert!(
        lines[1].starts_with("  live-1  201 -> +4940123456  outgoing  desk  since "),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("+00:00 (1m"),
        "started 90 s before: {}",
        lines[1]
    );
    assert_eq!(lines[2], "backlog per target:");
    // Configured targets in configuration order; s2 waits for nas since its seal time, s1
    // for offsite since its own.
    assert!(
        lines[3].starts_with("  nas: 1 pending, 0 failed, oldest 2026-11-28 00:32:05+00:00 ("),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("  offsite: 1 pending, 0 failed, oldest 2026-11-26 09:01:15+00:00 ("),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5], "  archive: 0 pending, 0 failed");
    assert_eq!(lines[6], "last errors: 1");
    assert_eq!(
        lines[7],
        "  2026-11-26 09:03:20+00:00  s1 -> offsite  pending after 1 attempt: connection refused (127.0.0.1:2222)"
    );
    // Oldest last attempt first; the spool is named "local".
    assert_eq!(lines[8], "deletions pending: 2");
    assert_eq!(lines[9], "  s2 local: 1 attempt, last 2026-11-26 09:10:50+00:00: permission denied");
    assert_eq!(
        lines[10],
        "  s1 offsite: 2 attempts, last 2026-11-26 09:11:40+00:00: connection refused (127.0.0.1:2222)"
    );
    assert_eq!(
        lines[11],
        format!("recordings: 2, chain head #2 s2 ({:064x})", 2)
    );
}

#[test]
fn search_by_number_and_day_prints_sets_and_deliveries() {
    let inst = Install::new("UTC");
    fill(&inst.journal());
    common::add_operators(&inst.journal());
    let (code, out, err) = inst.crctl(&["search", "--operator", "aud", "--number", "+49 30 999888"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[0],
        "SET\tSTART\tDURATION\tCONFIGURATION\tCALLER -> CALLEE\tSEQ\tDELIVERY"
    );
    assert_eq!(
        lines[1],
        "s1\t2026-11-26 09:00:00+00:00\t0:01:15\tdesk\t+49 30 999888 -> 300\t#1\tnas:done:rec/s1 offsite:pending"
    );
    assert_eq!(
        lines[2],
        "s2\t2026-11-27 23:30:00+00:00\t1:02:05\tdesk\t030 999888 -> 300\t#2\tnas:pending"
    );

    // --exact: the national form is a different digit string.
    let (_, out, _) = inst.crctl(&["search", "--operator", "aud", "--number", "+4930999888", "--exact", "--json"]);
    let hits: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["set_id"], "s1");
    assert_eq!(hits[0]["duration_ms"], 75_000);
    assert_eq!(hits[0]["deliveries"][0]["remote_path"], "rec/s1");

    // A date as --to includes the whole day.
    let (_, out, _) = inst.crctl(&[
        "search",
        "--operator",
        "aud",
        "--from",
        "2026-11-26",
        "--to",
        "2026-11-26",
        "--json",
    ]);
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["set_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["s1"]);
    let (_, out, _) = inst.crctl(&["search", "--operator", "aud", "--from", "2026-11-27T00:00:00Z", "--json"]);
    assert_eq!(out.lines().count(), 1);

    let (code, out, err) = inst.crctl(&["search", "--operator", "aud", "--number", "777"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(err.contains("no recordings match"), "{err}");
    let (code, _, err) = inst.crctl(&["search", "--operator", "aud", "--from", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("--from \"yesterday\" is not a time"), "{err}");
}

#[test]
fn search_reads_dates_in_the_installation_time_zone() {
    // s2 starts 2026-11-27 23:30 UTC = 2026-11-28 00:30 in Berlin (UTC+1 in November).
    let inst = Install::new("Europe/Berlin");
    fill(&inst.journal());
    common::add_operators(&inst.journal());
    let ids = |args: &[&str]| -> Vec<String> {
        let (code, out, err) = inst.crctl(args);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["set_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(ids(&["search", "--operator", "aud", "--from", "2026-11-28", "--json"]), ["s2"]);
    assert_eq!(ids(&["search", "--operator", "aud", "--to", "2026-11-27", "--json"]), ["s1"]);
    let (_, out, _) = inst.crctl(&["search", "--operator", "aud", "--number", "030999888"]);
    assert!(out.contains("s2\t2026-11-28 00:30:00+01:00\t"), "{out}");
}

#[test]
fn policy_decide_follows_log_outs_made_at_run_time() {
    let inst = Install::new("UTC");
    let decide = |inst: &Install| {
        let (code, out, err) = inst.crctl(&["policy", "decide", "--call", r#"{"direction":"outgoing","caller":"201","callee":"+4930999888"}"#]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    inst.journal(); // the recorder created it
    assert_eq!(decide(&inst)["record"], true);
    assert_eq!(inst.crctl(&["group", "logout", "trading", "alice"]).0, 0);
    let d = decide(&inst);
    assert_eq!(d["record"], false, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("alice is logged out of group trading"), "{d}");
}
