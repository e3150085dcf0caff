//! Retention checks that run against every backend (SQLite in `retention.rs`, PostgreSQL
//! in `postgres.rs`): each takes a fresh, empty journal.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use cr_journal::{AuditKind, Extension, Journal, JournalError};

use super::{call, recording, sha, t};

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
}

/// Seals `set_id` expiring at `expires_at`.
fn seal_expiring(j: &Journal, set_id: &str, expires_at: Option<DateTime<Utc>>) {
    let c = j.record_call(&call("+4930999888", "300", t(0), true)).unwrap();
    let res = j.reserve_link(set_id, t(60)).unwrap();
    let seq = res.link().seq;
    let mut rec = recording(set_id, c, t(0), t(60), &[]);
    rec.expires_at = expires_at;
    res.commit(&sha(2000 + seq), &rec).unwrap();
}

fn expiry(j: &Journal, set_id: &str) -> Option<DateTime<Utc>> {
    j.recording(set_id).unwrap().unwrap().expires_at
}

fn extended_events(j: &Journal) -> Vec<cr_journal::AuditEvent> {
    j.audit_events(0, 1000).unwrap().into_iter().filter(|e| e.kind == AuditKind::RetentionExtended).collect()
}

pub fn extend_lengthens_audits_and_never_shortens(j: &Journal) {
    seal_expiring(j, "a", Some(at(2031, 11, 26)));
    seal_expiring(j, "b", Some(at(2033, 1, 1)));
    seal_expiring(j, "forever", None);
    let now = at(2027, 1, 1);
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    // A date before one set's expiry: refused for all, nothing changed.
    let e = j.extend_retention(&ids(&["a", "b"]), at(2032, 6, 1), now, "crctl:sup", "case 7").unwrap_err();
    assert!(matches!(e, JournalError::Invalid { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("set b expires later, at 2033-01-01T09:00:00.000Z") && text.contains("never shortened"), "{text}");
    assert_eq!((expiry(j, "a"), expiry(j, "b")), (Some(at(2031, 11, 26)), Some(at(2033, 1, 1))));
    // A date in the past, or now: refused.
    for until in [at(2026, 1, 1), now] {
        let e = j.extend_retention(&ids(&["a"]), until, now, "crctl:sup", "case 7").unwrap_err();
        assert!(e.to_string().contains("not in the future"), "{e}");
    }
    // An unknown set among known ones: refused, nothing changed.
    let e = j.extend_retention(&ids(&["a", "nope"]), at(2040, 1, 1), now, "crctl:sup", "case 7").unwrap_err();
    assert!(matches!(e, JournalError::Missing { .. }) && e.to_string().contains("\"nope\""), "{e}");
    // No reason, no set.
    assert!(j.extend_retention(&ids(&["a"]), at(2040, 1, 1), now, "crctl:sup", " ").is_err());
    assert!(j.extend_retention(&[], at(2040, 1, 1), now, "crctl:sup", "case 7").is_err());
    assert_eq!(expiry(j, "a"), Some(at(2031, 11, 26)));
    assert!(extended_events(j).is_empty(), "a refusal writes no audit event");

    // Lengthened: a and b move, the never-expiring set stays so; a named twice counts once.
    let out = j.extend_retention(&ids(&["a", "b", "forever", "a"]), at(2035, 12, 31), now, "crctl:sup", "case 7").unwrap();
    assert_eq!(
        out,
        vec![
            Extension::Extended { set_id: "a".into(), before: at(2031, 11, 26), after: at(2035, 12, 31) },
            Extension::Extended { set_id: "b".into(), before: at(2033, 1, 1), after: at(2035, 12, 31) },
            Extension::NeverExpires { set_id: "forever".into() },
        ]
    );
    assert_eq!((expiry(j, "a"), expiry(j, "b"), expiry(j, "forever")), (Some(at(2035, 12, 31)), Some(at(2035, 12, 31)), None));
    let events = extended_events(j);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].set_id.as_deref(), Some("a"));
    assert_eq!(events[0].actor.as_deref(), Some("crctl:sup"));
    assert_eq!(events[0].at, now);
    assert_eq!(
        events[0].details,
        serde_json::json!({"before": "2031-11-26T09:00:00.000Z", "after": "2035-12-31T09:00:00.000Z", "reason": "case 7"})
    );
    // The same date again: unchanged, no event; a shorter one now refused.
    let out = j.extend_retention(&ids(&["a"]), at(2035, 12, 31), now, "crctl:sup", "again").unwrap();
    assert_eq!(out, vec![Extension::Unchanged { set_id: "a".into(), expires_at: at(2035, 12, 31) }]);
    assert_eq!(extended_events(j).len(), 2);
    assert!(j.extend_retention(&ids(&["a"]), at(2034, 1, 1), now, "crctl:sup", "x").is_err());
    // Search shows the journal's (latest) expiry.
    let hits = j.search(&cr_journal::SearchQuery::default()).unwrap();
    let a = hits.iter().find(|h| h.set_id == "a").unwrap();
    assert_eq!(a.expires_at, Some(at(2035, 12, 31)));
}
