//! cr-verify as an auditor runs it: exit codes, output lines, JSON, folders.

use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};

fn identity(module: &str) -> cr_sign::Identity {
    cr_sign::Identity::generate(module, Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()).unwrap()
}

fn make_set(dir: &Path, id: &str, who: &cr_sign::Identity) {
    std::fs::create_dir_all(dir).unwrap();
    let json = dir.join(format!("{id}.json"));
    let wav = dir.join(format!("{id}.wav"));
    std::fs::write(&json, format!("{{\"id\":\"{id}\"}}")).unwrap();
    std::fs::write(&wav, id.repeat(1000)).unwrap();
    cr_sign::seal(id, &[json, wav], who).unwrap();
}

fn cr_verify(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-verify")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let who = identity("pbx-berlin-01");
        std::fs::write(dir.path().join("cert.pem"), who.certificate().pem()).unwrap();
        make_set(&dir.path().join("sets/2026/01/02"), "call-a", &who);
        make_set(&dir.path().join("sets/2026/01/02"), "call-b", &who);
        make_set(&dir.path().join("sets/2026/01/03"), "call-c", &who);
        Self { dir }
    }
    fn p(&self, rel: &str) -> std::ffi::OsString {
        self.dir.path().join(rel).into_os_string()
    }
}

#[test]
fn all_sets_in_a_folder_tree_verify_with_exit_0() {
    let f = Fixture::new();
    let (code, out, err) = cr_verify(&["--cert".as_ref(), &f.p("cert.pem"), &f.p("sets")]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["OK call-a", "OK call-b", "OK call-c"]);
    assert!(lines[3].starts_with("verified 3 set(s): 3 OK, 0 FAILED"), "{out}");
}

#[test]
fn one_altered_set_fails_with_exit_1_naming_the_file() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("sets/2026/01/02/call-b.wav"), "changed").unwrap();
    let (code, out, _) = cr_verify(&["--cert".as_ref(), &f.p("cert.pem"), &f.p("sets")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("OK call-a\n"), "{out}");
    assert!(out.contains("FAILED call-b: call-b.wav: content does not match"), "{out}");
    assert!(out.contains("2 OK, 1 FAILED"), "{out}");
}

#[test]
fn a_single_checksum_file_can_be_named() {
    let f = Fixture::new();
    let (code, out, _) = cr_verify(&["--cert".as_ref(), &f.p("cert.pem"), &f.p("sets/2026/01/03/call-c.sha256")]);
    assert_eq!(code, 0);
    assert!(out.starts_with("OK call-c\n"), "{out}");
}

#[test]
fn json_output_is_one_object_per_set() {
    let f = Fixture::new();
    std::fs::remove_file(f.dir.path().join("sets/2026/01/03/call-c.json")).unwrap();
    let (code, out, _) = cr_verify(&["--json".as_ref(), "--cert".as_ref(), &f.p("cert.pem"), &f.p("sets")]);
    assert_eq!(code, 1);
    let objs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objs.len(), 3);
    assert_eq!(objs[0]["id"], "call-a");
    assert_eq!(objs[0]["ok"], true);
    assert_eq!(objs[2]["ok"], false);
    assert_eq!(objs[2]["problems"][0]["file"], "call-c.json");
}

#[test]
fn another_installations_certificate_fails_every_set() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("other.pem"), identity("pbx-hamburg").certificate().pem()).unwrap();
    let (code, out, _) = cr_verify(&["--cert".as_ref(), &f.p("other.pem"), &f.p("sets")]);
    assert_eq!(code, 1);
    assert_eq!(out.matches("FAILED").count(), 4, "{out}"); // three lines and the summary
    assert!(out.contains("signature does not verify with this certificate"), "{out}");
}

#[test]
fn could_not_run_is_exit_2_and_no_sets_is_exit_1() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("bad.pem"), "not a certificate").unwrap();
    let (code, _, err) = cr_verify(&["--cert".as_ref(), &f.p("bad.pem"), &f.p("sets")]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.pem"), "{err}");
    let (code, _, err) = cr_verify(&["--cert".as_ref(), &f.p("cert.pem"), &f.p("nowhere")]);
    assert_eq!(code, 2);
    assert!(err.contains("nowhere"), "{err}");
    let (code, _, _) = cr_verify(&["--cert".as_ref(), &f.p("cert.pem")]);
    assert_eq!(code, 2);
    std::fs::create_dir(f.dir.path().join("empty")).unwrap();
    let (code, _, err) = cr_verify(&["--cert".as_ref(), &f.p("cert.pem"), &f.p("empty")]);
    assert_eq!(code, 1);
    assert!(err.contains("no recording sets"), "{err}");
    let (code, out, _) = cr_verify(&["--help".as_ref()]);
    assert_eq!(code, 0);
    assert!(out.contains("--cert"), "{out}");
}

/// A folder of chained sets as cr-recorder writes them: metadata carries `chain.seq` and
/// `chain.prev_sha256` (the SHA-256 of the previous set's checksum file).
fn make_chain(dir: &Path, n: u64, who: &cr_sign::Identity) {
    let mut prev = cr_sign::GENESIS_SHA256.to_owned();
    for seq in 1..=n {
        let id = format!("chain-{seq:04}");
        let json = dir.join(format!("{id}.json"));
        let wav = dir.join(format!("{id}.wav"));
        std::fs::write(&json, format!("{{\"id\":\"{id}\",\"chain\":{{\"seq\":{seq},\"prev_sha256\":\"{prev}\"}}}}")).unwrap();
        std::fs::write(&wav, format!("audio {seq}")).unwrap();
        let sealed = cr_sign::seal(&id, &[json, wav], who).unwrap();
        // Independent of our code: the hash of the checksum file as sha256 would compute it.
        prev = cr_sign::sha256_hex(&std::fs::read(&sealed.checksum_file).unwrap());
    }
}

#[test]
fn deleting_one_set_of_100_names_the_missing_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let who = identity("pbx-berlin-01");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, who.certificate().pem()).unwrap();
    let sets = dir.path().join("sets");
    std::fs::create_dir(&sets).unwrap();
    make_chain(&sets, 100, &who);
    let (code, out, _) = cr_verify(&["--cert".as_ref(), cert.as_os_str(), sets.as_os_str()]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("CHAIN"), "{out}");
    for f in ["json", "wav", "sha256", "sha256.SHA256withRSA.sig"] {
        std::fs::remove_file(sets.join(format!("chain-0057.{f}"))).unwrap();
    }
    let (code, out, _) = cr_verify(&["--cert".as_ref(), cert.as_os_str(), sets.as_os_str()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CHAIN sequence 57 missing (between chain-0056 and chain-0058)"), "{out}");
    assert!(out.contains("99 OK, 0 FAILED") && out.contains("; 1 chain problem(s)"), "{out}");
}

#[test]
fn a_set_resealed_out_of_order_breaks_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let who = identity("pbx");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, who.certificate().pem()).unwrap();
    make_chain(dir.path(), 5, &who);
    // Someone with the key replaces set 3 by a new one: it verifies on its own, but set 4
    // no longer links to it.
    let json = dir.path().join("chain-0003.json");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(&json, text.replace("\"id\"", "\"note\":\"edited\",\"id\"")).unwrap();
    cr_sign::seal("chain-0003", &[json, dir.path().join("chain-0003.wav")], &who).unwrap();
    let (code, out, _) = cr_verify(&["--cert".as_ref(), cert.as_os_str(), dir.path().as_os_str()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CHAIN broken link: chain-0004 (sequence 4)"), "{out}");
}
