//! Operator accounts, passwords, roles and the audit trail, through crctl as an operator
//! runs it. Expected outcomes worked out from the rules in docs/reference.md §4.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Install, PASSWORD, password_file};
use cr_journal::{AuditKind, AuditQuery};

fn kinds(inst: &Install) -> Vec<(AuditKind, Option<String>)> {
    inst.journal()
        .audit_trail(&AuditQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.event.kind, e.event.actor))
        .collect()
}

#[test]
fn the_first_admin_then_accounts_added_by_admins_only() {
    let inst = Install::new("");
    let dir = inst.dir.path();
    let root_pw = password_file(dir, "root", "root's long password");
    let aud_pw = password_file(dir, "aud", "auditor's long password");
    // The first operator: no --operator, must be an admin.
    let (code, _, err) = inst.crctl_with(None, &["operator", "add", "root", "--role", "supervisor", "--password-file", root_pw.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("must be an admin"), "{err}");
    let (code, out, err) = inst.crctl_with(None, &["operator", "add", "root", "--role", "admin", "--password-file", root_pw.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "ADDED root admin\n"), "{err}");
    // Nobody else adds themselves.
    let (code, _, err) = inst.crctl_with(None, &["operator", "add", "eve", "--role", "admin", "--password-file", aud_pw.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("an admin must add new ones"), "{err}");
    // An admin adds an auditor.
    let (code, out, err) = inst.crctl_with(
        Some(&root_pw),
        &["operator", "add", "aud", "--role", "auditor", "--password-file", aud_pw.to_str().unwrap(), "--operator", "root"],
    );
    assert_eq!((code, out.as_str()), (0, "ADDED aud auditor\n"), "{err}");
    // The auditor cannot add anyone: refused, audited, nothing added.
    let (code, _, err) = inst.crctl_with(
        Some(&aud_pw),
        &["operator", "add", "mallory", "--role", "admin", "--password-file", aud_pw.to_str().unwrap(), "--operator", "aud"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("operator \"aud\" has role auditor; adding an operator needs admin"), "{err}");
    let (code, out, err) = inst.crctl_with(Some(&aud_pw), &["operator", "list", "--operator", "aud"]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(names, ["aud", "root"]);
    assert!(out.lines().next().unwrap().starts_with("aud\tauditor\tcreated 20"), "{out}");
    assert!(out.contains("by root"), "{out}");
    assert_eq!(
        kinds(&inst),
        [
            (AuditKind::OperatorAdded, Some("root".into())),
            (AuditKind::OperatorAdded, Some("root".into())),
            (AuditKind::AccessDenied, Some("aud".into())),
        ]
    );
}

#[test]
fn a_wrong_password_is_refused_audited_and_never_echoed() {
    let inst = Install::new("");
    common::add_operators(&inst.journal());
    let wrong = password_file(inst.dir.path(), "wrong", "not the password at all");
    let before = inst.journal().operators().unwrap();
    let (code, out, err) = inst.crctl_with(Some(&wrong), &["operator", "disable", "aud", "--operator", "root"]);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert!(err.contains("refused: wrong operator name or password for \"root\""), "{err}");
    assert!(!err.contains("not the password"), "{err}");
    assert_eq!(inst.journal().operators().unwrap(), before, "nothing changed");
    // An unknown name gets the same answer.
    let (code, _, err) = inst.crctl(&["operator", "list", "--operator", "nobody"]);
    assert_eq!(code, 3);
    assert!(err.contains("wrong operator name or password for \"nobody\""), "{err}");
    let failed: Vec<Option<String>> =
        kinds(&inst).into_iter().filter(|(k, _)| *k == AuditKind::LoginFailed).map(|(_, a)| a).collect();
    assert_eq!(failed, [Some("root".to_owned()), Some("nobody".to_owned())]);
    // A password file others can read is refused before it is read.
    let open = inst.dir.path().join("open.pw");
    std::fs::write(&open, format!("{PASSWORD}\n")).unwrap();
    let (code, _, err) = inst.crctl_with(Some(&open), &["operator", "list", "--operator", "root"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("can be read by others (mode 644)") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    // No password source and no terminal.
    let (code, _, err) = inst.crctl_with(None, &["operator", "list", "--operator", "root"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("set CALLREC_OPERATOR_PASSWORD_FILE"), "{err}");
}

#[test]
fn a_disabled_operator_can_no_longer_search_and_the_last_admin_stays() {
    let inst = Install::new("");
    common::add_operators(&inst.journal());
    let (code, _, err) = inst.crctl(&["search", "--operator", "aud", "--number", "300"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = inst.crctl(&["operator", "disable", "aud", "--operator", "root"]);
    assert_eq!((code, out.as_str()), (0, "DISABLED aud\n"), "{err}");
    let (code, _, err) = inst.crctl(&["search", "--operator", "aud", "--number", "300"]);
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = inst.crctl(&["operator", "disable", "admin2", "--operator", "root"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = inst.crctl(&["operator", "disable", "root", "--operator", "root"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("last enabled admin"), "{err}");
    let (code, _, err) = inst.crctl(&["operator", "disable", "ghost", "--operator", "root"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("enabled operator \"ghost\" not found"), "{err}");
    // Search without an operator is not allowed at all.
    let (code, _, err) = inst.crctl(&["search", "--number", "300"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--operator"), "{err}");
    // The search that ran is in the audit trail with its query.
    let trail = inst.journal().audit_trail(&AuditQuery::default()).unwrap();
    let searched: Vec<_> = trail.iter().filter(|e| e.event.kind == AuditKind::Searched).collect();
    assert_eq!(searched.len(), 1);
    assert_eq!(searched[0].event.actor.as_deref(), Some("aud"));
    assert_eq!(searched[0].event.details["number"], "300");
}

#[test]
fn audit_lists_events_and_verify_catches_one_edited_row() {
    let inst = Install::new("");
    common::add_operators(&inst.journal());
    let (code, _, err) = inst.crctl(&["search", "--operator", "aud", "--number", "+49 30 999888"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = inst.crctl(&["audit", "--operator", "aud", "--json"]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 6, "5 operators added and one search: {out}");
    assert_eq!(events[5]["kind"], "searched");
    assert_eq!(events[5]["details"]["number"], "+49 30 999888");
    for w in events.windows(2) {
        assert_eq!(w[1]["prev_sha256"], w[0]["sha256"]);
    }
    let (code, out, err) = inst.crctl(&["audit", "--operator", "aud"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().nth(5).unwrap().contains("\tsearched\taud\t-\t"), "{out}");
    let (code, out, err) = inst.crctl(&["audit", "verify", "--operator", "aud"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("OK 6 events, head event "), "{out}");
    // Someone with write access to the database changes who searched.
    let db = rusqlite::Connection::open(inst.data.join("journal.sqlite")).unwrap();
    let id: i64 = db.query_row("SELECT id FROM audit_events WHERE kind = 'searched'", [], |r| r.get(0)).unwrap();
    db.execute("UPDATE audit_events SET actor = 'root' WHERE id = ?1", [id]).unwrap();
    let (code, out, err) = inst.crctl(&["audit", "verify", "--operator", "aud"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&format!("BROKEN event {id}: its content does not match its hash")), "{out}");
    assert!(out.contains("FAILED 1 of 6 events"), "{out}");
    // Listing needs an operator.
    let (code, _, err) = inst.crctl(&["audit"]);
    assert_eq!(code, 2);
    assert!(err.contains("--operator"), "{err}");
}

/// `oathtool --totp -b SECRET`: the current 6-digit code (the independent tool).
fn oathtool_now(secret: &str) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret])
        .output()
        .unwrap_or_else(|e| panic!("oathtool (Debian package oathtool) is needed for this test: {e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn totp_enroll_prints_the_secret_once_and_only_admins_enroll_or_disable() {
    let inst = Install::new("");
    common::add_operators(&inst.journal());
    // Not an admin: refused and audited, nothing enrolled.
    let (code, out, err) = inst.crctl_as("aud", &["operator", "totp", "enroll", "aud"]);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert!(!inst.journal().has_totp("aud").unwrap());

    let (code, out, err) = inst.crctl_as("root", &["operator", "totp", "enroll", "aud"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ENROLLED aud");
    let uri = lines[1].strip_prefix("uri\t").unwrap();
    let secret = lines[2].strip_prefix("secret\t").unwrap();
    assert_eq!(uri, format!("otpauth://totp/callrec:aud?secret={secret}&issuer=callrec&algorithm=SHA1&digits=6&period=30"));
    // The printed secret is the one the journal checks codes against (oathtool's code).
    assert_eq!(inst.journal().verify_totp("aud", &oathtool_now(secret), chrono::Utc::now()).unwrap(), Ok(()));

    let (code, _, err) = inst.crctl_as("aud", &["operator", "totp", "disable", "aud"]);
    assert_eq!(code, 3, "{err}");
    assert!(inst.journal().has_totp("aud").unwrap(), "still enrolled");
    let (code, out, err) = inst.crctl_as("root", &["operator", "totp", "disable", "aud"]);
    assert_eq!((code, out.as_str()), (0, "TOTP DISABLED aud\n"), "{err}");
    assert!(!inst.journal().has_totp("aud").unwrap());
    let (code, _, err) = inst.crctl_as("root", &["operator", "totp", "disable", "aud"]);
    assert_eq!(code, 2, "nothing to disable: {err}");
    assert!(err.contains("second factor of operator \"aud\""), "{err}");

    let trail: Vec<_> = kinds(&inst).into_iter().filter(|(k, _)| matches!(k, AuditKind::TotpEnrolled | AuditKind::TotpDisabled)).collect();
    assert_eq!(trail, [(AuditKind::TotpEnrolled, Some("root".into())), (AuditKind::TotpDisabled, Some("root".into()))]);
}
