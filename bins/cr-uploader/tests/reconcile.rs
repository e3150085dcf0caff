//! `[reconcile]` in the uploader: the PBX's CDR file reconciled against the journal at the
//! schedule, the report mailed to a real SMTP server (aiosmtpd) when a call is MISSING.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

fn run(cfg: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-uploader")).arg("--config").arg(cfg).arg("--once").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// An installation with a folder target, the trading group, `[notify]` at `smtp_port` and
/// `[reconcile]` of `cdr.csv` (a CSV with a column map).
fn installation(dir: &Path, smtp_port: u16) -> std::path::PathBuf {
    let (keystore, _) = support::keystore(dir, &dir.join("data"), "pbx-test");
    std::fs::create_dir_all(dir.join("archive")).unwrap();
    let cfg = dir.join("callrec.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[installation]
module_id = "pbx-test"
data_dir = "{data}"
timezone = "UTC"

{keystore}[[targets]]
name = "archive"
kind = "folder"
path = "{archive}"

[[users]]
id = "alice"
numbers = ["201"]

[[groups]]
id = "trading"
number = "300"
members = ["alice"]

[[recordings]]
name = "trading"
groups = ["trading"]
targets = ["archive"]

[notify]
email_to = ["ops@example.com"]
email_from = "callrec@example.com"
smtp_server = "127.0.0.1"
smtp_port = {smtp_port}
smtp_tls = "none"
min_free_percent = 0

[reconcile]
cdr = "{cdr}"
format = "csv"
columns = "caller=from,callee=to,start=connected,duration=secs"
interval = "1h"
"#,
            data = dir.join("data").display(),
            archive = dir.join("archive").display(),
            cdr = dir.join("cdr.csv").display(),
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn a_missing_call_is_mailed_and_a_clean_file_is_not() {
    let Some(smtp) = support::smtpd() else { return };
    let w = tempfile::tempdir().unwrap();
    let cfg = installation(w.path(), smtp.port);
    // An incoming call to the trading group and an outgoing call of alice: no set for either.
    std::fs::write(
        w.path().join("cdr.csv"),
        "from,to,connected,secs\n+4930999888,300,2026-11-26T09:00:00Z,60\n201,+4930999777,2026-11-26T09:10:00Z,30\n",
    )
    .unwrap();
    let (code, err) = run(&cfg);
    assert_eq!(code, 1, "a MISSING call: exit 1 with --once; {err}");
    assert!(err.contains("reconciliation found problems"), "{err}");
    let mail = smtp.wait_for(|m| m.contains("reconciliation"));
    assert!(mail.contains("Subject: [callrec pbx-test] reconciliation: 2 MISSING, 0 SHORT, 0 bad rows"), "{mail}");
    assert!(mail.contains("MISSING line 2") && mail.contains("MISSING line 3"), "{mail}");
    assert!(!mail.contains("4930999888") && !mail.contains("4930999777"), "numbers in clear: {mail}");

    // A file whose only call the policy does not record: nothing to mail, exit 0.
    std::fs::write(w.path().join("cdr.csv"), "from,to,connected,secs\n+4930999888,399,2026-11-26T09:00:00Z,60\n").unwrap();
    let before = smtp.mails().len();
    let (code, err) = run(&cfg);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("reconciliation: every call as the policy says"), "{err}");
    assert_eq!(smtp.mails().len(), before, "no mail without a problem");
}

#[test]
fn a_bad_reconcile_section_exits_2_naming_the_key() {
    let w = tempfile::tempdir().unwrap();
    let cfg = installation(w.path(), 25);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("interval = \"1h\"", "interval = \"10s\"");
    std::fs::write(&cfg, text).unwrap();
    let (code, err) = run(&cfg);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("reconcile.interval"), "{err}");
}
