//! The SFTP target against a real OpenSSH sshd on loopback (scripts/servers/sshd.sh).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;
use cr_storage::*;

struct Sshd {
    server: Server,
    user: String,
    _tmp: tempfile::TempDir,
    _user: UserGuard,
}

fn sshd() -> Option<Sshd> {
    sshd_with_host_key(None)
}

/// An sshd whose host key is of this `ssh-keygen -t` type (default ed25519).
fn sshd_with_host_key(kind: Option<&str>) -> Option<Sshd> {
    if !have("sshd") || !root() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let user = user("crsf", port);
    if let Some(kind) = kind {
        let srv = tmp.path().join("srv");
        std::fs::create_dir_all(&srv).unwrap();
        let st = std::process::Command::new("ssh-keygen").args(["-q", "-N", "", "-t", kind, "-f"]).arg(srv.join("hostkey")).status().unwrap();
        assert!(st.success());
    }
    let server = Server::start("sshd.sh", &tmp.path().join("srv"), port, &[&user, "pw-Secret1"]);
    Some(Sshd { server, _user: UserGuard(user.clone()), user, _tmp: tmp })
}

impl Sshd {
    fn home(&self) -> std::path::PathBuf {
        self.server.dir.join("home")
    }
    fn settings(&self, auth: SftpAuth) -> SftpSettings {
        let fp = fingerprint(&self.server.dir.join("hostkey.pub"));
        let mut s = SftpSettings::new("offsite", "127.0.0.1", &self.user, auth, &fp);
        s.port = self.server.port;
        s.timeout = Duration::from_secs(3);
        s
    }
    fn key(&self) -> SftpAuth {
        SftpAuth::Key { file: self.server.dir.join("client_key"), passphrase: None }
    }
}

#[test]
fn sftp_delivers_sets_into_templated_dirs_and_shasum_passes_there() {
    let Some(s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(
        Box::new(StoreTarget::new(SftpStore::new(s.settings(s.key()))).verify(Verify::Content)),
        DirTemplate::parse("rec/$Y/$M/Record-$D_$h$m$s", PathRules::Sftp).unwrap(),
    );
    let a = enqueue(&up, "20260307T090501-a", &[(".wav", 300_000)], 1, &["offsite"]);
    let b = enqueue(&up, "20260307T090501-b", &[("-caller.wav", 70_000), ("-callee.wav", 70_001)], 2, &["offsite"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 2, "{r:?}");
    assert_eq!(r.pending_sets, 0);
    let dir = s.home().join("rec/2026/03/Record-07_090501");
    let mut expect: Vec<String> = a.iter().chain(&b).cloned().collect();
    expect.sort();
    assert_eq!(tree(&dir), expect, "exactly the set files, no temporaries");
    shasum_check(&dir, "20260307T090501-a");
    shasum_check(&dir, "20260307T090501-b");
    assert!(up.spool().pending().unwrap().is_empty());
    assert!(!up.spool().set_dir("20260307T090501-a").exists());
}

#[test]
fn sftp_home_directory_and_password_login() {
    let Some(s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(
        Box::new(StoreTarget::new(SftpStore::new(s.settings(SftpAuth::Password("pw-Secret1".into()))))),
        DirTemplate::parse(".", PathRules::Sftp).unwrap(),
    );
    enqueue(&up, "home1", &[(".wav", 1000)], 3, &["offsite"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    shasum_check(&s.home(), "home1");
}

#[test]
fn sftp_wrong_host_key_and_wrong_password_are_refused_and_nothing_is_lost() {
    let Some(s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut bad_key = s.settings(s.key());
    let real = bad_key.host_key.clone();
    bad_key.host_key = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    let mut t = StoreTarget::new(SftpStore::new(bad_key));
    let e = t.check().unwrap_err();
    assert!(matches!(e, TargetError::HostKeyMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&real) && msg.contains("SHA256:AAAA"), "both fingerprints shown: {msg}");

    let mut up = uploader(work.path());
    up.add_target(
        Box::new(StoreTarget::new(SftpStore::new(s.settings(SftpAuth::Password("wrong".into()))))),
        DirTemplate::parse("x", PathRules::Sftp).unwrap(),
    );
    enqueue(&up, "pw1", &[(".wav", 1000)], 4, &["offsite"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 0);
    assert!(r.failed[0].2.contains("sign-in refused"), "{r:?}");
    assert!(up.spool().set_dir("pw1").join("pw1.wav").exists());
    assert!(!s.home().join("x/pw1.wav").exists());
}

/// Regression guard: a transfer cut off by a dying server must neither duplicate nor corrupt
/// the set, and the local copy must stay until the retry confirmed it.
#[test]
fn sftp_server_killed_mid_upload_then_restarted_delivers_exactly_once() {
    let Some(s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let settings = s.settings(s.key());
    let server = Mutex::new(s.server);
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SftpStore::new(settings))), DirTemplate::parse("rec/$Y", PathRules::Sftp).unwrap());
    let names = enqueue(&up, "big1", &[(".wav", 48 << 20)], 5, &["offsite"]);
    let sent = Mutex::new(0u64);
    let r = up.pass(&t0, &|n| {
        let mut s = sent.lock().unwrap();
        let before = *s;
        *s += n;
        if before < (16 << 20) && *s >= (16 << 20) {
            server.lock().unwrap().stop();
        }
    });
    assert_eq!(r.delivered, 0, "{r:?}");
    assert_eq!(r.pending_sets, 1);
    assert!(up.spool().set_dir("big1").join("big1.wav").exists(), "local copy kept");
    let mut srv = server.into_inner().unwrap();
    srv.restart();
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    let dir = srv.dir.join("home/rec/2026");
    let mut expect = names.clone();
    expect.sort();
    assert_eq!(tree(&dir), expect);
    shasum_check(&dir, "big1");
}

#[test]
fn sftp_hung_server_times_out_then_recovers() {
    let Some(s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let settings = s.settings(s.key());
    let server = Mutex::new(s.server);
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SftpStore::new(settings))), DirTemplate::parse("hung", PathRules::Sftp).unwrap());
    enqueue(&up, "hung1", &[(".wav", 24 << 20)], 6, &["offsite"]);
    let sent = Mutex::new(0u64);
    let r = up.pass(&t0, &|n| {
        let mut s = sent.lock().unwrap();
        let before = *s;
        *s += n;
        if before < (8 << 20) && *s >= (8 << 20) {
            server.lock().unwrap().pause();
        }
    });
    assert_eq!(r.delivered, 0, "{r:?}");
    server.lock().unwrap().resume();
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    let srv = server.into_inner().unwrap();
    shasum_check(&srv.dir.join("home/hung"), "hung1");
    assert_eq!(tree(&srv.dir.join("home/hung")).len(), 4);
}

#[test]
fn sftp_disk_full_then_space_added() {
    let Some(s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&s.home().join("full"), "4m");
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SftpStore::new(s.settings(s.key())))), DirTemplate::parse("full/$Y", PathRules::Sftp).unwrap());
    enqueue(&up, "full1", &[(".wav", 6 << 20)], 7, &["offsite"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 0, "{r:?}");
    assert!(up.spool().set_dir("full1").exists());
    fs.resize("32m");
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    shasum_check(&s.home().join("full/2026"), "full1");
    assert_eq!(tree(&s.home().join("full/2026")).len(), 4);
}

/// Regression guard: many write requests in flight must land at the right offsets, also for
/// a size that is no multiple of the request or buffer size.
#[test]
fn sftp_large_file_of_odd_size_arrives_intact_with_pipelined_writes() {
    let Some(s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SftpStore::new(s.settings(s.key()))).verify(Verify::Content)), DirTemplate::parse("big", PathRules::Sftp).unwrap());
    enqueue(&up, "odd1", &[(".wav", (40 << 20) + 12345)], 8, &["offsite"]);
    let total = std::sync::atomic::AtomicU64::new(0);
    let r = up.pass(&t0, &|n| {
        total.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(r.delivered, 1, "{r:?}");
    shasum_check(&s.home().join("big"), "odd1");
    assert_eq!(tree(&s.home().join("big")).len(), 4);
    assert!(total.into_inner() >= (40 << 20) + 12345);
}

/// Key files besides the plain ed25519 one: RSA in the OpenSSH, PEM (PKCS#1) and PKCS#8
/// formats, ECDSA in PEM, and passphrase-protected keys; a wrong passphrase is a sign-in
/// error that names the key file.
#[test]
fn sftp_key_files_rsa_pem_pkcs8_ecdsa_and_passphrases_sign_in() {
    let Some(s) = sshd() else { return };
    let keys = tempfile::tempdir().unwrap();
    let authorized = s.server.dir.join("authorized_keys");
    let cases: &[(&str, &[&str], Option<&str>)] = &[
        ("rsa_openssh", &["-t", "rsa", "-b", "2048"], None),
        ("rsa_pem", &["-t", "rsa", "-b", "2048", "-m", "PEM"], None),
        ("rsa_pkcs8", &["-t", "rsa", "-b", "2048", "-m", "PKCS8"], None),
        ("rsa_openssh_pass", &["-t", "rsa", "-b", "2048"], Some("key-Secret2")),
        ("ed25519_pass", &["-t", "ed25519"], Some("key-Secret3")),
        ("ecdsa_pem", &["-t", "ecdsa", "-m", "PEM"], None),
    ];
    for (name, args, pass) in cases {
        let file = keys.path().join(name);
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", pass.unwrap_or(""), "-f"])
            .arg(&file)
            .args(*args)
            .status()
            .unwrap();
        assert!(ok.success(), "ssh-keygen {name}");
        let public = std::fs::read_to_string(file.with_extension("pub")).unwrap();
        let mut all = std::fs::read_to_string(&authorized).unwrap();
        all.push_str(&public);
        std::fs::write(&authorized, all).unwrap();
        let auth = SftpAuth::Key { file: file.clone(), passphrase: pass.map(str::to_owned) };
        let mut t = StoreTarget::new(SftpStore::new(s.settings(auth)));
        t.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        t.disconnect();
    }
    let wrong = SftpAuth::Key { file: keys.path().join("ed25519_pass"), passphrase: Some("wrong".into()) };
    let e = StoreTarget::new(SftpStore::new(s.settings(wrong))).check().unwrap_err();
    assert!(matches!(e, TargetError::Auth { .. }), "{e}");
    assert!(e.to_string().contains("ed25519_pass"), "names the key file: {e}");
}

/// An ECDSA host key is pinned like an Ed25519 one; a server with only an RSA host key is
/// refused with a message that says what to do (not a misleading "wrong signature").
#[test]
fn sftp_ecdsa_host_key_works_and_rsa_only_host_key_is_refused_with_advice() {
    let Some(s) = sshd_with_host_key(Some("ecdsa")) else { return };
    StoreTarget::new(SftpStore::new(s.settings(s.key()))).check().unwrap();
    let Some(s) = sshd_with_host_key(Some("rsa")) else { return };
    let e = StoreTarget::new(SftpStore::new(s.settings(s.key()))).check().unwrap_err();
    assert!(matches!(e, TargetError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("Ed25519 and ECDSA host keys"), "{e}");
}

/// What OpenSSH's own `sftp` client lists in `dir` (relative to the home directory), host
/// key pinned; `.` and `..` left out.
fn sftp_ls(s: &Sshd, dir: &str) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let batch = tmp.path().join("batch");
    std::fs::write(&batch, format!("ls -1a {dir}\n")).unwrap();
    let known = tmp.path().join("known_hosts");
    let key = std::fs::read_to_string(s.server.dir.join("hostkey.pub")).unwrap();
    std::fs::write(&known, format!("[127.0.0.1]:{} {key}", s.server.port)).unwrap();
    let out = std::process::Command::new("sftp")
        .arg("-b")
        .arg(&batch)
        .args(["-P", &s.server.port.to_string(), "-i"])
        .arg(s.server.dir.join("client_key"))
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg(format!("{}@127.0.0.1", s.user))
        .output()
        .unwrap();
    assert!(out.status.success(), "sftp -b: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("sftp>"))
        .map(|l| l.trim().rsplit('/').next().unwrap_or("").to_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect();
    sorted(&names)
}

/// Deleting one of two delivered sets removes exactly its files (json, audio, .sha256, .sig
/// and a temporary an interrupted delivery left), as OpenSSH's `sftp ls` shows; the other
/// set stays intact; a second deletion finds them already absent; a directory in the way,
/// hostile names and a stopped server are errors that claim nothing.
#[test]
fn sftp_remove_set_deletes_exactly_that_set_as_openssh_sftp_lists_it() {
    if !have("sftp") {
        return;
    }
    let Some(mut s) = sshd() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(SftpStore::new(s.settings(s.key())))), DirTemplate::parse("rec/$Y", PathRules::Sftp).unwrap());
    let a = enqueue(&up, "del-a", &[("-caller.wav", 50_000), ("-callee.wav", 50_001)], 31, &["offsite"]);
    let b = enqueue(&up, "del-b", &[(".wav", 40_000)], 32, &["offsite"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 2, "{r:?}");
    let part = temp_name("del-a-callee.wav");
    std::fs::write(s.home().join("rec/2026").join(&part), b"partial").unwrap();
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.push(part.clone());
    assert_eq!(sftp_ls(&s, "rec/2026"), sorted(&all), "both sets are there before");
    assert!(a.iter().any(|n| n.ends_with(".sha256")) && a.iter().any(|n| n.ends_with(".sig")) && a.iter().any(|n| n.ends_with(".json")));

    let mut t = StoreTarget::new(SftpStore::new(s.settings(SftpAuth::Password("pw-Secret1".into()))));
    let dir = vec!["rec".to_owned(), "2026".to_owned()];
    fetch_back(&mut t, &dir, &b, &work.path().join("read-back"), "del-b");
    let done = t.remove_set(&dir, &a).unwrap();
    assert_eq!((done.removed, done.already_absent), (a.len(), 0), "{done:?}");
    assert!(done.location.contains("rec/2026"), "{done:?}");
    assert_eq!(sftp_ls(&s, "rec/2026"), sorted(&b), "exactly del-a's files and its temporary are gone");
    shasum_check(&s.home().join("rec/2026"), "del-b");

    let again = t.remove_set(&dir, &a).unwrap();
    assert_eq!((again.removed, again.already_absent), (0, a.len()), "{again:?}");

    // A directory of a file's name is not removed, and the error names target and file.
    std::fs::create_dir(s.home().join("rec/2026/x.wav")).unwrap();
    let e = t.remove_set(&dir, &["x.wav".to_owned()]).unwrap_err();
    assert!(e.to_string().contains("offsite") && e.to_string().contains("rec/2026/x.wav"), "{e}");
    assert!(!e.to_string().contains("pw-Secret1"), "{e}");
    assert!(s.home().join("rec/2026/x.wav").is_dir());

    // The server stopped: an error, nothing claimed, del-b still there.
    s.server.stop();
    let e = t.remove_set(&dir, &b).unwrap_err();
    assert!(matches!(e, TargetError::Connect { .. } | TargetError::Remote { .. }), "{e}");
    assert!(e.to_string().contains("offsite"), "{e}");
    let mut left = tree(&s.home().join("rec/2026"));
    left.retain(|n| !n.starts_with("x.wav"));
    assert_eq!(left, sorted(&b));

    // Hostile names are refused before anything is sent: with the server down, a request
    // would end in a connection error, not in BadName.
    t.disconnect();
    for (d, n) in [(dir.clone(), "../x"), (dir.clone(), "a/b"), (vec!["..".to_owned()], "del-b.wav"), (vec!["rec/../..".to_owned()], "del-b.wav")] {
        let e = t.remove_set(&d, &[n.to_owned()]).unwrap_err();
        assert!(matches!(e, TargetError::BadName { .. }), "{d:?} {n}: {e}");
    }
}
