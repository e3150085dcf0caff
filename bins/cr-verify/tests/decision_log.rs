//! cr-verify on `decision-log` sets (issue 15): a log whose entries agree with its metadata
//! is `OK … (decision log: …)`; one sealed with entries that contradict it, a failed entry
//! without its cause, or entries out of order fail naming the file and line — although
//! their seals verify. The sets are written and sealed by the test itself (JSON by hand),
//! each in its own folder, the first of a chain.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn declined(n: u64) -> String {
    format!(
        r#"{{"format":1,"entry":{n},"kind":"declined","at":"2026-12-04T09:12:30Z","node":"pbx-01","source":"api","direction":"outgoing","caller":"202","callee":"+4930999888","rule":"no rule matched","reason":"outgoing call: user bob is logged out of group trading","memberships":[{{"group":"trading","user":"bob","active":false,"changed_at":"2026-12-04T09:12:00Z","changed_by":"alice"}}]}}"#
    )
}

fn failed(n: u64, cause: &str) -> String {
    let cause = if cause.is_empty() { String::new() } else { format!(r#","cause":"{cause}""#) };
    format!(
        r#"{{"format":1,"entry":{n},"kind":"failed","at":"2026-12-04T09:13:00Z","node":"pbx-01","source":"siprec","direction":"incoming","caller":"+4930999888","callee":"300","rule":"trading-desk","reason":"incoming call to group trading (300)","on_failure":"block"{cause}}}"#
    )
}

/// Seals a decision log with `lines` and metadata claiming `(entries, declined, failed)`
/// and `first..=last` into `dir`. Returns the set id.
fn seal_log(dir: &Path, who: &cr_sign::Identity, lines: &[String], counts: (u64, u64, u64), range: (u64, u64)) -> String {
    let id = "20261204T100000000Z-0a0b0c0d";
    std::fs::create_dir_all(dir).unwrap();
    let jsonl = dir.join(format!("{id}.decisions.jsonl"));
    std::fs::write(&jsonl, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let meta = serde_json::json!({
        "format": 1, "kind": "decision-log", "id": id, "module_id": "pbx-01",
        "chain": {"prev_sha256": GENESIS, "seq": 1},
        "certificate_sha256": who.certificate().fingerprint_sha256(),
        "entries_file": format!("{id}.decisions.jsonl"), "entries": counts.0,
        "first_entry": range.0, "last_entry": range.1, "declined": counts.1, "failed": counts.2,
        "nodes": ["pbx-01"], "sealed_at": "2026-12-04T10:00:00Z",
    });
    let meta_path = dir.join(format!("{id}.json"));
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
    cr_sign::seal(id, &[jsonl, meta_path], who).unwrap();
    id.to_owned()
}

fn verify(cert: &Path, dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-verify")).arg("--cert").arg(cert).arg(dir).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_decision_log_verifies_only_when_its_entries_agree_with_its_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let who = cr_sign::Identity::generate("pbx-01", chrono::Utc::now()).unwrap();
    let cert = tmp.path().join("cert.pem");
    std::fs::write(&cert, who.certificate().pem()).unwrap();

    let good = tmp.path().join("good");
    let id = seal_log(&good, &who, &[declined(17), failed(19, "session ended without media (MediaFailed)")], (2, 1, 1), (17, 19));
    let (code, out) = verify(&cert, &good);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("OK {id} (decision log: 2 entries, 1 declined, 1 failed)")), "{out}");

    // Signed, but one entry fewer than the metadata says (an entry dropped before sealing).
    let short = tmp.path().join("short");
    seal_log(&short, &who, &[declined(17)], (2, 1, 1), (17, 19));
    let (code, out) = verify(&cert, &short);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("FAILED {id}: {id}.decisions.jsonl: holds 1 entries")), "{out}");

    // A failure must say why.
    let no_cause = tmp.path().join("no-cause");
    seal_log(&no_cause, &who, &[declined(17), failed(19, "")], (2, 1, 1), (17, 19));
    let (code, out) = verify(&cert, &no_cause);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{id}.decisions.jsonl:2: failed entry 19 names no cause")), "{out}");

    // An entry twice (or out of order).
    let twice = tmp.path().join("twice");
    seal_log(&twice, &who, &[declined(17), declined(17)], (2, 2, 0), (17, 17));
    let (code, out) = verify(&cert, &twice);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{id}.decisions.jsonl:2: entry 17 is out of order")), "{out}");

    // The seal still decides first: an entries file changed after sealing fails as any set.
    let edited = good.join(format!("{id}.decisions.jsonl"));
    let text = std::fs::read_to_string(&edited).unwrap().replace("no rule matched", "no rule matchedX");
    std::fs::write(&edited, text).unwrap();
    let (code, out) = verify(&cert, &good);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("FAILED {id}")), "{out}");
}
