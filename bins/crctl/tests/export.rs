//! crctl export as an operator runs it: sets sealed with the installation's key (made by
//! `crctl keys init`) and recorded in the journal as the recorder does, some still in the
//! spool, some only in a folder target; the package checked with bash, sha256sum and openssl
//! after being copied elsewhere.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod common;

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

#[test]
fn a_set_only_on_an_sftp_target_is_refused_naming_target_and_kind_and_nothing_is_written() {
    let inst = Install::new("");
    let j = inst.journal();
    inst.seal(&j, "set-1", "+49 30 999888", "300", t0());
    let spool = inst.seal(&j, "set-2", "+49 30 999888", "300", t0() + Duration::hours(1));
    j.upload_done("set-2", "offsite", "sftp://backup.example.invalid:22/rec/2026/11/26", &[], t0()).unwrap();
    std::fs::remove_dir_all(&spool).unwrap();
    j.set_deleted("set-2", t0(), "cr-uploader", "delivered").unwrap();
    let out = inst.dir.path().join("pkg");
    let (code, stdout, err) = inst.crctl(&["export", "--operator", "aud", "--party", "030999888", "--request", "R-1", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(err.contains("set set-2 lies only on target \"offsite\" (sftp)"), "{err}");
    assert!(err.contains("not supported yet; nothing was written"), "{err}");
    assert!(!out.exists());
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
