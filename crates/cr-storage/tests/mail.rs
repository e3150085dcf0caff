//! Outage and disk-space mails through a real SMTP server (aiosmtpd, scripts/servers/smtpd.sh),
//! read back from its Maildir.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use cr_storage::*;

fn smtpd(tls: Option<(&Path, &Path, &str)>) -> Option<(Server, tempfile::TempDir)> {
    if !have("/usr/bin/python3") {
        return None;
    }
    let ok = Command::new("/usr/bin/python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(!strict(), "python3-aiosmtpd is not installed and CALLREC_TEST_STRICT=1");
        eprintln!("SKIPPED: python3-aiosmtpd is not installed");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let args: Vec<String> =
        tls.map(|(c, k, mode)| vec![c.display().to_string(), k.display().to_string(), mode.to_owned()]).unwrap_or_default();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start("smtpd.sh", &tmp.path().join("smtp"), port, &args);
    Some((s, tmp))
}

/// Messages in the Maildir, oldest first (by the order the server stored them).
fn mails(server: &Server, expect: usize) -> Vec<String> {
    let dir = server.dir.join("maildir/new");
    loop {
        let mut v: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| (e.metadata().unwrap().modified().unwrap(), std::fs::read_to_string(e.path()).unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        if v.len() >= expect {
            v.sort_by_key(|a| a.0);
            return v.into_iter().map(|x| x.1).collect();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn unfold(m: &str) -> String {
    m.replace("=\r\n", "").replace("=\n", "").replace("\r\n ", " ").replace("\n ", " ")
}

#[test]
fn outage_mails_once_at_start_then_reminders_then_once_at_recovery() {
    let Some((server, _tmp)) = smtpd(None) else { return };
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("archive");
    let mut up = uploader(work.path());
    up.add_target(Box::new(StoreTarget::new(FolderStore::new("archive", &archive))), DirTemplate::parse("$Y", PathRules::Folder).unwrap());
    up.set_notifications(std::time::Duration::from_secs(3600), 0.0);
    let mut ms = MailSettings::new("127.0.0.1", "callrec@example.com", &["pbx-admin@example.com"], "pbx-berlin-01");
    ms.port = Some(server.port);
    ms.security = SmtpSecurity::None;
    let mailer = Mailer::new(ms).unwrap();
    enqueue(&up, "m1", &[(".wav", 1000)], 31, &["archive"]);
    enqueue(&up, "m2", &[(".wav", 1000)], 32, &["archive"]);

    let mut sent = 0;
    let mut step = |minutes: i64| {
        let now = t0() + chrono::Duration::minutes(minutes);
        let r = up.pass(&|| now, &|_| {});
        for n in &r.notices {
            mailer.send(n).unwrap();
            sent += 1;
        }
        r
    };
    let r = step(0); // outage starts: mail 1
    assert_eq!(r.notices.len(), 1);
    for m in [5, 20, 45] {
        assert!(step(m).notices.is_empty(), "no mail per attempt");
    }
    assert_eq!(step(61).notices.len(), 1); // reminder: mail 2
    assert!(step(90).notices.is_empty());
    std::fs::create_dir(&archive).unwrap();
    let r = step(125); // recovered: mail 3
    assert_eq!(r.notices.len(), 1);
    assert_eq!(r.delivered, 2);
    assert!(step(130).notices.is_empty());
    assert_eq!(sent, 3);

    let got = mails(&server, 3);
    assert_eq!(got.len(), 3);
    let (start, reminder, over) = (unfold(&got[0]), unfold(&got[1]), unfold(&got[2]));
    assert!(start.contains("X-RcptTo: pbx-admin@example.com"), "{start}");
    assert!(start.contains("Subject: [callrec pbx-berlin-01] upload to archive failing"), "{start}");
    assert!(start.contains("does not exist"), "names the error: {start}");
    assert!(start.contains("Sets waiting for this target: 2"), "{start}");
    assert!(start.contains("Oldest waiting set: 2026-03-07T10:00:00"), "{start}");
    assert!(reminder.contains("still failing"), "{reminder}");
    assert!(reminder.contains("1 h 1 min"), "age of the outage: {reminder}");
    assert!(over.contains("works again"), "{over}");
    assert!(over.contains("2 h 5 min"), "{over}");
    shasum_check(&archive.join("2026"), "m1");
}

#[test]
fn low_disk_space_warns_once() {
    let Some((server, _tmp)) = smtpd(None) else { return };
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    // 100 % as the threshold: any real file system is "low".
    up.set_notifications(std::time::Duration::from_secs(3600), 100.0);
    let mut ms = MailSettings::new("127.0.0.1", "callrec@example.com", &["ops@example.com"], "pbx1");
    ms.port = Some(server.port);
    ms.security = SmtpSecurity::None;
    let mailer = Mailer::new(ms).unwrap();
    let r = up.pass(&t0, &|_| {});
    assert!(r.free_percent.is_some());
    assert_eq!(r.notices.len(), 1);
    assert_eq!(r.notices[0].kind, NoticeKind::LowSpace);
    mailer.send(&r.notices[0]).unwrap();
    assert!(up.pass(&|| later(1), &|_| {}).notices.is_empty());
    let got = unfold(&mails(&server, 1)[0]);
    assert!(got.contains("spool disk space low") && got.contains("Free space"), "{got}");
}

/// A test CA and a leaf for localhost/127.0.0.1 signed by it (rustls refuses a
/// self-signed CA used as the server certificate).
fn pki() -> Option<tempfile::TempDir> {
    if !have("openssl") {
        return None;
    }
    let pki = tempfile::tempdir().unwrap();
    let sh = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -subj /CN=test-ca -days 2 -addext basicConstraints=critical,CA:TRUE 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=localhost 2>/dev/null; \
         printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext; \
         openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext 2>/dev/null",
        d = pki.path().display()
    );
    assert!(Command::new("sh").arg("-c").arg(sh).status().unwrap().success());
    Some(pki)
}

fn tls_round(mode: &str, security: SmtpSecurity) {
    let Some(pki) = pki() else { return };
    let p = pki.path();
    let Some((server, _tmp)) = smtpd(Some((&p.join("leaf.pem"), &p.join("leaf.key"), mode))) else { return };
    let mut ms = MailSettings::new("localhost", "callrec@example.com", &["ops@example.com"], "pbx1");
    ms.port = Some(server.port);
    ms.security = security;
    // Without the CA the server is not trusted ...
    let e = Mailer::new(ms.clone()).unwrap().send(&sample()).unwrap_err();
    assert!(e.to_string().contains("localhost"), "{e}");
    // ... with it, the mail goes out.
    ms.ca_file = Some(p.join("ca.pem"));
    Mailer::new(ms).unwrap().send(&sample()).unwrap();
    assert!(mails(&server, 1)[0].contains("upload to nas failing"));
}

#[test]
fn starttls_with_a_private_ca() {
    tls_round("starttls", SmtpSecurity::StartTls);
}

#[test]
fn implicit_tls_with_a_private_ca() {
    tls_round("smtps", SmtpSecurity::Tls);
}

fn sample() -> Notice {
    let mut n = Notifier::new(std::time::Duration::from_secs(60));
    n.observe("nas", Err("connection refused"), t0(), Backlog::new(1, Some(t0()))).unwrap()
}
