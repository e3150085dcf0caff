//! crctl export as an operator runs it: sets sealed with the installation's key (made by
//! `crctl keys init`) and recorded in the journal as the recorder does, some still in the
//! spool, some only in a folder target; the package checked with bash, sha256sum and openssl
//! after being copied elsewhere.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod common;
#[path = "../../../crates/cr-storage/tests/graph_fake/mod.rs"]
mod graph_fake;

use chrono::Duration;
use cr_journal::AuditKind;

use common::keyed::{Install, have, t0};

fn run(dir: &Path, cmd: &str) -> (bool, String) {
    let out = Command::new("bash").arg("-c").arg(cmd).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_partys_sets_from_spool_and_folder_target_make_a_package_that_stock_tools_verify() {
    if !(have("openssl") && have("sha256sum") && have("base64")) {
        return;
    }
    let inst = Install::new("");
    let j = inst.journal();
    inst.seal(&j, "set-0001", "+49 30 999888", "300", t0());
    inst.seal(&j, "set-0002", "201", "030 999888", t0() + Duration::hours(1));
    inst.seal(&j, "set-0003", "+49 40 111222", "300", t0() + Duration::hours(2));
    // Both in one folder of the target: only the party's set is read from it.
    inst.deliver_to_nas(&j, "set-0002");
    inst.deliver_to_nas(&j, "set-0003");
    let out = inst.dir.path().join("REQ-42");
    let (code, stdout, err) =
        inst.crctl(&["export", "--party", "004930999888", "--request", "REQ-42", "--out", out.to_str().unwrap(), "--operator", "aud"]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("EXPORTED set-0001 (2026-11-26 10:00:00+01:00, +49 30 999888 -> 300, 0:01:35) from spool "), "{stdout}");
    assert!(stdout.contains("EXPORTED set-0002") && stdout.contains("from target nas (folder)"), "{stdout}");
    assert!(!stdout.contains("set-0003"), "{stdout}");
    assert!(stdout.contains("2 set(s) exported, 0 not exported"), "{stdout}");
    // Handed over: copied elsewhere, checked there with stock tools.
    let copy = inst.dir.path().join("received");
    std::fs::create_dir(&copy).unwrap();
    assert!(run(&out, &format!("cp -a . '{}'", copy.display())).0);
    let (ok, text) = run(&copy, "bash verify.sh");
    assert!(ok && text.contains("2 set(s): all OK"), "{text}");
    let (ok, text) = run(&copy, "sha256sum -c SHA256SUMS");
    assert!(ok && text.contains("sets/set-0002/set-0002.wav: OK"), "{text}");
    let (ok, text) = run(
        &copy,
        "openssl dgst -sha256 -verify <(openssl x509 -pubkey -in cert.pem -noout) -signature <(base64 -d SHA256SUMS.SHA256withRSA.sig) SHA256SUMS",
    );
    assert!(ok && text.contains("Verified OK"), "{text}");
    // The package's certificate is the installation's (as `crctl keys init` wrote it).
    assert_eq!(std::fs::read(copy.join("cert.pem")).unwrap(), std::fs::read(inst.data.join("cert.pem")).unwrap());
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["request"]["reference"], "REQ-42");
    assert_eq!(m["request"]["operator"], "aud");
    assert_eq!(m["sets"][1]["chain_seq"], 2);
    assert_eq!(m["sets"][1]["callee"], "030 999888");
    // One flipped byte in a WAV is caught.
    let wav = copy.join("sets/set-0001/set-0001.wav");
    let mut bytes = std::fs::read(&wav).unwrap();
    bytes[100] ^= 0x80;
    std::fs::write(&wav, bytes).unwrap();
    let (ok, text) = run(&copy, "bash verify.sh");
    assert!(!ok && text.contains("FAILED sets/set-0001/set-0001.wav: FAILED"), "{text}");
    // The audit trail names the request, the party and the sets.
    let events = j.audit_events(0, 1000).unwrap();
    let e = events.iter().find(|e| e.kind == AuditKind::Exported).expect("an exported event");
    assert_eq!(e.actor.as_deref(), Some("aud"));
    assert_eq!(e.details["request"], "REQ-42");
    assert_eq!(e.details["party"], "004930999888");
    assert_eq!(e.details["exported"], serde_json::json!(["set-0001", "set-0002"]));
}

#[test]
fn a_set_broken_before_export_is_reported_not_packaged_and_the_exit_is_1() {
    let inst = Install::new("");
    let j = inst.journal();
    inst.seal(&j, "good-1", "+49 30 999888", "300", t0());
    let bad = inst.seal(&j, "bad-2", "+49 30 999888", "300", t0() + Duration::hours(1));
    std::fs::write(bad.join("bad-2.sha256.SHA256withRSA.sig"), "AAAA").unwrap();
    let out = inst.dir.path().join("pkg");
    let (code, stdout, err) = inst.crctl(&["export", "--operator", "aud", "--party", "030999888", "--request", "R-7", "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "{stdout}{err}");
    let o: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(o["exported"], serde_json::json!(["good-1"]));
    assert_eq!(o["not_exported"][0]["id"], "bad-2");
    assert!(o["not_exported"][0]["problems"][0].as_str().unwrap().contains("bad-2.sha256: signature does not verify"), "{o}");
    assert!(out.join("sets/good-1").is_dir() && !out.join("sets/bad-2").exists());
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["not_exported"][0]["id"], "bad-2");
    assert!(cr_export::verify_package(&out, inst.identity.certificate()).is_ok());
}

#[test]
fn an_unknown_party_exports_nothing_with_exit_1() {
    let inst = Install::new("");
    let j = inst.journal();
    inst.seal(&j, "set-1", "+49 30 999888", "300", t0());
    let out = inst.dir.path().join("pkg");
    let (code, stdout, err) = inst.crctl(&["export", "--operator", "aud", "--party", "+1 555 0100", "--request", "R-1", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(err.contains("no recordings of party +1 555 0100 match: nothing exported"), "{err}");
    assert!(!out.exists());
}

#[test]
fn an_out_directory_that_is_not_empty_is_refused_with_exit_2_and_left_unchanged() {
    let inst = Install::new("");
    let j = inst.journal();
    inst.seal(&j, "set-1", "+49 30 999888", "300", t0());
    let out = inst.dir.path().join("pkg");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("letter.pdf"), "keep").unwrap();
    let (code, _, err) = inst.crctl(&["export", "--operator", "aud", "--party", "030999888", "--request", "R-1", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists and is not empty"), "{err}");
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["letter.pdf"]);
    assert!(!std::fs::read_dir(inst.dir.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("partial")));
}

// Guards against: a target that cannot be reached losing the set silently or stopping the
// export of the others.
#[test]
fn a_set_only_on_an_unreachable_sftp_target_is_named_as_not_exported_and_the_rest_is_packaged() {
    let inst = Install::new("");
    let j = inst.journal();
    inst.seal(&j, "set-1", "+49 30 999888", "300", t0());
    let spool = inst.seal(&j, "set-2", "+49 30 999888", "300", t0() + Duration::hours(1));
    let dir = ["rec".to_owned(), "2026".to_owned(), "11".to_owned(), "26".to_owned()];
    j.upload_done("set-2", "offsite", "sftp://backup.example.invalid:22/rec/2026/11/26", &dir, t0()).unwrap();
    std::fs::remove_dir_all(&spool).unwrap();
    j.set_deleted("set-2", t0(), "cr-uploader", "delivered").unwrap();
    let out = inst.dir.path().join("pkg");
    let (code, stdout, err) = inst.crctl(&["export", "--operator", "aud", "--party", "030999888", "--request", "R-1", "--out", out.to_str().unwrap(), "--no-progress"]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(stdout.contains("EXPORTED set-1"), "{stdout}");
    let failed = stdout.lines().find(|l| l.starts_with("FAILED set-2: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(failed.contains("target offsite (sftp rec/2026/11/26)"), "{failed}");
    assert!(failed.contains("backup.example.invalid"), "{failed}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["not_exported"][0]["id"], "set-2", "{manifest}");
    assert!(!out.join("set-2").exists());
}

#[test]
fn bad_times_and_an_empty_request_are_exit_2() {
    let inst = Install::new("");
    let out = inst.dir.path().join("pkg");
    let o = out.to_str().unwrap();
    let (code, _, err) = inst.crctl(&["export", "--operator", "aud", "--party", "1", "--request", "R", "--out", o, "--from", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--from \"yesterday\" is not a time"), "{err}");
    let (code, _, err) = inst.crctl(&["export", "--operator", "aud", "--party", "1", "--request", " ", "--out", o]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--request"), "{err}");
    assert!(!out.exists());
}

/// The configuration of OneDrive target `cloud` on the Graph stand-in at `url`.
fn cloud_target(url: &str, secret: &Path) -> String {
    format!(
        "\n[[recordings]]\nname = \"cloud-desk\"\ntargets = [\"cloud\"]\n\n[[targets]]\nname = \"cloud\"\nkind = \"onedrive\"\ncloud = \"global\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret_file = \"{}\"\ndrive_user = \"{}\"\ndirectory = \"Recordings/$Y/$M/$D\"\nlogin_endpoint = \"{url}\"\ngraph_endpoint = \"{url}\"\n",
        graph_fake::TENANT,
        graph_fake::CLIENT,
        secret.display(),
        graph_fake::USER
    )
}

/// Delivers set `id` from the spool to target `name` with cr-storage's own target code, as
/// cr-uploader does (into the directory its template gives), records it in the journal and
/// removes the local copy. Returns the directory.
fn deliver_to(inst: &Install, j: &cr_journal::Journal, name: &str, id: &str) -> Vec<String> {
    let cfg = cr_config::Config::load(&inst.config).unwrap();
    let spec = cr_storage::target_from_config(&cfg, name).unwrap();
    let zone = cr_storage::zone_from_config(&cfg).unwrap();
    let rec = j.recording(id).unwrap().unwrap();
    let dir = spec.template.render(zone.local(rec.started_at));
    let local = inst.data.join("spool").join(id);
    let set = cr_storage::RecordingSet::open(&local, id).unwrap();
    let mut target = spec.build();
    let d = target.deliver(&set, &dir, &mut |_| {}).unwrap();
    j.upload_done(id, name, &d.location, &dir, t0()).unwrap();
    std::fs::remove_dir_all(&local).unwrap();
    j.set_deleted(id, t0(), "cr-uploader", "delivered").unwrap();
    dir
}

// Guards against: exports that cannot reach sets kept only in the cloud, and a cloud copy
// changed at rest entering the package.
#[test]
fn sets_only_on_onedrive_are_read_back_verified_and_packaged_and_a_changed_copy_is_refused() {
    if !(have("sha256sum") && have("openssl") && have("base64")) {
        return;
    }
    let fake = graph_fake::Fake::start(50);
    let secrets = tempfile::tempdir().unwrap();
    let secret = common::password_file(secrets.path(), "graph", graph_fake::SECRET);
    let inst = Install::new(&cloud_target(&fake.url, &secret));
    let j = inst.journal();
    for (i, id) in ["cloud-1", "cloud-2", "cloud-3"].iter().enumerate() {
        inst.seal_for(&j, id, "+49 30 999888", "300", t0() + Duration::hours(i as i64), &["cloud"]);
        // Berlin time of 2026-11-26 09:00 UTC and after.
        assert_eq!(deliver_to(&inst, &j, "cloud", id), ["Recordings", "2026", "11", "26"]);
    }
    // One copy is changed at rest in the cloud: a byte of its audio flipped.
    {
        let mut st = fake.state.lock().unwrap();
        let wav = st.files.get_mut("Recordings/2026/11/26/cloud-3.wav").unwrap();
        let last = wav.len() - 1;
        wav[last] ^= 0x01;
    }
    let out = inst.dir.path().join("pkg");
    let (code, stdout, err) =
        inst.crctl(&["export", "--operator", "aud", "--party", "030999888", "--request", "R-9", "--out", out.to_str().unwrap(), "--no-progress"]);
    assert_eq!(code, 1, "one set did not verify: {stdout}{err}");
    for id in ["cloud-1", "cloud-2"] {
        let line = stdout.lines().find(|l| l.starts_with(&format!("EXPORTED {id} "))).unwrap_or_else(|| panic!("{stdout}{err}"));
        assert!(line.ends_with("from target cloud (onedrive Recordings/2026/11/26)"), "{line}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("FAILED cloud-3: ") && l.contains("cloud-3.wav")), "{stdout}");
    assert!(fake.state.lock().unwrap().protocol_errors.is_empty());
    // The package verifies with stock tools, elsewhere.
    let copy = inst.dir.path().join("elsewhere");
    assert!(run(inst.dir.path(), &format!("cp -r {} {}", out.display(), copy.display())).0);
    let (ok, text) = run(&copy, "sha256sum -c SHA256SUMS && bash verify.sh");
    assert!(ok, "{text}");
    assert!(!copy.join("cloud-3").exists(), "the changed copy is not in the package");
}
