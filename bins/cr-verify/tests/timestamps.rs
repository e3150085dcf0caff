//! cr-verify and RFC 3161 time-stamp tokens (`<id>.sha256.tsr`), with tokens from a real TSA
//! (`openssl ts -reply` behind scripts/servers/tsa.sh) fetched by the uploader's
//! [`cr_storage::Timestamper`]: good tokens verify, a token swapped from another set, a
//! token from an untrusted TSA and a missing token under --require-timestamps fail naming
//! the file, and a bad --tsa-cert is exit 2.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../../crates/cr-storage/tests/common/mod.rs"]
mod servers;

use std::path::{Path, PathBuf};

use common::cr_verify;
use cr_storage::{DeliveryLog, FileDeliveryLog, Spool, Timestamper};

struct Fixture {
    _tmp: tempfile::TempDir,
    _tsa: servers::Server,
    tsa_dir: PathBuf,
    spool: Spool,
    cert: PathBuf,
}

/// Sets `ids` sealed into a spool, each with a token from the real TSA.
fn fixture(ids: &[&str]) -> Option<Fixture> {
    if !(servers::have("openssl") && servers::have("/usr/bin/python3")) {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tsa_dir = tmp.path().join("tsa");
    let port = servers::free_port();
    let tsa = servers::Server::start("tsa.sh", &tsa_dir, port, &[]);
    let who = cr_sign::Identity::generate("pbx-verify", chrono::Utc::now()).unwrap();
    let cert = tmp.path().join("cert.pem");
    std::fs::write(&cert, who.certificate().pem()).unwrap();
    let spool = Spool::open(tmp.path().join("spool")).unwrap();
    for id in ids {
        let d = spool.staging_dir(id).unwrap();
        let json = d.join(format!("{id}.json"));
        let wav = d.join(format!("{id}.wav"));
        std::fs::write(&json, format!("{{\"id\":\"{id}\"}}")).unwrap();
        std::fs::write(&wav, id.repeat(1000)).unwrap();
        cr_sign::seal(id, &[json, wav], &who).unwrap();
        spool.enqueue(&d, id, &["archive".into()], chrono::Utc::now(), chrono::Utc::now()).unwrap();
    }
    let trust = cr_sign::TsaTrust::load(&tsa_dir.join("tsa-ca.pem")).unwrap();
    let mut t = Timestamper::new(&format!("http://127.0.0.1:{port}/"), trust, std::time::Duration::from_secs(10)).unwrap();
    let mut log: Box<dyn DeliveryLog> = Box::new(FileDeliveryLog::new(spool.root()));
    let report = t.pass(&spool, &spool.pending().unwrap(), &mut *log, chrono::Utc::now());
    assert_eq!(report.stored.len(), ids.len(), "{:?}", report.failed);
    Some(Fixture { _tmp: tmp, _tsa: tsa, tsa_dir, spool, cert })
}

impl Fixture {
    fn checksum(&self, id: &str) -> PathBuf {
        self.spool.set_dir(id).join(format!("{id}.sha256"))
    }

    fn token(&self, id: &str) -> PathBuf {
        self.spool.set_dir(id).join(format!("{id}.sha256.tsr"))
    }

    fn verify(&self, tsa_cert: Option<&Path>, more: &[&str]) -> (i32, String, String) {
        let mut args: Vec<std::ffi::OsString> = vec!["--cert".into(), self.cert.clone().into()];
        if let Some(p) = tsa_cert {
            args.extend(["--tsa-cert".into(), p.into()]);
        }
        args.extend(more.iter().map(|m| (*m).into()));
        args.push(self.spool.root().into());
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        cr_verify(&refs)
    }
}

#[test]
fn tokens_verify_against_the_tsa_ca_and_the_tsa_certificate_itself() {
    let Some(f) = fixture(&["s1", "s2"]) else { return };
    for anchor in ["tsa-ca.pem", "tsa.pem"] {
        let (code, out, err) = f.verify(Some(&f.tsa_dir.join(anchor)), &["--require-timestamps"]);
        assert_eq!(code, 0, "{anchor}: {out}{err}");
        assert!(out.contains("OK s1") && out.contains("OK s2"), "{out}");
    }
    let (code, out, _) = f.verify(Some(&f.tsa_dir.join("tsa-ca.pem")), &["--json"]);
    assert_eq!(code, 0);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["timestamp"]["tsa"], "Test tsa", "{first}");
    // Without --tsa-cert tokens are not checked, and the auditor is told so.
    let (code, _, err) = f.verify(None, &[]);
    assert_eq!(code, 0);
    assert!(err.contains("2 set(s) carry a time-stamp token"), "{err}");
}

// Guards against: a valid token of one set passing as the time-stamp of another.
#[test]
fn a_token_swapped_from_another_set_fails_naming_the_token() {
    let Some(f) = fixture(&["s1", "s2"]) else { return };
    std::fs::copy(f.token("s2"), f.token("s1")).unwrap();
    let (code, out, _) = f.verify(Some(&f.tsa_dir.join("tsa-ca.pem")), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED s1: s1.sha256.tsr: time-stamp token refused: the token time-stamps other data"), "{out}");
    assert!(out.contains("OK s2"), "{out}");
}

#[test]
fn a_token_of_an_untrusted_tsa_or_none_under_require_fails() {
    let Some(f) = fixture(&["s1"]) else { return };
    let (code, out, _) = f.verify(Some(&f.tsa_dir.join("rogue-ca.pem")), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED s1: s1.sha256.tsr: time-stamp token refused: the token's signer is not trusted"), "{out}");
    std::fs::remove_file(f.token("s1")).unwrap();
    let (code, out, _) = f.verify(Some(&f.tsa_dir.join("tsa-ca.pem")), &[]);
    assert_eq!(code, 0, "a token is optional without --require-timestamps: {out}");
    let (code, out, _) = f.verify(Some(&f.tsa_dir.join("tsa-ca.pem")), &["--require-timestamps"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED s1: s1.sha256.tsr: time-stamp token missing"), "{out}");
}

// Guards against: a checksum file altered after time-stamping keeping its time-stamp.
#[test]
fn an_altered_checksum_file_no_longer_matches_its_token() {
    let Some(f) = fixture(&["s1"]) else { return };
    let mut text = std::fs::read(f.checksum("s1")).unwrap();
    text.extend_from_slice(b"\n");
    std::fs::write(f.checksum("s1"), text).unwrap();
    let (code, out, _) = f.verify(Some(&f.tsa_dir.join("tsa-ca.pem")), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("s1.sha256.tsr: time-stamp token refused: the token time-stamps other data"), "{out}");
}

#[test]
fn a_bad_tsa_certificate_or_require_without_one_is_exit_2() {
    let Some(f) = fixture(&["s1"]) else { return };
    let bogus = f.spool.root().join("s1/s1.json");
    let (code, _, err) = f.verify(Some(&bogus), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tsa-cert") && err.contains("s1.json"), "{err}");
    let (code, _, err) = f.verify(None, &["--require-timestamps"]);
    assert_eq!(code, 2, "{err}");
}
