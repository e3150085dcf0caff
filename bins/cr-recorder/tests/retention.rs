//! Retention fixed at sealing: a recorded call's signed metadata and its journal row carry
//! the expiry computed from the call's start — its configuration's period, else
//! `[retention] default` — with GNU date as the independent calendar.

mod support;

use std::process::Command;

use support::*;

const CONFIG: &str = r#"
[[users]]
id = "alice"
numbers = ["201"]
[[users]]
id = "bob"
numbers = ["202"]

[[recordings]]
name = "five-years"
users = ["alice"]
retention = "5y"
targets = ["archive"]
[[recordings]]
name = "by-default"
users = ["bob"]
targets = ["archive"]

[[targets]]
name = "archive"
kind = "folder"
path = "$ROOT/archive"

[retention]
default = "30d"
"#;

/// `start` plus `what` ("5 years") by GNU date, in the metadata's form.
fn gnu_date(start: chrono::DateTime<chrono::Utc>, what: &str) -> String {
    run(Command::new("date").args(["-u", "-d", &format!("{} + {what}", start.format("%Y-%m-%d %H:%M:%S UTC")), "+%Y-%m-%dT%H:%M:%S.000Z"]))
        .trim()
        .to_owned()
}

#[test]
fn the_expiry_is_sealed_into_metadata_and_journal_from_the_calls_start() {
    if !(have("sox") && have("date")) {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let leg = inst.path("pbx/leg.wav");
    run(Command::new("sox").args(["-D", "-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(&leg).args(["synth", "1", "sine", "440"]));
    // Ten minutes ago, whole seconds: the API refuses old starts (`max_age`).
    let start = {
        use chrono::Timelike;
        (chrono::Utc::now() - chrono::Duration::minutes(10)).with_nanosecond(0).unwrap()
    };
    let rec = inst.start();
    let mut ids = Vec::new();
    for callee in ["201", "202"] {
        let body = serde_json::json!({
            "direction": "incoming", "caller": "+4930999888", "callee": callee,
            "legs": {"caller": leg, "callee": leg}, "started_at": start, "call_id": format!("ret-{callee}"),
        });
        let (status, text) = rec.http("POST", "/v1/recordings", &body.to_string());
        assert_eq!(status, 201, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    rec.stop();
    let journal =
        cr_journal::Journal::open_sqlite(&inst.path("data/journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
    for (id, period) in ids.iter().zip(["5 years", "30 days"]) {
        let want = gnu_date(start, period);
        let r = journal.recording(id).unwrap().unwrap();
        let stored = r.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        assert_eq!(stored.as_deref(), Some(want.as_str()), "{id}: journal");
        let dir = std::path::PathBuf::from(r.location.unwrap());
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap();
        assert_eq!(meta["expires_at"], want.as_str(), "{id}: signed metadata");
        // The metadata is covered by the signed checksum file.
        let sums = std::fs::read_to_string(dir.join(format!("{id}.sha256"))).unwrap();
        assert!(sums.contains(&format!("{id}.json")), "{sums}");
    }
}
