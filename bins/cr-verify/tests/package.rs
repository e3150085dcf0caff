//! cr-verify on an export package (cr-export): the package as a whole and each set in it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, TimeZone, Utc};

fn cr_verify(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-verify")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

struct Fixture {
    dir: tempfile::TempDir,
    who: cr_sign::Identity,
}

impl Fixture {
    /// Chained sets 1..=6 in a spool; the package holds one party's: 2, 3 and 5.
    fn new() -> Self {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
        let who = cr_sign::Identity::generate("pbx-berlin-01", t0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), who.certificate().pem()).unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        let mut prev = cr_sign::GENESIS_SHA256.to_owned();
        let out = dir.path().join("package");
        let mut w = cr_export::PackageWriter::new(&out, cr_export::Request::new("R-1", "030 999888", t0), &who).unwrap();
        for seq in 1..=6u64 {
            let id = format!("chain-{seq:04}");
            let json = spool.join(format!("{id}.json"));
            let wav = spool.join(format!("{id}.wav"));
            std::fs::write(&json, format!("{{\"id\":\"{id}\",\"chain\":{{\"seq\":{seq},\"prev_sha256\":\"{prev}\"}}}}")).unwrap();
            std::fs::write(&wav, format!("audio {seq}")).unwrap();
            let sealed = cr_sign::seal(&id, &[json, wav], &who).unwrap();
            prev = cr_sign::sha256_hex(&std::fs::read(&sealed.checksum_file).unwrap());
            if [2, 3, 5].contains(&seq) {
                let start = t0 + Duration::minutes(seq as i64);
                let mut call = cr_export::CallFacts::new(&id, start, start + Duration::seconds(5));
                call.chain_seq = seq;
                w.add_set(call, &mut cr_export::DirectorySource::new("spool", &spool)).unwrap();
            }
        }
        w.finish().unwrap();
        Self { dir, who }
    }

    fn package(&self) -> PathBuf {
        self.dir.path().join("package")
    }

    fn verify(&self) -> (i32, String, String) {
        cr_verify(&["--cert".as_ref(), self.dir.path().join("cert.pem").as_os_str(), self.package().as_os_str()])
    }
}

fn flip(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_package_verifies_as_a_whole_and_set_by_set_without_chain_gaps() {
    let f = Fixture::new();
    let (code, out, err) = f.verify();
    assert_eq!(code, 0, "{out}{err}");
    let pkg = f.package();
    assert!(out.starts_with(&format!("OK package {}: SHA256SUMS signed by this certificate, 17 listed file(s) match, none unlisted\n", pkg.display())), "{out}");
    assert!(out.contains("OK chain-0002\nOK chain-0003\nOK chain-0005\n"), "{out}");
    assert!(!out.contains("CHAIN"), "{out}");
    assert!(out.contains("verified 3 set(s): 3 OK, 0 FAILED") && out.contains("; 1 package(s): 1 OK, 0 FAILED"), "{out}");
}

#[test]
fn one_flipped_byte_in_any_file_fails_naming_it() {
    let f = Fixture::new();
    for file in ["index.html", "manifest.json", "verify.sh", "README.txt", "sets/chain-0003/chain-0003.wav"] {
        let path = f.package().join(file);
        let before = std::fs::read(&path).unwrap();
        flip(&path);
        let (code, out, _) = f.verify();
        assert_eq!(code, 1, "{file}: {out}");
        let line = format!("FAILED {}: content does not match its SHA-256 in SHA256SUMS (altered)", path.display());
        assert!(out.contains(&line), "{file}: {out}");
        assert!(out.contains("1 package(s): 0 OK, 1 FAILED"), "{out}");
        std::fs::write(&path, before).unwrap();
    }
    // The set's own check names the WAV too.
    flip(&f.package().join("sets/chain-0005/chain-0005.wav"));
    let (_, out, _) = f.verify();
    assert!(out.contains("FAILED chain-0005: chain-0005.wav: content does not match"), "{out}");
}

#[test]
fn an_unlisted_file_a_broken_signature_and_another_certificate_fail() {
    let f = Fixture::new();
    std::fs::write(f.package().join("sets/chain-0002/notes.txt"), "added").unwrap();
    let (code, out, _) = f.verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sets/chain-0002/notes.txt: not listed in SHA256SUMS (added to the package)"), "{out}");
    std::fs::remove_file(f.package().join("sets/chain-0002/notes.txt")).unwrap();

    let sig = f.package().join("SHA256SUMS.SHA256withRSA.sig");
    let good = std::fs::read(&sig).unwrap();
    std::fs::write(&sig, "AAAA").unwrap();
    let (code, out, _) = f.verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SHA256SUMS: signature does not verify with this certificate"), "{out}");
    std::fs::write(&sig, good).unwrap();

    let other = f.dir.path().join("other.pem");
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    std::fs::write(&other, cr_sign::Identity::generate("pbx-hamburg", t).unwrap().certificate().pem()).unwrap();
    let (code, out, _) = cr_verify(&["--json".as_ref(), "--cert".as_ref(), other.as_os_str(), f.package().as_os_str()]);
    assert_eq!(code, 1, "{out}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["ok"], false);
    assert_eq!(first["problems"][0]["file"], "SHA256SUMS");
    assert_eq!(first["problems"][1]["file"], "cert.pem");
}

#[test]
fn a_broken_link_between_sets_of_a_package_is_still_reported() {
    let f = Fixture::new();
    // Someone with the key alters set 2 inside the package and seals it again: set 2
    // verifies on its own, but set 3 no longer links to it (and SHA256SUMS no longer fits).
    let dir = f.package().join("sets/chain-0002");
    let json = dir.join("chain-0002.json");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(&json, text.replace("\"id\"", "\"note\":\"edited\",\"id\"")).unwrap();
    cr_sign::seal("chain-0002", &[json, dir.join("chain-0002.wav")], &f.who).unwrap();
    let (code, out, _) = f.verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CHAIN broken link: chain-0003 (sequence 3)"), "{out}");
    assert!(!out.contains("missing"), "{out}");
}
