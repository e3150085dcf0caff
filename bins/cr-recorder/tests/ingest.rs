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
    ingest_json(
        rec,
        serde_json::json!({
            "direction": "incoming",
            "caller": "+4930999888",
            "callee": callee,
            "legs": {"caller": legs.0, "callee": legs.1},
            "started_at": recent(),
            "call_id": format!("pbx-{callee}"),
        }),
    )
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
    let day = recent().format("%Y/%m/%d").to_string();
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
    assert_eq!(status, 422, "{body}");
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

// ----- issue 11: an ingest API that seals only what it should -----------------------------

/// 2 s of a 1 kHz tone as a PBX writes it, at `path`.
fn tone(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    run(Command::new("sox").args(["-D", "-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(path).args(["synth", "2", "sine", "1000"]));
}

/// A caller-only call (user bob, channels = "caller") with one leg.
fn ingest_leg(rec: &Recorder, leg: &std::path::Path, call_id: &str) -> (u16, serde_json::Value) {
    ingest_json(
        rec,
        serde_json::json!({
            "direction": "incoming", "caller": "+4930999888", "callee": "202",
            "legs": {"caller": leg}, "started_at": recent(), "call_id": call_id,
        }),
    )
}

fn sets_in_spool(inst: &Install) -> usize {
    sets_below(&inst.path("data/spool")).len()
}

fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

// Guards against: anyone who can reach the port sealing files (issue 11: no authentication).
#[test]
fn requests_without_a_token_or_with_a_wrong_one_get_401_and_are_counted() {
    if !have("sox") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let leg = inst.path("pbx/bob-r.wav");
    tone(&leg);
    let rec = inst.start();
    let body = serde_json::json!({
        "direction": "incoming", "caller": "+4930999888", "callee": "202",
        "legs": {"caller": leg}, "started_at": recent(), "call_id": "no-token",
    })
    .to_string();
    let wrong = "Bearer wrong-token-but-long-enough-0000";
    for (auth, challenge) in [(None, "Bearer realm=\"callrec\""), (Some(wrong), "Bearer realm=\"callrec\", error=\"invalid_token\"")] {
        for (method, path, b) in [
            ("POST", "/v1/recordings", body.as_str()),
            ("POST", "/v1/decide", r#"{"direction":"incoming","caller":"1","callee":"202"}"#),
            ("POST", "/v1/groups/g/members/alice/logout", ""),
            ("GET", "/v1/no-such-path", ""),
        ] {
            let (status, head, text) = rec.http_raw(method, path, b, auth).unwrap();
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {text}");
            assert_eq!(header_of(&head, "www-authenticate").as_deref(), Some(challenge), "{head}");
            assert!(serde_json::from_str::<serde_json::Value>(&text).unwrap()["error"].is_string(), "{text}");
        }
    }
    // Another scheme is no token either.
    let (status, _, _) = rec.http_raw("POST", "/v1/decide", "{}", Some(&format!("Basic {API_TOKEN}"))).unwrap();
    assert_eq!(status, 401);
    assert_eq!(sets_in_spool(&inst), 0, "nothing may be sealed without a token");
    // The right token: sealed.
    let (status, body) = ingest_leg(&rec, &leg, "with-token");
    assert_eq!(status, 201, "{body}");
    // Health and, on a loopback listener, metrics need no token; the refusals are counted.
    let (status, _, _) = rec.http_raw("GET", "/v1/health", "", None).unwrap();
    assert_eq!(status, 200);
    let (status, _, metrics) = rec.http_raw("GET", "/metrics", "", None).unwrap();
    assert_eq!(status, 200, "{metrics}");
    // 4 without a header, 1 with another scheme; 4 with a wrong token.
    assert!(metrics.contains("callrec_api_unauthorized_total{reason=\"missing\"} 5\n"), "{metrics}");
    assert!(metrics.contains("callrec_api_unauthorized_total{reason=\"wrong\"} 4\n"), "{metrics}");
    rec.stop();
    let log = recorder_log(&inst);
    assert!(log.contains("wrong bearer token refused"), "{log}");
    assert!(!log.contains("wrong-token-but-long-enough") && !log.contains(API_TOKEN), "a token leaked into the log:\n{log}");
}

// Guards against: /metrics (call counts, spool state) open to the network.
#[test]
fn metrics_need_a_token_when_the_api_listens_beyond_loopback() {
    let inst = Install::with_api(CONFIG, false, "listen = \"0.0.0.0:$API_PORT\"");
    let rec = inst.start();
    let (status, head, _) = rec.http_raw("GET", "/metrics", "", None).unwrap();
    assert_eq!(status, 401);
    assert!(header_of(&head, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{head}");
    let (status, metrics) = rec.http("GET", "/metrics", "");
    assert_eq!(status, 200);
    assert!(metrics.contains("callrec_api_unauthorized_total{reason=\"missing\"} 1\n"), "{metrics}");
    let (status, _, _) = rec.http_raw("GET", "/v1/health", "", None).unwrap();
    assert_eq!(status, 200, "health is for load balancers: no token");
}

// Guards against: sealing any file the recorder can read (issue 11: /etc/shadow, another
// user's 0600 file), and telling a caller which files exist (400 against 422).
#[test]
fn a_leg_outside_leg_dirs_is_refused_like_a_missing_one() {
    if !have("sox") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let outside = inst.path("elsewhere/real.wav");
    tone(&outside);
    let rec = inst.start();
    let mut answers = Vec::new();
    for (i, leg) in [outside.clone(), "/etc/passwd".into(), inst.path("pbx/missing.wav"), inst.path("elsewhere/missing.wav")]
        .iter()
        .enumerate()
    {
        let (status, body) = ingest_leg(&rec, leg, &format!("outside-{i}"));
        assert_eq!(status, 422, "{}: {body}", leg.display());
        assert_eq!(body["field"], "legs.caller", "{body}");
        assert!(!body.to_string().contains("root:"), "file content in the answer: {body}");
        answers.push(body["error"].clone());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "the answers tell the cases apart: {answers:?}");
    let (_, metrics) = rec.http("GET", "/metrics", "");
    assert!(metrics.contains("callrec_api_ingest_refused_total{reason=\"leg\"} 4\n"), "{metrics}");
    let (status, body) = ingest_leg(&rec, std::path::Path::new("pbx/relative.wav"), "relative");
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("absolute"), "{body}");
    assert_eq!(sets_in_spool(&inst), 0);
}

// Guards against: a symbolic link in leg_dirs that leads to a file elsewhere.
#[test]
fn a_leg_through_a_symlinked_file_is_refused() {
    if !have("sox") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let outside = inst.path("elsewhere/real.wav");
    let inside = inst.path("pbx/real.wav");
    tone(&outside);
    tone(&inside);
    std::os::unix::fs::symlink(&outside, inst.path("pbx/out-link.wav")).unwrap();
    // Even a link to a file that is itself acceptable: the link is not the PBX's file.
    std::os::unix::fs::symlink(&inside, inst.path("pbx/in-link.wav")).unwrap();
    let rec = inst.start();
    for name in ["out-link.wav", "in-link.wav"] {
        let (status, body) = ingest_leg(&rec, &inst.path(&format!("pbx/{name}")), name);
        assert_eq!(status, 422, "{name}: {body}");
        assert_eq!(body["field"], "legs.caller", "{body}");
    }
    assert_eq!(sets_in_spool(&inst), 0);
    let (status, body) = ingest_leg(&rec, &inside, "the-file-itself");
    assert_eq!(status, 201, "{body}");
}

// Guards against: a directory link inside leg_dirs that leads outside them.
#[test]
fn a_leg_through_a_symlinked_directory_pointing_outside_is_refused() {
    if !have("sox") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    tone(&inst.path("elsewhere/real.wav"));
    std::os::unix::fs::symlink(inst.path("elsewhere"), inst.path("pbx/sub")).unwrap();
    let rec = inst.start();
    for (i, p) in ["pbx/sub/real.wav", "pbx/../elsewhere/real.wav"].iter().enumerate() {
        let (status, body) = ingest_leg(&rec, &inst.path(p), &format!("dir-link-{i}"));
        assert_eq!(status, 422, "{p}: {body}");
    }
    assert_eq!(sets_in_spool(&inst), 0);
    rec.stop();
    assert!(recorder_log(&inst).contains("outside [pbx.api] leg_dirs"), "{}", recorder_log(&inst));
}

// Guards against: re-sealing a set already in the spool under other parties (issue 11).
#[test]
fn a_leg_inside_the_recorders_data_dir_is_refused() {
    if !have("sox") {
        return;
    }
    // leg_dirs holds the whole installation, data_dir included.
    let inst = Install::with_api(CONFIG, false, "leg_dirs = [\"$ROOT\"]");
    let leg = inst.path("pbx/bob-r.wav");
    tone(&leg);
    let rec = inst.start();
    let (status, body) = ingest_leg(&rec, &leg, "first");
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    let sealed = walk(&inst.path("data/spool")).into_iter().find(|p| p.file_name().unwrap().to_string_lossy() == format!("{id}.wav")).unwrap();
    let (status, body) = ingest_leg(&rec, &sealed, "resealed");
    assert_eq!(status, 422, "{body}");
    assert_eq!(sets_in_spool(&inst), 1);
    rec.stop();
    assert!(recorder_log(&inst).contains("recorder's own data directory"), "{}", recorder_log(&inst));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

// Guards against: a FIFO that blocks the recorder, a device read as audio.
#[test]
fn a_fifo_or_device_leg_is_refused() {
    if !have("mkfifo") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let fifo = inst.path("pbx/fifo.wav");
    run(Command::new("mkfifo").arg(&fifo));
    let mut legs = vec![fifo];
    let root = run(Command::new("id").arg("-u")).trim() == "0";
    if root {
        let zero = inst.path("pbx/zero.wav");
        run(Command::new("mknod").arg(&zero).args(["c", "1", "5"]));
        legs.push(zero);
    } else {
        eprintln!("NOTE: not root: the device case (mknod) is left out");
    }
    let rec = inst.start();
    for (i, leg) in legs.iter().enumerate() {
        let (status, body) = ingest_leg(&rec, leg, &format!("special-{i}"));
        assert_eq!(status, 422, "{}: {body}", leg.display());
    }
    rec.stop();
    assert!(recorder_log(&inst).contains("not a regular file"), "{}", recorder_log(&inst));
}

// Guards against: sealing a file in leg_dirs that the PBX did not write (another user's).
#[test]
fn a_leg_not_owned_by_leg_owner_is_refused() {
    if !have("sox") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    let me = probe.as_file().metadata().unwrap().uid();
    let inst = Install::with_api(CONFIG, false, &format!("leg_owner = {}", me + 1));
    let leg = inst.path("pbx/bob-r.wav");
    tone(&leg);
    let rec = inst.start();
    let (status, body) = ingest_leg(&rec, &leg, "not-mine");
    assert_eq!(status, 422, "{body}");
    assert_eq!(sets_in_spool(&inst), 0);
    rec.stop();
    assert!(recorder_log(&inst).contains("not by leg_owner"), "{}", recorder_log(&inst));
}

// Guards against: ingest by path when no directory was configured for it.
#[test]
fn without_leg_dirs_ingest_by_path_is_refused_saying_so() {
    if !have("sox") {
        return;
    }
    let inst = Install::with_api(CONFIG, false, "leg_dirs = []");
    let leg = inst.path("pbx/bob-r.wav");
    tone(&leg);
    let rec = inst.start();
    let (status, body) = ingest_leg(&rec, &leg, "no-dirs");
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("leg_dirs"), "{body}");
}

// Guards against: file content in an error (issue 11: `not a WAV file (starts with "root"…)`).
#[test]
fn a_leg_that_is_not_audio_is_refused_without_quoting_it() {
    let inst = Install::new(CONFIG, false);
    let leg = inst.path("pbx/notes.wav");
    std::fs::write(&leg, "root:$6$secretsalt$hash:19000:0:99999:7:::\n").unwrap();
    let rec = inst.start();
    let (status, body) = ingest_leg(&rec, &leg, "not-audio");
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not a WAV file"), "{body}");
    rec.stop();
    let log = recorder_log(&inst);
    assert!(!body.to_string().contains("root") && !log.contains("root:") && !log.contains("secretsalt"), "content leaked: {body}\n{log}");
}

// Guards against: sets dated in 2001, ending before they start, in the future, or an
// hour long from two seconds of audio (issue 11).
#[test]
fn impossible_times_are_refused_naming_the_field() {
    if !have("sox") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let leg = inst.path("pbx/bob-r.wav");
    tone(&leg);
    let rec = inst.start();
    let now = chrono::Utc::now();
    let h = chrono::Duration::hours(1);
    for (name, started, ended, field) in [
        ("2001", "2001-01-01T00:00:00Z".parse().unwrap(), None, "started_at"),
        ("future", now + h, None, "started_at"),
        ("end before start", now - h, Some(now - h - h), "ended_at"),
        ("end in the future", now - chrono::Duration::seconds(2), Some(now + h), "ended_at"),
        ("an hour from 2 s of audio", now - h - h, Some(now - h), "ended_at"),
    ] {
        let mut body = serde_json::json!({
            "direction": "incoming", "caller": "+4930999888", "callee": "202",
            "legs": {"caller": leg}, "started_at": started, "call_id": name,
        });
        if let Some(e) = ended {
            body["ended_at"] = serde_json::json!(e);
        }
        let (status, answer) = ingest_json(&rec, body);
        assert_eq!(status, 422, "{name}: {answer}");
        assert_eq!(answer["field"], field, "{name}: {answer}");
        assert!(answer["error"].as_str().unwrap().starts_with(&format!("{field}: ")), "{name}: {answer}");
    }
    assert_eq!(sets_in_spool(&inst), 0);
    let (_, metrics) = rec.http("GET", "/metrics", "");
    assert!(metrics.contains("callrec_api_ingest_refused_total{reason=\"time\"} 5\n"), "{metrics}");
    // Consistent times pass.
    let body = serde_json::json!({
        "direction": "incoming", "caller": "+4930999888", "callee": "202", "legs": {"caller": leg},
        "started_at": now - chrono::Duration::seconds(60), "ended_at": now - chrono::Duration::seconds(58), "call_id": "fine",
    });
    let (status, answer) = ingest_json(&rec, body);
    assert_eq!(status, 201, "{answer}");
}

// Guards against: one call sealed twice, as two sets (issue 11).
#[test]
fn the_same_call_id_twice_is_refused_with_409() {
    if !have("sox") {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let leg = inst.path("pbx/bob-r.wav");
    tone(&leg);
    let rec = inst.start();
    let (status, first) = ingest_leg(&rec, &leg, "1732609800.42");
    assert_eq!(status, 201, "{first}");
    let (status, body) = ingest_leg(&rec, &leg, "1732609800.42");
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("1732609800.42"), "{body}");
    assert_eq!(body["set"], first["id"], "{body}");
    let (_, metrics) = rec.http("GET", "/metrics", "");
    assert!(metrics.contains("callrec_api_ingest_refused_total{reason=\"duplicate\"} 1\n"), "{metrics}");
    assert_eq!(sets_in_spool(&inst), 1);
    // After a restart too: the journal knows it.
    rec.stop();
    let rec = inst.start();
    let (status, body) = ingest_leg(&rec, &leg, "1732609800.42");
    assert_eq!(status, 409, "{body}");
}

// Guards against: a failed ingest leaving the call "active" in the journal for good and an
// empty spool/.incoming/<id> (issue 11).
#[test]
fn a_failed_ingest_leaves_nothing_behind() {
    use cr_audio::{LegOptions, LegWriter};
    let inst = Install::new(CONFIG, false);
    // Two leg files (with their start time inside) started 7 h apart: every check up front
    // passes (each is a fine WAV of 1 s), and finalize refuses to combine them — a failure
    // after the call was journaled and its staging directory made.
    let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(7 * 3600 + 60);
    let mut paths = Vec::new();
    for (name, start) in [("a.wav", t0), ("b.wav", t0 + std::time::Duration::from_secs(7 * 3600))] {
        let p = inst.path(&format!("pbx/{name}"));
        let mut w = LegWriter::create(&p, LegOptions::new(8000, start)).unwrap();
        w.push_pcm(0, &[1000i16; 8000]).unwrap();
        w.finish().unwrap();
        paths.push(p);
    }
    let rec = inst.start();
    let body = |legs: (&std::path::Path, &std::path::Path)| {
        serde_json::json!({
            "direction": "incoming", "caller": "+4930999888", "callee": "201",
            "legs": {"caller": legs.0, "callee": legs.1}, "started_at": recent(), "call_id": "fails-late",
        })
    };
    let (status, answer) = ingest_json(&rec, body((&paths[0], &paths[1])));
    assert_eq!(status, 422, "{answer}");
    assert!(!answer.to_string().contains(&inst.dir.path().display().to_string()), "a path in the answer: {answer}");
    let incoming = inst.path("data/spool/.incoming");
    let left: Vec<_> = std::fs::read_dir(&incoming).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    let journal = cr_journal::Journal::open_sqlite(&inst.path("data/journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
    assert!(journal.open_calls().unwrap().is_empty(), "a failed call is still active: {:?}", journal.open_calls().unwrap());
    // The claim is released: the same call id records once the legs are fine.
    let (status, answer) = ingest_json(&rec, body((&paths[0], &paths[0])));
    assert_eq!(status, 201, "{answer}");
}

/// True once the server closed `s` (EOF or reset); false if it still waits after `wait`.
fn closed_by_server(s: &mut std::net::TcpStream, wait: std::time::Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. a 408 before the close
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

// Guards against: slowloris — connections that send nothing, or a header byte now and then,
// held open for good (issue 11: 500 half-open connections stayed 45 s).
#[test]
fn idle_and_trickling_connections_are_closed_after_header_timeout() {
    use std::io::Write;
    let inst = Install::with_api(CONFIG, false, "header_timeout = \"1s\"");
    let rec = inst.start();
    // Sends nothing.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", inst.api_port)).unwrap();
    assert!(closed_by_server(&mut idle, std::time::Duration::from_secs(60)), "an idle connection stayed open");
    // Sends a header byte every 200 ms.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", inst.api_port)).unwrap();
    let request = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for b in request.iter().cycle().take(3000) {
        if slow.write_all(&[*b]).is_err() || closed_by_server(&mut slow, std::time::Duration::from_millis(200)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling connection stayed open");
    // One request answered, then silence on the kept-alive connection.
    let mut kept = std::net::TcpStream::connect(("127.0.0.1", inst.api_port)).unwrap();
    kept.write_all(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    std::io::Read::read_exact(&mut kept, &mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(closed_by_server(&mut kept, std::time::Duration::from_secs(60)), "an idle keep-alive connection stayed open");
    // The server still answers.
    assert_eq!(rec.http("GET", "/v1/health", "").0, 200);
}

// Guards against: unbounded connections (descriptor exhaustion through the API).
#[test]
fn connections_beyond_max_connections_wait_until_a_slot_is_free() {
    use std::io::{Read, Write};
    let inst = Install::with_api(CONFIG, false, "max_connections = 2\nheader_timeout = \"120s\"");
    let rec = inst.start();
    let held: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect(("127.0.0.1", inst.api_port)).unwrap()).collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut third = std::net::TcpStream::connect(("127.0.0.1", inst.api_port)).unwrap();
    third.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    third.set_read_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 64];
    assert!(third.read(&mut buf).is_err(), "a third connection was served beside two held ones");
    drop(held);
    third.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut resp = String::new();
    third.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    drop(rec);
}

// Guards against: slowloris on the body — headers at once, then a body byte now and then.
#[test]
fn a_body_that_trickles_past_body_timeout_gets_408() {
    use std::io::{Read, Write};
    let inst = Install::with_api(CONFIG, false, "body_timeout = \"1s\"");
    let rec = inst.start();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", inst.api_port)).unwrap();
    write!(
        s,
        "POST /v1/decide HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_TOKEN}\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    for _ in 0..3000 {
        let _ = s.write_all(b" ");
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    drop(rec);
}

// Guards against: a recorder that starts with its API open to the network (issue 11).
#[test]
fn the_recorder_refuses_to_start_with_a_network_api_without_tokens() {
    let inst = Install::with_api(CONFIG, false, "listen = \"0.0.0.0:$API_PORT\"");
    // The installation's token variable is left unset: no token at all.
    let text = std::fs::read_to_string(&inst.config).unwrap().replace("token_env = \"CR_E2E_API_TOKENS\"\n", "");
    std::fs::write(&inst.config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cr-recorder"))
        .arg("--config")
        .arg(&inst.config)
        .env("CR_E2E_PW", PASSWORD)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pbx.api.listen") && err.contains("bearer token"), "{err}");
}
