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
