//! cr-uploader as operators run it: --once exit status, delivery, bad configuration.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

fn config(dir: &Path, archive: &Path, extra: &str) -> std::path::PathBuf {
    if !dir.join("data/keystore.p12").exists() {
        support::keystore(dir, &dir.join("data"), "pbx-test");
    }
    config_without_keystore(dir, archive, &support::keystore_section(dir), extra)
}

fn config_without_keystore(dir: &Path, archive: &Path, keystore: &str, extra: &str) -> std::path::PathBuf {
    let p = dir.join("callrec.toml");
    std::fs::write(
        &p,
        format!(
            "[installation]\nmodule_id = \"pbx-test\"\ndata_dir = \"{}\"\ntimezone = \"Europe/Berlin\"\n\n{keystore}[[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"{}\"\ndirectory = \"$Y/$M/$D\"\n{extra}",
            dir.join("data").display(),
            archive.display()
        ),
    )
    .unwrap();
    p
}

fn enqueue(data: &Path, id: &str) {
    let spool = cr_storage::Spool::open(data.join("spool")).unwrap();
    let d = spool.staging_dir(id).unwrap();
    std::fs::write(d.join(format!("{id}.wav")), b"RIFF....WAVE").unwrap();
    let out = Command::new("sha256sum").arg(format!("{id}.wav")).current_dir(&d).output().unwrap();
    std::fs::write(d.join(format!("{id}.sha256")), out.stdout).unwrap();
    let start = "2026-12-31T23:30:00Z".parse().unwrap();
    spool.enqueue(&d, id, &["archive".into()], start, chrono::Utc::now()).unwrap();
}

fn run(cfg: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-uploader")).arg("--config").arg(cfg).arg("--once").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn once_delivers_and_exits_0_or_1_while_pending() {
    let w = tempfile::tempdir().unwrap();
    let archive = w.path().join("archive");
    let cfg = config(w.path(), &archive, "");
    enqueue(&w.path().join("data"), "r1");
    // The archive does not exist yet: the set stays, exit 1.
    let (code, err) = run(&cfg);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not reachable"), "{err}");
    assert!(w.path().join("data/spool/r1/r1.wav").exists());
    std::fs::create_dir(&archive).unwrap();
    let (code, err) = run(&cfg);
    assert_eq!(code, 0, "{err}");
    // 23:30 UTC on 31 Dec is 00:30 on 1 Jan in Berlin.
    let dir = archive.join("2027/01/01");
    let st = Command::new("sha256sum").args(["-c", "r1.sha256"]).current_dir(&dir).status().unwrap();
    assert!(st.success());
    assert!(!w.path().join("data/spool/r1").exists());
    let metrics = std::fs::read_to_string(w.path().join("data/spool/uploader.prom")).unwrap();
    assert!(metrics.contains("callrec_spool_pending_sets 0"), "{metrics}");
    let (code, _) = run(&cfg);
    assert_eq!(code, 0, "nothing pending");
}

#[test]
fn bad_configuration_exits_2_naming_line_and_key() {
    let w = tempfile::tempdir().unwrap();
    let cfg = config(w.path(), &w.path().join("a"), "\n[[targets]]\nname = \"x\"\nkind = \"sftp\"\nserver = \"h\"\nusername = \"u\"\npassword_env = \"CR_UPLOADER_TEST_UNSET\"\nhost_key = \"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\"\ndirectory = \"../x\"\n");
    let (code, err) = run(&cfg);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key `targets[1].directory`") && err.contains("'..'"), "{err}");
    assert!(err.contains("CR_UPLOADER_TEST_UNSET"), "{err}");
}

#[test]
fn help_names_the_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-uploader")).arg("--help").output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(s.contains("--config") && s.contains("--once") && s.contains("Exit status"), "{s}");
}

#[test]
fn second_uploader_on_one_spool_exits_2_naming_the_first() {
    // Two uploaders on one spool would deliver every set twice.
    let w = tempfile::tempdir().unwrap();
    let archive = w.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let cfg = config(w.path(), &archive, "");
    let mut first = Command::new(env!("CARGO_BIN_EXE_cr-uploader")).arg("--config").arg(&cfg).stderr(std::process::Stdio::null()).spawn().unwrap();
    let lock = w.path().join("data/cr-uploader.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&lock).map_or(true, |t| t.trim() != first.id().to_string()) {
        assert!(first.try_wait().unwrap().is_none(), "the first uploader stopped");
        assert!(std::time::Instant::now() < deadline, "the first uploader did not take its lock");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, err) = run(&cfg);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("pid {}", first.id())) && err.contains("cr-uploader.lock"), "{err}");
    // Once the first is gone, the lock is free (the kernel dropped it with the process).
    let (code, err) = run(&cfg);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn folder_target_files_are_0640_and_folders_0750_with_the_configured_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let w = tempfile::tempdir().unwrap();
    let archive = w.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    // root may give any group; another user only its own.
    let me = std::fs::metadata("/proc/self").unwrap();
    let gid = if me.uid() == 0 { 65534 } else { me.gid() };
    let cfg = config(w.path(), &archive, &format!("group = \"{gid}\"\n"));
    enqueue(&w.path().join("data"), "r1");
    let (code, err) = run(&cfg);
    assert_eq!(code, 0, "{err}");
    let mut seen = 0;
    for rel in ["2027", "2027/01", "2027/01/01", "2027/01/01/r1.wav", "2027/01/01/r1.sha256"] {
        let m = std::fs::metadata(archive.join(rel)).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, if m.is_dir() { 0o750 } else { 0o640 }, "{rel}");
        assert_eq!(m.gid(), gid, "{rel}");
        seen += 1;
    }
    assert_eq!(seen, 5);
    // A group that does not exist is a configuration error naming the key.
    let cfg = config(w.path(), &archive, "group = \"no-such-group-here\"\n");
    let (code, err) = run(&cfg);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("group") && err.contains("no-such-group-here"), "{err}");
}

#[test]
fn a_keystore_that_cannot_be_opened_stops_the_deletion_pass_not_the_deliveries() {
    let w = tempfile::tempdir().unwrap();
    let archive = w.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let (_, _) = support::keystore(w.path(), &w.path().join("data"), "pbx-test");
    let wrong = w.path().join("wrong.pw");
    std::fs::write(&wrong, "not-the-Password-9").unwrap();
    let keystore = format!("[keystore]\npassword_file = \"{}\"\n\n", wrong.display());
    let cfg = config_without_keystore(w.path(), &archive, &keystore, "");
    enqueue(&w.path().join("data"), "r1");
    let (code, err) = run(&cfg);
    assert_eq!(code, 1, "the deletion pass could not run: {err}");
    assert!(archive.join("2027/01/01/r1.wav").exists(), "delivered all the same: {err}");
    assert!(!w.path().join("data/spool/r1").exists());
    let line = err.lines().find(|l| l.contains("deletion pass could not run")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("keystore"), "{line}");
    assert!(!err.contains("not-the-Password-9") && !err.contains(support::KEYSTORE_PW), "no password in the log: {err}");
    // With the right password the same installation passes.
    let cfg = config(w.path(), &archive, "");
    let (code, err) = run(&cfg);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("deletion pass could not run"), "{err}");
}
