//! cr-uploader end to end: the start-up log of a OneDrive target (S14) against the strict
//! Graph stand-in of cr-storage's tests, and an outage mail through a real SMTP server.
#![allow(clippy::unwrap_used)]

#[path = "../../../crates/cr-storage/tests/graph_fake/mod.rs"]
mod graph_fake;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn enqueue(data: &Path, id: &str, target: &str) {
    let spool = cr_storage::Spool::open(data.join("spool")).unwrap();
    let d = spool.staging_dir(id).unwrap();
    std::fs::write(d.join(format!("{id}.wav")), vec![7u8; 5 << 20]).unwrap();
    std::fs::write(d.join(format!("{id}.json")), b"{}").unwrap();
    let out = Command::new("sha256sum").arg(format!("{id}.json")).arg(format!("{id}.wav")).current_dir(&d).output().unwrap();
    std::fs::write(d.join(format!("{id}.sha256")), out.stdout).unwrap();
    let start = "2026-03-07T09:05:01Z".parse().unwrap();
    spool.enqueue(&d, id, &[target.to_owned()], start, chrono::Utc::now()).unwrap();
}

fn run_once(cfg: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-uploader"))
        .arg("--config")
        .arg(cfg)
        .arg("--once")
        .env("RUST_LOG", "info")
        .env("CR_UPLOADER_TEST_SECRET", graph_fake::SECRET)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn onedrive_target_logs_cloud_tenant_and_drive_at_start_and_delivers() {
    let fake = graph_fake::Fake::start(50);
    let w = tempfile::tempdir().unwrap();
    let cfg = w.path().join("callrec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[installation]\nmodule_id = \"pbx-test\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\n\n[[targets]]\nname = \"m365\"\nkind = \"onedrive\"\ncloud = \"global\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret_env = \"CR_UPLOADER_TEST_SECRET\"\ndrive_user = \"{}\"\ndirectory = \"Recordings/$Y/$M/$D\"\nlogin_endpoint = \"{url}\"\ngraph_endpoint = \"{url}\"\n",
            w.path().join("data").display(),
            graph_fake::TENANT,
            graph_fake::CLIENT,
            graph_fake::USER,
            url = fake.url
        ),
    )
    .unwrap();
    enqueue(&w.path().join("data"), "od9", "m365");
    let (code, err) = run_once(&cfg);
    assert_eq!(code, 0, "{err}");
    for w in ["onedrive cloud global", graph_fake::TENANT, graph_fake::USER, "reachable: drive b!fake-drive"] {
        assert!(err.contains(w), "{w:?} missing from the start-up log:\n{err}");
    }
    let st = fake.state();
    assert!(st.protocol_errors.is_empty(), "{:?}", st.protocol_errors);
    assert_eq!(st.files["Recordings/2026/03/07/od9.wav"], vec![7u8; 5 << 20]);
    assert!(st.files.contains_key("Recordings/2026/03/07/od9.sha256"));
}

struct Smtpd(Child, u16, tempfile::TempDir);

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn smtpd() -> Option<Smtpd> {
    let ok = Command::new("/usr/bin/python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"), "python3-aiosmtpd missing and CALLREC_TEST_STRICT=1");
        eprintln!("SKIPPED: python3-aiosmtpd is not installed");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    // exec in the script: the child is the server itself, so kill() stops it.
    let child = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/servers/smtpd.sh"))
        .arg(tmp.path())
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Smtpd(child, port, tmp);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(s.0.try_wait().unwrap().is_none(), "smtpd.sh exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(s)
}

#[test]
fn failing_target_sends_one_outage_mail_per_run_and_keeps_the_set() {
    let Some(smtp) = smtpd() else { return };
    let w = tempfile::tempdir().unwrap();
    let cfg = w.path().join("callrec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[installation]\nmodule_id = \"pbx-mail\"\ndata_dir = \"{}\"\n\n[[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"{}\"\ndirectory = \"$Y\"\n\n[notify]\nemail_to = [\"ops@example.com\"]\nemail_from = \"callrec@example.com\"\nsmtp_server = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"none\"\nreminder_interval = \"1h\"\nmin_free_percent = 0\n",
            w.path().join("data").display(),
            w.path().join("missing").display(),
            smtp.1
        ),
    )
    .unwrap();
    enqueue(&w.path().join("data"), "ml1", "archive");
    let (code, err) = run_once(&cfg);
    assert_eq!(code, 1, "{err}");
    assert!(w.path().join("data/spool/ml1/ml1.wav").exists());
    let new = smtp.2.path().join("maildir/new");
    let mail = loop {
        if let Some(e) = std::fs::read_dir(&new).ok().and_then(|mut rd| rd.next()) {
            break std::fs::read_to_string(e.unwrap().path()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(mail.contains("upload to archive failing") && mail.contains("pbx-mail"), "{mail}");
    assert!(mail.contains("Sets waiting for this target: 1"), "{mail}");
}
