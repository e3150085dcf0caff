//! crctl keys init / cert / seal / config check ([keystore] part), as an operator runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Install {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Install {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"pbx-test\"\ndata_dir = \"{}\"\n\n[keystore]\npassword_env = \"CRCTL_TEST_PW\"\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    fn crctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("CRCTL_TEST_PW", "pw-1234")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

fn openssl_fingerprint(pem: &Path) -> Option<String> {
    let out = Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(pem).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(text.trim().split_once('=')?.1.to_owned())
}

#[test]
fn keys_init_creates_once_and_cert_prints_pem_and_fingerprint() {
    let inst = Install::new("");
    let (code, out, err) = inst.crctl(&["keys", "init"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}");
    assert!(inst.data().join("keystore.p12").exists());
    assert!(inst.data().join("cert.pem").exists());
    // Private by default (regression: data_dir 0755, journal 0644).
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(inst.data().join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(""), 0o700, "data_dir");
    assert_eq!(mode("keystore.p12"), 0o600);
    assert_eq!(mode("journal.sqlite"), 0o600);

    let (code, _, err) = inst.crctl(&["keys", "init"]);
    assert_eq!(code, 2);
    assert!(err.contains("exists already"), "{err}");
    // The journal's audit trail starts with the key.
    let journal = cr_journal::Journal::open_sqlite(&inst.data().join("journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
    let events = journal.audit_events(0, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, cr_journal::AuditKind::KeyCreated);
    assert_eq!(events[0].details["subject"], "Call Recording pbx-test");

    let (code, out, err) = inst.crctl(&["--log", "info", "cert"]);
    assert_eq!(code, 0, "{err}");
    let fp_line = out.lines().find(|l| l.starts_with("SHA-256 fingerprint: ")).unwrap();
    let fp = fp_line.trim_start_matches("SHA-256 fingerprint: ");
    // Logged at INFO on start, with the PEM (S14, S19).
    assert!(err.contains(fp) && err.contains("BEGIN CERTIFICATE"), "{err}");
    if let Some(expected) = openssl_fingerprint(&inst.data().join("cert.pem")) {
        assert_eq!(fp, expected);
    }
}

#[test]
fn seal_writes_checksum_and_signature_beside_the_files() {
    let inst = Install::new("");
    assert_eq!(inst.crctl(&["keys", "init"]).0, 0);
    let set = inst.dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(set.join("r1.json"), "{}").unwrap();
    std::fs::write(set.join("r1.wav"), "RIFF").unwrap();
    let (code, out, err) = inst.crctl(&[
        "seal",
        "--id",
        "r1",
        set.join("r1.json").to_str().unwrap(),
        set.join("r1.wav").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("r1.sha256") && out.contains("r1.sha256.SHA256withRSA.sig"));
    let text = std::fs::read_to_string(set.join("r1.sha256")).unwrap();
    assert!(text.ends_with("  r1.wav\n"), "{text}");
    let cert = cr_sign::Certificate::load(inst.data().join("cert.pem")).unwrap();
    assert!(cr_sign::verify_set(&set.join("r1.sha256"), &cert).is_ok());
}

#[test]
fn seal_never_replaces_a_seal() {
    // Regression: a second `crctl seal` overwrote the first seal silently.
    let inst = Install::new("");
    assert_eq!(inst.crctl(&["keys", "init"]).0, 0);
    let set = inst.dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(set.join("r1.wav"), "RIFF first").unwrap();
    let wav = set.join("r1.wav");
    assert_eq!(inst.crctl(&["seal", "--id", "r1", wav.to_str().unwrap()]).0, 0);
    let first = std::fs::read(set.join("r1.sha256")).unwrap();
    std::fs::write(&wav, "RIFF other content").unwrap();
    let (code, _, err) = inst.crctl(&["seal", "--id", "r1", wav.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("r1.sha256") && err.contains("sealed already"), "{err}");
    assert_eq!(std::fs::read(set.join("r1.sha256")).unwrap(), first, "the first seal is untouched");
}

#[test]
fn seal_refuses_files_not_named_as_the_set_and_links() {
    // Regression: `crctl seal --id x /etc/passwd` wrote x.sha256 into /etc.
    let inst = Install::new("");
    assert_eq!(inst.crctl(&["keys", "init"]).0, 0);
    let dir = inst.dir.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("passwd"), "root:x:0:0").unwrap();
    let (code, _, err) = inst.crctl(&["seal", "--id", "r1", dir.join("passwd").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a file of set r1") && !err.contains("root:x"), "{err}");
    std::os::unix::fs::symlink(dir.join("passwd"), dir.join("r1.wav")).unwrap();
    let (code, _, err) = inst.crctl(&["seal", "--id", "r1", dir.join("r1.wav").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!dir.join("r1.sha256").exists());
}

#[test]
fn wrong_password_and_missing_keystore_exit_2_with_the_file_named() {
    let inst = Install::new("");
    assert_eq!(inst.crctl(&["keys", "init"]).0, 0);
    let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
        .arg("--config")
        .arg(&inst.config)
        .arg("cert")
        .env("CRCTL_TEST_PW", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keystore password is wrong") && err.contains("keystore.p12"), "{err}");

    let inst = Install::new("");
    let (code, _, err) = inst.crctl(&["cert"]);
    assert_eq!(code, 2);
    assert!(err.contains("keystore.p12"), "{err}");
}

#[test]
fn config_check_names_file_line_and_key() {
    let inst = Install::new("cipher = \"rot13\"\n");
    let (code, _, err) = inst.crctl(&["config", "check"]);
    assert_eq!(code, 1);
    assert!(err.contains("callrec.toml:7: key `cipher`"), "{err}");

    let inst = Install::new("password = \"hunter2\"\n");
    let (code, _, err) = inst.crctl(&["config", "check"]);
    assert_eq!(code, 1);
    assert!(err.contains(":7: key `keystore.password`") && !err.contains("hunter2"), "{err}");

    // The variable named by password_env is not set.
    let inst = Install::new("");
    let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
        .arg("--config")
        .arg(&inst.config)
        .args(["config", "check"])
        .env_remove("CRCTL_TEST_PW")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":6: key `keystore.password_env`") && err.contains("CRCTL_TEST_PW"), "{err}");

    let inst = Install::new("");
    let (code, out, err) = inst.crctl(&["config", "check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK"));
}
