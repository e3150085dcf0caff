//! The audit view, the operators page and the status page over HTTPS, against the same
//! installation as `console.rs` (tests/common).
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{TimeZone, Utc};
use common::{Console, have};
use cr_journal::AuditKind;

/// The `#` column (event ids) of the audit view's rows, in page order.
fn ids(body: &str) -> Vec<i64> {
    body.split("<tr class=\"event\"><td>").skip(1).map(|r| r.split('<').next().unwrap().parse().unwrap()).collect()
}

/// The value of `href` of the link with `id`, unescaped.
fn link(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\" href=\""))? + id.len() + 12;
    Some(body[at..].split('"').next().unwrap().replace("&amp;", "&"))
}

/// Seven `exported` events by `tester` a minute apart from 2020-01-01 00:00 UTC, and one
/// `searched` by them the next day; returns their ids, oldest first.
fn known_events(c: &Console) -> Vec<i64> {
    let j = c.journal();
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    for i in 0..7 {
        j.audit(&AuditKind::Exported, t0 + chrono::Duration::minutes(i), Some("tester"), None, &serde_json::json!({"n": i, "note": "<b>x</b>"})).unwrap();
    }
    j.audit(&AuditKind::Searched, t0 + chrono::Duration::days(1), Some("tester"), None, &serde_json::json!({})).unwrap();
    j.audit_events(0, 10_000).unwrap().into_iter().filter(|e| e.actor.as_deref() == Some("tester")).map(|e| e.id).collect()
}

#[test]
fn the_audit_view_filters_by_operator_kind_and_time_and_pages_at_the_boundaries() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let ids_known = known_events(&c);
    assert_eq!(ids_known.len(), 8);
    let s = c.session("aud");
    // By operator, 3 a page: 3 + 3 + 2, newest first, with next/previous links at the right ends.
    let r = c.get("/audit?operator=tester&size=3", Some(&s));
    assert_eq!(r.status().as_u16(), 200);
    let p1 = r.text().unwrap();
    assert!(p1.contains("class=\"ok\">Audit chain verified"), "{p1}");
    let newest: Vec<i64> = ids_known.iter().rev().copied().collect();
    assert_eq!(ids(&p1), newest[0..3], "{p1}");
    assert!(link(&p1, "newer").is_none(), "nothing is newer than the first page");
    let p2 = c.get(&link(&p1, "older").unwrap(), Some(&s)).text().unwrap();
    assert_eq!(ids(&p2), newest[3..6]);
    let p3 = c.get(&link(&p2, "older").unwrap(), Some(&s)).text().unwrap();
    assert_eq!(ids(&p3), newest[6..8]);
    assert!(link(&p3, "older").is_none(), "nothing is older than the last page");
    let back = c.get(&link(&p3, "newer").unwrap(), Some(&s)).text().unwrap();
    assert_eq!(ids(&back), newest[3..6]);
    // Details are escaped.
    assert!(p1.contains("&lt;b&gt;x&lt;/b&gt;") && !p1.contains("<b>x</b>"), "{p1}");

    // By kind: the seven exports only.
    let by_kind = c.get("/audit?operator=tester&kind=exported&size=50", Some(&s)).text().unwrap();
    assert_eq!(ids(&by_kind), newest[1..8]);
    // The kind alone, across operators: only searches are shown.
    let kinds = c.get("/audit?kind=searched", Some(&s)).text().unwrap();
    assert!(kinds.contains("<td class=\"kind\">searched</td>") && !kinds.contains("<td class=\"kind\">exported</td>"), "{kinds}");
    // By time: [00:02, 00:05) holds events 2, 3 and 4; the day filter the one of the next day.
    let by_time = c.get("/audit?from=2020-01-01T00:02:00Z&to=2020-01-01T00:04:59Z", Some(&s)).text().unwrap();
    assert_eq!(ids(&by_time), vec![ids_known[4], ids_known[3], ids_known[2]]);
    let by_day = c.get("/audit?from=2020-01-02&to=2020-01-02", Some(&s)).text().unwrap();
    assert_eq!(ids(&by_day), vec![ids_known[7]]);
    // The auditor's own sign-in is there under their name.
    let mine = c.get("/audit?operator=aud&kind=signed_in", Some(&s)).text().unwrap();
    assert_eq!(ids(&mine).len(), 1, "{mine}");
    // Bad filters are named, not a crash.
    let r = c.get("/audit?kind=made_up", Some(&s));
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("&quot;made_up&quot; is not an audit event kind"));
    let r = c.get("/audit?from=yesterday", Some(&s));
    assert_eq!(r.status().as_u16(), 400);
    // Not signed in: the sign-in form.
    assert_eq!(c.get("/audit", None).status().as_u16(), 303);
}

// Guards against: an edited audit row shown as if the trail were intact.
#[test]
fn the_audit_view_says_when_the_chain_does_not_verify() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let ids_known = known_events(&c);
    let s = c.session("aud");
    let raw = rusqlite::Connection::open(c.dir.path().join("data/journal.sqlite")).unwrap();
    raw.execute("UPDATE audit_events SET details = '{\"n\":99}' WHERE id = ?1", [ids_known[2]]).unwrap();
    let body = c.get("/audit", Some(&s)).text().unwrap();
    assert!(body.contains("Audit chain does NOT verify"), "{body}");
    assert!(body.contains(&format!("<li>event {}: its content does not match its hash", ids_known[2])), "{body}");
}
