//! The SMB target against a real Samba smbd on loopback (scripts/servers/smbd.sh); what
//! arrived is fetched back with `smbclient` and checked with `shasum -a 256 -c`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use cr_storage::*;

const PW: &str = "smb-Secret1";

struct Smbd {
    server: Server,
    user: String,
    _tmp: tempfile::TempDir,
    _user: UserGuard,
}

fn smbd() -> Option<Smbd> {
    if !have("smbd") || !have("smbclient") || !root() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let user = user("crsm", port);
    let server = Server::start("smbd.sh", &tmp.path().join("srv"), port, &[&user, PW]);
    Some(Smbd { server, _user: UserGuard(user.clone()), user, _tmp: tmp })
}

impl Smbd {
    fn settings(&self, password: &str) -> SmbSettings {
        let mut s = SmbSettings::new("nas", "127.0.0.1", "rec", &self.user, password);
        s.port = self.server.port;
        s.timeout = Duration::from_secs(3);
        s
    }
    fn share(&self) -> std::path::PathBuf {
        self.server.dir.join("share")
    }
    /// Fetches `remote_dir` with smbclient into `local` (independent of libsmbclient's API use).
    fn fetch(&self, remote_dir: &str, local: &Path) {
        std::fs::create_dir_all(local).unwrap();
        let out = Command::new("smbclient")
            .arg("//127.0.0.1/rec")
            .args(["-p", &self.server.port.to_string(), "-U", &format!("{}%{PW}", self.user)])
            .arg("-c")
            .arg(format!("prompt OFF; cd {remote_dir}; lcd {}; mget *", local.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "smbclient: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn smb_delivers_set_into_templated_dir_and_smbclient_copy_verifies() {
    let Some(s) = smbd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(
        Box::new(StoreTarget::new(SmbStore::new(s.settings(PW))).verify(Verify::Content)),
        DirTemplate::parse("Aufzeichnung/Record-$Y_$M_$D_$h_$m_$s", PathRules::Smb).unwrap(),
    );
    let names = enqueue(&up, "20260307T090501-s", &[("-caller.wav", 200_000), ("-callee.wav", 5 << 20)], 11, &["nas"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    let fetched = work.path().join("fetched");
    s.fetch("Aufzeichnung/Record-2026_03_07_09_05_01", &fetched);
    let mut expect = names.clone();
    expect.sort();
    assert_eq!(tree(&fetched), expect, "exactly the set, no temporaries");
    shasum_check(&fetched, "20260307T090501-s");
    assert!(up.spool().pending().unwrap().is_empty());
}

#[test]
fn smb_wrong_password_is_refused_and_set_stays() {
    let Some(s) = smbd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SmbStore::new(s.settings("nope")))), DirTemplate::parse("x", PathRules::Smb).unwrap());
    enqueue(&up, "pw2", &[(".wav", 1000)], 12, &["nas"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 0);
    assert!(r.failed[0].2.contains("sign-in refused"), "{r:?}");
    assert!(up.spool().set_dir("pw2").join("pw2.wav").exists());
}

/// Regression guard: a transfer cut off by a dying server must neither duplicate nor corrupt
/// the set.
#[test]
fn smb_server_killed_mid_upload_then_restarted_delivers_exactly_once() {
    let Some(s) = smbd() else { return };
    let work = tempfile::tempdir().unwrap();
    let settings = s.settings(PW);
    let share = s.share();
    let server = Mutex::new(s.server);
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SmbStore::new(settings))), DirTemplate::parse("$Y/$M", PathRules::Smb).unwrap());
    let names = enqueue(&up, "big2", &[(".wav", 48 << 20)], 13, &["nas"]);
    let sent = Mutex::new(0u64);
    let r = up.pass(&t0, &|n| {
        let mut c = sent.lock().unwrap();
        let before = *c;
        *c += n;
        if before < (16 << 20) && *c >= (16 << 20) {
            server.lock().unwrap().stop();
        }
    });
    assert_eq!(r.delivered, 0, "{r:?}");
    assert!(up.spool().set_dir("big2").join("big2.wav").exists(), "local copy kept");
    server.lock().unwrap().restart();
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    let mut expect = names.clone();
    expect.sort();
    assert_eq!(tree(&share.join("2026/03")), expect);
    shasum_check(&share.join("2026/03"), "big2");
}

#[test]
fn smb_hung_server_times_out_then_recovers() {
    let Some(s) = smbd() else { return };
    let work = tempfile::tempdir().unwrap();
    let settings = s.settings(PW);
    let share = s.share();
    let server = Mutex::new(s.server);
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SmbStore::new(settings))), DirTemplate::parse("hung", PathRules::Smb).unwrap());
    enqueue(&up, "hung2", &[(".wav", 24 << 20)], 14, &["nas"]);
    let sent = Mutex::new(0u64);
    let r = up.pass(&t0, &|n| {
        let mut c = sent.lock().unwrap();
        let before = *c;
        *c += n;
        if before < (8 << 20) && *c >= (8 << 20) {
            server.lock().unwrap().pause();
        }
    });
    assert_eq!(r.delivered, 0, "{r:?}");
    server.lock().unwrap().resume();
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    shasum_check(&share.join("hung"), "hung2");
    assert_eq!(tree(&share.join("hung")).len(), 4);
}

#[test]
fn smb_disk_full_then_space_added() {
    let Some(s) = smbd() else { return };
    let work = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&s.share().join("full"), "4m");
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SmbStore::new(s.settings(PW)))), DirTemplate::parse("full/$Y", PathRules::Smb).unwrap());
    enqueue(&up, "full2", &[(".wav", 6 << 20)], 15, &["nas"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 0, "{r:?}");
    fs.resize("32m");
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    shasum_check(&s.share().join("full/2026"), "full2");
    assert_eq!(tree(&s.share().join("full/2026")).len(), 4);
}
