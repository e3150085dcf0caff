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

impl Smbd {
    /// What `smbclient ... -c 'ls'` lists in `remote_dir` (names only, `.` and `..` left out).
    fn ls(&self, remote_dir: &str) -> Vec<String> {
        let out = Command::new("smbclient")
            .arg("//127.0.0.1/rec")
            .args(["-p", &self.server.port.to_string(), "-U", &format!("{}%{PW}", self.user)])
            .arg("-c")
            .arg(format!("cd {remote_dir}; ls"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "smbclient: {text}{}", String::from_utf8_lossy(&out.stderr));
        // "  name   A   1234  Sat Mar  7 09:05:01 2026": name, attributes, size, date.
        let names: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let attrs = w.get(1)?;
                let is_entry = attrs.chars().all(|c| "ADHNRSA".contains(c)) && w.get(2)?.parse::<u64>().is_ok() && w.len() >= 7;
                is_entry.then(|| w[0].to_owned())
            })
            .filter(|n| n != "." && n != "..")
            .collect();
        sorted(&names)
    }
}

/// Deleting one of two delivered sets removes exactly its files (json, audio, .sha256, .sig
/// and a temporary an interrupted delivery left), as `smbclient ls` shows; the other set
/// stays intact; a second deletion finds them already absent; a directory in the way,
/// hostile names and a stopped server are errors that claim nothing.
#[test]
fn smb_remove_set_deletes_exactly_that_set_as_smbclient_lists_it() {
    let Some(mut s) = smbd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SmbStore::new(s.settings(PW)))), DirTemplate::parse("Aufzeichnung/$Y", PathRules::Smb).unwrap());
    let a = enqueue(&up, "del-a", &[("-caller.wav", 50_000), ("-callee.wav", 50_001)], 33, &["nas"]);
    let b = enqueue(&up, "del-b", &[(".wav", 40_000)], 34, &["nas"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 2, "{r:?}");
    let part = temp_name("del-a-callee.wav");
    let share_dir = s.share().join("Aufzeichnung/2026");
    std::fs::write(share_dir.join(&part), b"partial").unwrap();
    std::os::unix::fs::chown(share_dir.join(&part), Some(uid(&s.user)), None).unwrap();
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.push(part.clone());
    assert_eq!(s.ls("Aufzeichnung/2026"), sorted(&all), "both sets are there before");

    let mut t = StoreTarget::new(SmbStore::new(s.settings(PW)));
    let dir = vec!["Aufzeichnung".to_owned(), "2026".to_owned()];
    fetch_back(&mut t, &dir, &b, &work.path().join("read-back"), "del-b");
    let done = t.remove_set(&dir, &a).unwrap();
    assert_eq!((done.removed, done.already_absent), (a.len(), 0), "{done:?}");
    assert_eq!(s.ls("Aufzeichnung/2026"), sorted(&b), "exactly del-a's files and its temporary are gone");
    let fetched = work.path().join("fetched");
    s.fetch("Aufzeichnung/2026", &fetched);
    shasum_check(&fetched, "del-b");

    let again = t.remove_set(&dir, &a).unwrap();
    assert_eq!((again.removed, again.already_absent), (0, a.len()), "{again:?}");

    // A directory of a file's name is not removed (libsmbclient's unlink would take an empty
    // one), and the error names target and file.
    std::fs::create_dir(share_dir.join("x.wav")).unwrap();
    let e = t.remove_set(&dir, &["x.wav".to_owned()]).unwrap_err();
    assert!(e.to_string().contains("nas") && e.to_string().contains("x.wav"), "{e}");
    assert!(!e.to_string().contains(PW), "{e}");
    assert!(share_dir.join("x.wav").is_dir());

    // The server stopped: an error, nothing claimed, del-b still there.
    s.server.stop();
    let e = t.remove_set(&dir, &b).unwrap_err();
    assert!(!matches!(e, TargetError::BadName { .. }), "{e}");
    assert!(e.to_string().contains("nas"), "{e}");
    let mut left = tree(&share_dir);
    left.retain(|n| !n.starts_with("x.wav"));
    assert_eq!(left, sorted(&b));

    // Hostile names are refused before anything is sent (the server is down: a request
    // would end in a connection error instead).
    t.disconnect();
    for (d, n) in [(dir.clone(), "../x"), (dir.clone(), "a/b"), (dir.clone(), "a\\b"), (vec!["..".to_owned()], "del-b.wav")] {
        let e = t.remove_set(&d, &[n.to_owned()]).unwrap_err();
        assert!(matches!(e, TargetError::BadName { .. }), "{d:?} {n}: {e}");
    }
}

fn uid(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
