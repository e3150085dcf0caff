//! Fixtures shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

pub mod chain;
pub mod decision_log;
pub mod holds;
pub mod lifecycle;
pub mod pg_cluster;
pub mod schema_v1;
pub mod queries;
pub mod reconcile;
pub mod quality;
pub mod retention;
pub mod totp;
pub mod trail;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cr_journal::{CallId, Direction, FileEntry, Journal, NewCall, NewRecording};

/// 2026-11-26 09:00:00 UTC plus `secs`.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
        .single()
        .expect("valid date")
        + Duration::seconds(secs)
}

/// The kinds of the journal's audit events, oldest first.
pub fn audit_kinds(j: &Journal) -> Vec<String> {
    j.audit_events(0, 1000)
        .unwrap()
        .iter()
        .map(|e| e.kind.to_string())
        .collect()
}

/// A distinct 64-hex-digit value for `n`.
pub fn sha(n: u64) -> String {
    format!("{n:016x}").repeat(4)
}

pub fn call(caller: &str, callee: &str, started: DateTime<Utc>, record: bool) -> NewCall {
    NewCall {
        pbx_call_id: format!("{caller}->{callee}@{}", started.timestamp()),
        direction: Direction::Incoming,
        caller: caller.to_owned(),
        callee: callee.to_owned(),
        diversions: vec![],
        started_at: started,
        record,
        configuration: record.then(|| "desk".to_owned()),
        reason: if record {
            "group desk".to_owned()
        } else {
            "no configuration applies".to_owned()
        },
    }
}

pub fn recording(
    set_id: &str,
    call: CallId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    targets: &[&str],
) -> NewRecording {
    NewRecording {
        set_id: set_id.to_owned(),
        call,
        configuration: "desk".to_owned(),
        started_at: start,
        ended_at: end,
        channels: "stereo".to_owned(),
        files: vec![
            FileEntry {
                name: format!("{set_id}.json"),
                size: 512,
                sha256: sha(1),
            },
            FileEntry {
                name: format!("{set_id}.wav"),
                size: 160_044,
                sha256: sha(2),
            },
        ],
        cert_fingerprint: sha(3),
        flags: vec![],
        location: format!("/spool/{set_id}"),
        targets: targets.iter().map(|s| (*s).to_owned()).collect(),
        expires_at: None,
    }
}

/// Records a call and seals a set for it with checksum hash `sha(seq_hint)`.
pub fn seal(
    j: &Journal,
    set_id: &str,
    caller: &str,
    callee: &str,
    start: i64,
    secs: i64,
    targets: &[&str],
) -> CallId {
    let c = j
        .record_call(&call(caller, callee, t(start), true))
        .expect("record call");
    j.end_call(c, t(start + secs)).expect("end call");
    let res = j.reserve_link(set_id, t(start + secs)).expect("reserve");
    let seq = res.link().seq;
    res.commit(
        &sha(1000 + seq),
        &recording(set_id, c, t(start), t(start + secs), targets),
    )
    .expect("commit");
    c
}
