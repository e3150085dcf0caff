//! Trusted time-stamps (RFC 3161) in `cr-uploader --once` against a real TSA: `openssl ts
//! -reply` behind a small HTTP server (scripts/servers/tsa.sh). Tokens are judged by the
//! stock `openssl ts -verify`; the TSA down delays no delivery and flags the set; back up,
//! the tokens arrive and reach the target; abusive replies are refused, never stored, and
//! logged naming the set.
#![allow(clippy::unwrap_used)]

#[path = "../../../crates/cr-storage/tests/common/mod.rs"]
mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, free_port, have};

/// The TSA, or `None` (skipped loudly; a failure under CALLREC_TEST_STRICT=1) without
/// openssl or Python.
fn tsa(dir: &Path, port: u16) -> Option<Server> {
    if !(have("openssl") && have("/usr/bin/python3")) {
        return None;
    }
    Some(Server::start("tsa.sh", dir, port, &[]))
}

/// Makes the TSA's certificates in `dir` without keeping it running (for a TSA that is down).
fn tsa_certificates(dir: &Path) -> Option<()> {
    let mut s = tsa(dir, free_port())?;
    s.stop();
    Some(())
}

struct Install {
    dir: PathBuf,
    data: PathBuf,
    archive: PathBuf,
    config: PathBuf,
    identity: cr_sign::Identity,
}

impl Install {
    /// A folder target `archive` (directory `rec`) and `[timestamping]` at `url`, trusting
    /// the TSA CA made in `tsa_dir`.
    fn new(dir: &Path, tsa_dir: &Path, url: &str) -> Self {
        let data = dir.join("data");
        let archive = dir.join("archive");
        std::fs::create_dir_all(&archive).unwrap();
        let (keystore, identity) = support::keystore(dir, &data, "pbx-ts");
        let config = dir.join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"pbx-ts\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\n\n{keystore}\
                 [[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"{}\"\ndirectory = \"rec\"\n\n\
                 [timestamping]\ntsa_url = \"{url}\"\ntsa_cert = \"{}\"\ntimeout = \"10s\"\n",
                data.display(),
                archive.display(),
                tsa_dir.join("tsa-ca.pem").display()
            ),
        )
        .unwrap();
        Install { dir: dir.to_owned(), data, archive, config, identity }
    }

    /// Seals set `id` with the installation's key and spools it for `archive`.
    fn seal(&self, id: &str) {
        let spool = cr_storage::Spool::open(self.data.join("spool")).unwrap();
        let d = spool.staging_dir(id).unwrap();
        let wav = d.join(format!("{id}.wav"));
        std::fs::write(&wav, common::bytes(id.len() as u64, 30_000)).unwrap();
        let json = d.join(format!("{id}.json"));
        std::fs::write(&json, format!("{{\"id\": \"{id}\"}}")).unwrap();
        cr_sign::seal(id, &[json, wav], &self.identity).unwrap();
        let start = "2026-03-07T09:05:01Z".parse().unwrap();
        spool.enqueue(&d, id, &["archive".into()], start, chrono::Utc::now()).unwrap();
    }

    fn run(&self) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_cr-uploader")).arg("--config").arg(&self.config).arg("--once").output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn delivered(&self) -> PathBuf {
        self.archive.join("rec")
    }

    fn in_spool(&self, id: &str) -> PathBuf {
        self.data.join("spool").join(id)
    }

    fn metric(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.data.join("spool/uploader.prom")).unwrap();
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap_or_else(|| panic!("{name} missing:\n{text}")).to_owned()
    }

    fn untimestamped(&self, id: &str) -> Option<bool> {
        let j = cr_journal::Journal::open_sqlite(&self.data.join("journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
        j.timestamp_missing(id).unwrap()
    }
}

/// The stock verifier: `openssl ts -verify -data <id>.sha256 -in <id>.sha256.tsr -CAfile
/// tsa-ca.pem -untrusted tsa.pem`, in `dir`.
fn openssl_accepts(dir: &Path, id: &str, tsa_dir: &Path) -> bool {
    let out = Command::new("openssl")
        .args(["ts", "-verify", "-data", &format!("{id}.sha256"), "-in", &format!("{id}.sha256.tsr"), "-CAfile"])
        .arg(tsa_dir.join("tsa-ca.pem"))
        .arg("-untrusted")
        .arg(tsa_dir.join("tsa.pem"))
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("Verification: OK")
}

fn sha256sum_ok(dir: &Path, id: &str) -> bool {
    Command::new("sha256sum").args(["-c", &format!("{id}.sha256")]).current_dir(dir).output().unwrap().status.success()
}

#[test]
fn every_set_gets_a_token_that_openssl_accepts_at_the_target() {
    let w = tempfile::tempdir().unwrap();
    let tsa_dir = w.path().join("tsa");
    let port = free_port();
    let Some(_tsa) = tsa(&tsa_dir, port) else { return };
    let inst = Install::new(&w.path().join("inst"), &tsa_dir, &format!("http://127.0.0.1:{port}/"));
    for id in ["20260307T090501-0001", "20260307T090501-0002"] {
        inst.seal(id);
    }
    let (code, err) = inst.run();
    assert_eq!(code, 0, "{err}");
    for id in ["20260307T090501-0001", "20260307T090501-0002"] {
        assert!(inst.delivered().join(format!("{id}.sha256.tsr")).is_file(), "token of {id} at the target");
        assert!(openssl_accepts(&inst.delivered(), id, &tsa_dir), "openssl ts -verify accepts the token of {id}");
        assert!(sha256sum_ok(&inst.delivered(), id));
        assert!(!inst.in_spool(id).exists(), "{id} left the spool with its token");
        assert_eq!(inst.untimestamped(id), Some(false), "the journal has the token of {id}");
        assert!(err.contains(id) && err.contains("time-stamp token stored"), "{err}");
    }
    assert_eq!(inst.metric("callrec_timestamps_pending"), "0");
    let _ = &inst.dir;
}

#[test]
fn a_tsa_that_is_down_delays_nothing_and_the_token_follows_the_set() {
    let w = tempfile::tempdir().unwrap();
    let tsa_dir = w.path().join("tsa");
    let Some(()) = tsa_certificates(&tsa_dir) else { return };
    let port = free_port();
    let inst = Install::new(&w.path().join("inst"), &tsa_dir, &format!("http://127.0.0.1:{port}/"));
    let id = "20260307T090501-0007";
    inst.seal(id);
    // Down: the set is delivered anyway, without a token, flagged and kept in the spool.
    let (code, err) = inst.run();
    assert_eq!(code, 1, "a set waits for its token: {err}");
    assert!(sha256sum_ok(&inst.delivered(), id), "delivered although the TSA is down");
    assert!(!inst.delivered().join(format!("{id}.sha256.tsr")).exists());
    assert!(!inst.in_spool(id).join(format!("{id}.sha256.tsr")).exists());
    assert!(inst.in_spool(id).join(format!("{id}.sha256")).exists(), "kept in the spool until the token is delivered");
    assert_eq!(inst.metric("callrec_timestamps_pending"), "1");
    assert_eq!(inst.untimestamped(id), Some(true), "flagged untimestamped");
    assert!(err.contains(id) && err.contains("does not answer"), "{err}");
    // Back: the token arrives, reaches the target, the flag is cleared, the set leaves.
    let _tsa = tsa(&tsa_dir, port).unwrap();
    let (code, err) = inst.run();
    assert_eq!(code, 0, "{err}");
    assert!(openssl_accepts(&inst.delivered(), id, &tsa_dir), "the late token is at the target and valid");
    assert_eq!(inst.untimestamped(id), Some(false));
    assert_eq!(inst.metric("callrec_timestamps_pending"), "0");
    assert!(!inst.in_spool(id).exists());
}

#[test]
fn abusive_replies_are_refused_never_stored_and_logged_naming_the_set() {
    let w = tempfile::tempdir().unwrap();
    let tsa_dir = w.path().join("tsa");
    let port = free_port();
    let Some(_tsa) = tsa(&tsa_dir, port) else { return };
    let cases = [
        ("other-imprint", "time-stamps other data"),
        ("wrong-nonce", "nonce"),
        ("untrusted", "not trusted"),
        ("truncated", "not a well-formed"),
        ("garbage", "not a well-formed"),
        ("500", "HTTP 500"),
        ("rejection", "the TSA refused: status 2: request refused"),
    ];
    for (i, (path, why)) in cases.iter().enumerate() {
        let inst = Install::new(&w.path().join(path), &tsa_dir, &format!("http://127.0.0.1:{port}/{path}"));
        let id = format!("20260307T0905{i:02}-0001");
        inst.seal(&id);
        let (code, err) = inst.run();
        assert_eq!(code, 1, "{path}: {err}");
        let refusal = err.lines().find(|l| l.contains("time-stamp refused")).unwrap_or_else(|| panic!("{path}: no refusal logged:\n{err}"));
        assert!(refusal.contains(&id) && refusal.contains(why), "{path}: {refusal}");
        assert!(!inst.in_spool(&id).join(format!("{id}.sha256.tsr")).exists(), "{path}: stored");
        assert!(!inst.delivered().join(format!("{id}.sha256.tsr")).exists(), "{path}: delivered");
        assert!(sha256sum_ok(&inst.delivered(), &id), "{path}: the set itself is delivered");
        assert_eq!(inst.untimestamped(&id), Some(true), "{path}");
    }
    let log = std::fs::read_to_string(tsa_dir.join("requests.log")).unwrap();
    for (path, _) in cases {
        assert!(log.contains(&format!("/{path} ")), "the TSA saw /{path}:\n{log}");
    }
}
