//! cr-uploader end to end: the start-up log of a OneDrive target (S14) against the strict
//! Graph stand-in of cr-storage's tests, and an outage mail through a real SMTP server.
#![allow(clippy::unwrap_used)]

#[path = "../../../crates/cr-storage/tests/graph_fake/mod.rs"]
mod graph_fake;
mod support;

use std::path::Path;
use std::process::Command;

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
    let (keystore, _) = support::keystore(w.path(), &w.path().join("data"), "pbx-test");
    let cfg = w.path().join("callrec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[installation]\nmodule_id = \"pbx-test\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\n\n{keystore}[[targets]]\nname = \"m365\"\nkind = \"onedrive\"\ncloud = \"global\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret_env = \"CR_UPLOADER_TEST_SECRET\"\ndrive_user = \"{}\"\ndirectory = \"Recordings/$Y/$M/$D\"\nlogin_endpoint = \"{url}\"\ngraph_endpoint = \"{url}\"\n",
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

#[test]
fn failing_target_sends_one_outage_mail_per_run_and_keeps_the_set() {
    let Some(smtp) = support::smtpd() else { return };
    let w = tempfile::tempdir().unwrap();
    let cfg = w.path().join("callrec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[installation]\nmodule_id = \"pbx-mail\"\ndata_dir = \"{}\"\n\n[[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"{}\"\ndirectory = \"$Y\"\n\n[notify]\nemail_to = [\"ops@example.com\"]\nemail_from = \"callrec@example.com\"\nsmtp_server = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"none\"\nreminder_interval = \"1h\"\nmin_free_percent = 0\n",
            w.path().join("data").display(),
            w.path().join("missing").display(),
            smtp.port
        ),
    )
    .unwrap();
    enqueue(&w.path().join("data"), "ml1", "archive");
    let (code, err) = run_once(&cfg);
    assert_eq!(code, 1, "{err}");
    assert!(w.path().join("data/spool/ml1/ml1.wav").exists());
    let mail = smtp.wait_for(|_| true);
    assert!(mail.contains("upload to archive failing") && mail.contains("pbx-mail"), "{mail}");
    assert!(mail.contains("Sets waiting for this target: 1"), "{mail}");
}
