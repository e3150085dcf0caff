//! The daily list of sets flagged `quality` at sealing: mailed through a real SMTP server
//! (aiosmtpd) with each set's id, reasons and figures, and not again the same day. The
//! journal is filled as the recorder fills it (its own tests seal real calls).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

use cr_types::{LegQuality, QualityThresholds};

/// Seals `set_id` into the journal of `data` with these legs, as the recorder does.
fn seal(data: &Path, set_id: &str, legs: Vec<LegQuality>) -> Vec<String> {
    let j = cr_journal::Journal::open_sqlite(&data.join("journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
    let now = chrono::Utc::now();
    let call = j
        .record_call(&cr_journal::NewCall {
            pbx_call_id: format!("pbx-{set_id}"),
            direction: cr_journal::Direction::Incoming,
            caller: "+4930999888".into(),
            callee: "300".into(),
            diversions: vec![],
            started_at: now - chrono::Duration::seconds(20),
            record: true,
            configuration: Some("desk".into()),
            reason: "test".into(),
        })
        .unwrap();
    let q = QualityThresholds::default().assess(legs);
    let mut res = j.reserve_link(set_id, now).unwrap();
    res.record_quality(&q).unwrap();
    let seq = res.link().seq;
    res.commit(
        &format!("{seq:064x}"),
        &cr_journal::NewRecording {
            set_id: set_id.into(),
            call,
            configuration: "desk".into(),
            started_at: now - chrono::Duration::seconds(20),
            ended_at: now,
            channels: "stereo".into(),
            files: vec![],
            cert_fingerprint: "ab".repeat(32),
            flags: if q.flagged() { vec!["quality".into()] } else { vec![] },
            location: "/spool".into(),
            targets: vec![],
            expires_at: None,
        },
    )
    .unwrap();
    q.reasons
}

fn run_once(cfg: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-uploader")).arg("--config").arg(cfg).arg("--once").env("RUST_LOG", "info").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn flagged_sets_are_mailed_once_a_day_with_their_reasons_and_figures() {
    let Some(smtp) = support::smtpd() else { return };
    let w = tempfile::tempdir().unwrap();
    let data = w.path().join("data");
    let (keystore, _) = support::keystore(w.path(), &data, "pbx-q");
    let cfg = w.path().join("callrec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[installation]\nmodule_id = \"pbx-q\"\ndata_dir = \"{}\"\n\n{keystore}[notify]\nemail_to = [\"ops@example.com\"]\nemail_from = \"callrec@example.com\"\nsmtp_server = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"none\"\nmin_free_percent = 0\n",
            data.display(),
            smtp.port
        ),
    )
    .unwrap();
    // 25 of 500 lost: 5.00 %; a callee silent throughout: 100 %, one-sided.
    let lossy = LegQuality::from_counts("caller", true, 500, 475, 40, 76_000, 760);
    let fine = LegQuality::from_counts("callee", true, 500, 500, 20, 80_000, 800);
    let silent = LegQuality::from_counts("callee", true, 300, 300, 20, 48_000, 48_000);
    assert_eq!(seal(&data, "20261204T090000000Z-00000001", vec![lossy.clone(), fine.clone()]), ["loss"]);
    assert!(seal(&data, "20261204T090100000Z-00000002", vec![LegQuality { side: "caller".into(), ..fine.clone() }, fine.clone()]).is_empty());
    let third = seal(&data, "20261204T090200000Z-00000003", vec![LegQuality { side: "caller".into(), ..fine }, silent]);
    assert_eq!(third, ["silence", "one_sided"]);

    let (code, err) = run_once(&cfg);
    assert_eq!(code, 0, "{err}");
    let mail = smtp.wait_for_decoded(|m| m.contains("flagged for quality"));
    assert!(mail.contains("Subject: [callrec pbx-q] 2 recordings flagged for quality"), "{mail}");
    for w in [
        "20261204T090000000Z-00000001  sealed",
        "reasons: loss\n",
        "caller: 25 of 500 packets lost (5.00 %), longest gap 40 ms, silence 1.00 %",
        "20261204T090200000Z-00000003  sealed",
        "reasons: silence, one_sided",
        "callee: 0 of 300 packets lost (0.00 %), longest gap 20 ms, silence 100.00 % (silent throughout)",
        "crctl search --flag quality",
    ] {
        assert!(mail.contains(w), "{w:?} missing:\n{mail}");
    }
    assert!(!mail.contains("00000002"), "the clean set is not listed: {mail}");
    assert!(err.contains("flagged quality"), "{err}");

    // The same day: no second list, also for a set flagged since.
    seal(&data, "20261204T090300000Z-00000004", vec![lossy]);
    let (code, err) = run_once(&cfg);
    assert_eq!(code, 0, "{err}");
    let lists = smtp.mails().into_iter().filter(|m| m.contains("flagged for quality")).count();
    assert_eq!(lists, 1, "once a day");
    assert!(data.join("spool/quality-digest.json").exists());
}
