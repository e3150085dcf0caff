//! End to end through the ingest API with leg files as a PBX writes them (Asterisk
//! MixMonitor r()/t(): 8 kHz mono 16-bit WAV, made here by sox): every channel mode lands
//! on its folder targets, sox judges the audio, shasum the checksums, and the journal holds
//! the call, the decision, the set's hashes.

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
[[users]]
id = "carol"
numbers = ["203"]
[[users]]
id = "dave"
numbers = ["204"]

[[recordings]]
name = "stereo-cfg"
users = ["alice"]
channels = "stereo"
targets = ["archive"]
[[recordings]]
name = "caller-cfg"
users = ["bob"]
channels = "caller"
targets = ["archive"]
[[recordings]]
name = "callee-cfg"
users = ["carol"]
channels = "callee"
targets = ["offsite"]
[[recordings]]
name = "separate-cfg"
users = ["dave"]
channels = "separate"
targets = ["archive", "offsite"]

[[targets]]
name = "archive"
kind = "folder"
path = "$ROOT/archive"
directory = "$Y/$M/$D"
[[targets]]
name = "offsite"
kind = "folder"
path = "$ROOT/offsite"
directory = "$Y/$M/$D"
"#;

/// Caller: 2 s of 1 kHz at amplitude 0.5; callee: 3 s of 300 Hz at 0.05.
fn make_legs(inst: &Install) -> (std::path::PathBuf, std::path::PathBuf) {
    let caller = inst.path("pbx/call-r.wav");
    let callee = inst.path("pbx/call-t.wav");
    std::fs::create_dir_all(inst.path("pbx")).unwrap();
    for (file, secs, freq, vol) in [(&caller, "2", "1000", "0.5"), (&callee, "3", "300", "0.05")] {
        run(Command::new("sox")
            .args(["-D", "-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(file)
            .args(["synth", secs, "sine", freq, "vol", vol]));
    }
    (caller, callee)
}

fn ingest(rec: &Recorder, callee: &str, legs: (&std::path::Path, &std::path::Path)) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "direction": "incoming",
        "caller": "+4930999888",
        "callee": callee,
        "legs": {"caller": legs.0, "callee": legs.1},
        "started_at": "2026-11-26T09:30:00Z",
        "call_id": format!("pbx-{callee}"),
    });
    let (status, text) = rec.http("POST", "/v1/recordings", &body.to_string());
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[test]
fn each_channel_mode_lands_on_its_targets_and_the_journal_holds_it() {
    if !(have("sox") && have("soxi") && have("shasum")) {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let (caller_leg, callee_leg) = make_legs(&inst);
    let rec = inst.start();
    let mut ids = std::collections::HashMap::new();
    for callee in ["201", "202", "203", "204"] {
        let (status, body) = ingest(&rec, callee, (&caller_leg, &callee_leg));
        assert_eq!(status, 201, "{callee}: {body}");
        ids.insert(callee, body["id"].as_str().unwrap().to_owned());
    }
    // The PBX's files are never deleted by us.
    assert!(caller_leg.exists() && callee_leg.exists());
    let (_, metrics) = rec.http("GET", "/metrics", "");
    assert!(metrics.contains("callrec_recorded_total 4"), "{metrics}");
    rec.stop();
    // Phone numbers are personal data: the INFO log shows only their last digits.
    let log = recorder_log(&inst);
    assert!(log.contains("recording") && log.contains("***888"), "{log}");
    assert!(!log.contains("4930999888"), "a phone number leaked into the log:\n{log}");

    // 201, 202 -> archive; 203 -> offsite; 204 -> archive and offsite.
    assert_eq!(inst.deliver(&[("archive", "archive"), ("offsite", "offsite")]), 5);
    let day = "2026/11/26";
    let archive = inst.path(&format!("archive/{day}"));
    let offsite = inst.path(&format!("offsite/{day}"));

    // stereo: left = caller (loud 1 kHz, 2 s), right = callee (quiet 300 Hz, 3 s), 3 s long.
    let f = archive.join(format!("{}.wav", ids["201"]));
    assert_eq!(soxi(&f), (2, 24_000, 8000));
    let (left, right) = (rms_db(&f, 1), rms_db(&f, 2));
    // A sine of amplitude a has an RMS of a/√2: 0.5 → -9.0 dBFS, 0.05 → -29.0 dBFS. The
    // caller's 2 s are padded to 3 s with silence: 10·log10(2/3) = -1.76 dB more.
    assert!((left - -10.76).abs() < 1.0, "left {left} dB");
    assert!((right - -29.0).abs() < 1.0, "right {right} dB");
    assert!(left > right + 12.0, "caller must be left: L {left} dB, R {right} dB");
    // caller only: 2 s mono; callee only: 3 s mono, and only on its own target.
    let f = archive.join(format!("{}.wav", ids["202"]));
    assert_eq!(soxi(&f), (1, 16_000, 8000));
    assert!(rms_db(&f, 1) > -12.0);
    let f = offsite.join(format!("{}.wav", ids["203"]));
    assert_eq!(soxi(&f), (1, 24_000, 8000));
    assert!(rms_db(&f, 1) < -25.0);
    assert!(!archive.join(format!("{}.wav", ids["203"])).exists());
    // separate: two files, on both targets.
    for dir in [&archive, &offsite] {
        assert_eq!(soxi(&dir.join(format!("{}-caller.wav", ids["204"]))).0, 1);
        assert_eq!(soxi(&dir.join(format!("{}-callee.wav", ids["204"]))).1, 24_000);
    }
    for dir in [&archive, &offsite] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "sha256") {
                let out = run(Command::new("shasum").args(["-a", "256", "-c"]).arg(&p).current_dir(dir));
                assert!(!out.contains("FAILED"), "{out}");
            }
        }
    }
    // The journal: the call with its decision, and each set's files with their hashes.
    let journal = cr_journal::Journal::open_sqlite(&inst.path("data/journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
    for (callee, id) in &ids {
        let r = journal.recording(id).unwrap().unwrap_or_else(|| panic!("{id} not in the journal"));
        let call = journal.call(r.call).unwrap().unwrap();
        assert!(call.record);
        assert_eq!(call.callee, *callee);
        assert!(call.reason.contains("user"), "{}", call.reason);
        let dir = if *callee == "203" { &offsite } else { &archive };
        for f in &r.files {
            let out = run(Command::new("sha256sum").arg(dir.join(&f.name)));
            assert_eq!(out.split_whitespace().next().unwrap(), f.sha256, "{}", f.name);
        }
    }
    // Four sets, chained 1..4.
    let mut seqs: Vec<u64> = ids.values().map(|id| journal.recording(id).unwrap().unwrap().chain.seq).collect();
    seqs.sort();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

#[test]
fn bad_requests_get_a_json_error_and_lose_nothing() {
    if !have("sox") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let (caller_leg, callee_leg) = make_legs(&inst);
    let rec = inst.start();
    // Not recorded: 409 with the reason.
    let (status, body) = ingest(&rec, "999", (&caller_leg, &callee_leg));
    assert_eq!(status, 409, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("999"), "{body}");
    // Not JSON, wrong field type, unknown field, missing leg file, unreadable audio.
    let (status, body) = rec.http("POST", "/v1/recordings", "{not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (status, body) = rec.http("POST", "/v1/recordings", r#"{"direction":"incoming","caller":1,"callee":"201","legs":{},"started_at":"2026-11-26T09:30:00Z"}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = rec.http("POST", "/v1/recordings", r#"{"direction":"sideways","caller":"1","callee":"201","legs":{},"started_at":"x"}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = ingest(&rec, "201", (&inst.path("pbx/missing.wav"), &callee_leg));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("legs.caller"), "{body}");
    let not_audio = inst.path("pbx/notes.wav");
    std::fs::write(&not_audio, "this is not a WAV file").unwrap();
    let (status, body) = ingest(&rec, "201", (&not_audio, &callee_leg));
    assert_eq!(status, 422, "{body}");
    assert!(not_audio.exists() && callee_leg.exists(), "leg files must never be deleted");
    // The failed call released its claim: the same call id records once the audio is fine.
    let (status, body) = ingest(&rec, "201", (&caller_leg, &callee_leg));
    assert_eq!(status, 201, "{body}");
    // Decisions and membership.
    let (status, body) = rec.http("POST", "/v1/decide", r#"{"direction":"incoming","caller":"+4930999888","callee":"202"}"#);
    assert_eq!(status, 200);
    let d: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["configuration"], "caller-cfg");
    assert_eq!(d["channels"], "caller");
    let (status, _) = rec.http("POST", "/v1/groups/nogroup/members/alice/logout", "");
    assert_eq!(status, 404);
    let (status, _) = rec.http("GET", "/v1/health", "");
    assert_eq!(status, 200);
}

fn recorder_log(inst: &Install) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(inst.dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("recorder-") {
            all.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    all
}
