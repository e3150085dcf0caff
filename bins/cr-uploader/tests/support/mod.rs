//! The installation's keystore for the uploader's tests (the deletion pass needs it to seal
//! receipts and audit checkpoints), made as `crctl keys init` makes it.
#![allow(dead_code)]

use std::path::Path;

/// The keystore's password (in the file `keystore.pw` beside the configuration).
pub const KEYSTORE_PW: &str = "ks-Secret-1";

/// Creates `data/keystore.p12` and `dir/keystore.pw` and returns the `[keystore]` section
/// that names them; the identity is returned for sealing sets in the test.
pub fn keystore(dir: &Path, data: &Path, module_id: &str) -> (String, cr_sign::Identity) {
    std::fs::create_dir_all(data).unwrap();
    let identity = cr_sign::Identity::generate(module_id, chrono::Utc::now()).unwrap();
    identity.save_keystore(&data.join("keystore.p12"), KEYSTORE_PW, cr_sign::Cipher::default()).unwrap();
    std::fs::write(dir.join("keystore.pw"), KEYSTORE_PW).unwrap();
    (keystore_section(dir), identity)
}

/// The `[keystore]` section naming the password file [`keystore`] wrote into `dir`.
pub fn keystore_section(dir: &Path) -> String {
    format!("[keystore]\npassword_file = \"{}\"\n\n", dir.join("keystore.pw").display())
}

/// A real SMTP server (aiosmtpd, scripts/servers/smtpd.sh) on loopback, writing each mail
/// into a maildir; stopped on Drop.
pub struct Smtpd {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an SMTP server, or skips loudly (fails under CALLREC_TEST_STRICT=1) without aiosmtpd.
pub fn smtpd() -> Option<Smtpd> {
    use std::process::{Command, Stdio};
    let ok = Command::new("/usr/bin/python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"), "python3-aiosmtpd missing and CALLREC_TEST_STRICT=1");
        eprintln!("SKIPPED: python3-aiosmtpd is not installed");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    // exec in the script: the child is the server itself, so kill() stops it.
    let child = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/servers/smtpd.sh"))
        .arg(dir.path())
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Smtpd { child, port, dir };
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(s.child.try_wait().unwrap().is_none(), "smtpd.sh exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(s)
}

impl Smtpd {
    /// Every mail received so far.
    pub fn mails(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.dir.path().join("maildir/new")) else { return Vec::new() };
        rd.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect()
    }

    /// The first mail for which `pick` holds, waiting for it (generous deadline: a mail the
    /// program sent arrives within it; a mail it never sent fails the test).
    /// The first mail `pick` accepts, its quoted-printable body decoded (soft line breaks
    /// joined, `=XX` turned back into its byte).
    pub fn wait_for_decoded(&self, pick: impl Fn(&str) -> bool) -> String {
        let raw = self.wait_for(pick);
        let joined = raw.replace("=\r\n", "").replace("=\n", "");
        let b = joined.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
            match (b[i], hex) {
                (b'=', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn wait_for(&self, pick: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(m) = self.mails().into_iter().find(|m| pick(m)) {
                return m;
            }
            assert!(std::time::Instant::now() < deadline, "no such mail; received: {:?}", self.mails());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
