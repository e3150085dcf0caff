//! The second factor on every backend (SQLite in `trail.rs`, PostgreSQL in `postgres.rs`).
//! Expected codes come from `oathtool` (Debian package `oathtool`), not from the code
//! under test.
#![allow(dead_code, clippy::unwrap_used)]

use super::t;
use chrono::{DateTime, Utc};
use cr_journal::{AuditKind, AuditQuery, Journal, JournalError, Role, TotpRefusal};

const PW: &str = "correct horse battery";

/// `oathtool --totp -b SECRET -N @EPOCH`: the 6-digit code of `secret` (base32) at `at`.
pub fn oathtool(secret: &str, at: DateTime<Utc>) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{}", at.timestamp())])
        .output()
        .unwrap_or_else(|e| panic!("oathtool (Debian package oathtool) is needed for this test: {e}"));
    assert!(out.status.success(), "oathtool: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn second_factor_is_enrolled_used_once_and_disabled(j: &Journal) {
    j.add_operator("root", Role::Admin, PW, None, t(0)).unwrap();
    j.add_operator("anna", Role::Auditor, PW, Some("root"), t(0)).unwrap();
    assert!(!j.has_totp("anna").unwrap());
    assert_eq!(j.verify_totp("anna", "123456", t(0)).unwrap(), Err(TotpRefusal::NotEnrolled));

    // Only an enabled admin enrolls, and only an enabled operator.
    let e = j.enroll_totp("anna", "anna", t(0)).unwrap_err();
    assert!(e.to_string().contains("not an enabled admin"), "{e}");
    assert!(matches!(j.enroll_totp("nobody", "root", t(0)), Err(JournalError::Missing { .. })));
    assert!(!j.has_totp("anna").unwrap(), "a refusal stores nothing");

    let e = j.enroll_totp("anna", "root", t(0)).unwrap();
    assert_eq!(e.secret_base32.len(), 32, "160 bits in base32");
    assert!(!format!("{e:?}").contains(&e.secret_base32), "Debug never shows the secret");
    assert_eq!(
        e.uri,
        format!("otpauth://totp/callrec:anna?secret={}&issuer=callrec&algorithm=SHA1&digits=6&period=30", e.secret_base32)
    );
    assert!(j.has_totp("anna").unwrap());
    let s = &e.secret_base32;

    // t(0) lies on a step boundary (09:00:00); steps are 30 s.
    let now = t(90);
    assert_eq!(j.verify_totp("anna", &oathtool(s, now), now).unwrap(), Ok(()));
    assert_eq!(j.verify_totp("anna", &oathtool(s, now), now).unwrap(), Err(TotpRefusal::Replayed), "a code is good once");
    assert_eq!(
        j.verify_totp("anna", &oathtool(s, t(60)), now).unwrap(),
        Err(TotpRefusal::Replayed),
        "the step before the last used one is inside the window but spent"
    );
    // One step either side of now; two steps is too far.
    assert_eq!(j.verify_totp("anna", &oathtool(s, t(180)), t(210)).unwrap(), Ok(()), "one step old");
    assert_eq!(j.verify_totp("anna", &oathtool(s, t(270)), t(240)).unwrap(), Ok(()), "one step ahead");
    assert_eq!(j.verify_totp("anna", &oathtool(s, t(300)), t(360)).unwrap(), Err(TotpRefusal::Wrong), "two steps old");
    assert_eq!(j.verify_totp("anna", &oathtool(s, t(420)), t(360)).unwrap(), Err(TotpRefusal::Wrong), "two steps ahead");
    let right = oathtool(s, t(600));
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    for bad in [wrong.as_str(), "", "12345", "1234567", "abcdef", "١٢٣٤٥٦"] {
        assert_eq!(j.verify_totp("anna", bad, t(600)).unwrap(), Err(TotpRefusal::Wrong), "{bad:?}");
    }
    assert_eq!(j.verify_totp("anna", &right, t(600)).unwrap(), Ok(()), "wrong codes did not spend the step");
    // The code of another operator's secret is not anna's.
    assert_eq!(j.verify_totp("root", &right, t(600)).unwrap(), Err(TotpRefusal::NotEnrolled));

    // A new secret (a lost phone) replaces the old one.
    let e2 = j.enroll_totp("anna", "root", t(700)).unwrap();
    assert_ne!(e2.secret_base32, e.secret_base32);
    let old = oathtool(s, t(900));
    if old != oathtool(&e2.secret_base32, t(900)) {
        assert_eq!(j.verify_totp("anna", &old, t(900)).unwrap(), Err(TotpRefusal::Wrong), "the old secret is gone");
    }
    assert_eq!(j.verify_totp("anna", &oathtool(&e2.secret_base32, t(900)), t(900)).unwrap(), Ok(()));

    // Disabling: admin only, then no second factor; twice is Missing.
    let e3 = j.disable_totp("anna", "anna", t(1000)).unwrap_err();
    assert!(e3.to_string().contains("not an enabled admin"), "{e3}");
    j.disable_totp("anna", "root", t(1000)).unwrap();
    assert!(!j.has_totp("anna").unwrap());
    assert!(matches!(j.disable_totp("anna", "root", t(1001)), Err(JournalError::Missing { .. })));

    // Audited under the admin's name, never with the secret.
    let trail = j.audit_trail(&AuditQuery::default()).unwrap();
    let totp: Vec<_> = trail
        .iter()
        .filter(|e| matches!(e.event.kind, AuditKind::TotpEnrolled | AuditKind::TotpDisabled))
        .map(|e| (e.event.kind.as_str().to_owned(), e.event.actor.clone().unwrap_or_default(), e.event.details.to_string()))
        .collect();
    assert_eq!(totp.len(), 3, "{totp:?}");
    assert_eq!((totp[0].0.as_str(), totp[0].1.as_str()), ("totp_enrolled", "root"));
    assert!(totp[0].2.contains("\"replaced\":false") && totp[1].2.contains("\"replaced\":true"), "{totp:?}");
    assert_eq!((totp[2].0.as_str(), totp[2].1.as_str()), ("totp_disabled", "root"));
    for e in &trail {
        let d = e.event.details.to_string();
        assert!(!d.contains(&e2.secret_base32) && !d.contains(s.as_str()), "a secret in the audit trail: {d}");
    }
}
