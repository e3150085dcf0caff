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

/// The session's CSRF token, from the sign-out form of any page.
fn csrf(c: &Console, session: &str) -> String {
    let body = c.get("/search", Some(session)).text().unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    body[at..].split('"').next().unwrap().to_owned()
}

fn post(c: &Console, path: &str, session: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = c.client.post(format!("{}{path}", c.url)).header("Cookie", format!("callrec_session={session}")).form(form).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn an_auditor_is_refused_the_operators_page_and_the_refusal_is_audited() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let s = c.session("aud");
    let r = c.get("/operators", Some(&s));
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().unwrap().contains("this page needs admin"));
    let token = csrf(&c, &s);
    let pw = "a new password 123";
    let (status, _) = post(&c, "/operators/add", &s, &[("csrf", &token), ("name", "mallory"), ("role", "admin"), ("password", pw), ("again", pw)]);
    assert_eq!(status, 403);
    let denied: Vec<_> = c.journal().audit_events(0, 10_000).unwrap().into_iter().filter(|e| e.kind == AuditKind::AccessDenied).collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().all(|e| e.actor.as_deref() == Some("aud") && e.details["needed"] == "admin"), "{denied:?}");
    assert!(c.journal().operators().unwrap().iter().all(|o| o.name != "mallory"), "nobody was added");
}

#[test]
fn an_admin_adds_an_operator_who_then_signs_in_and_cannot_disable_themself() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let s = c.session("root");
    let token = csrf(&c, &s);
    let pw = "carol's first password";
    // Without the form's token: refused, nothing added.
    let (status, _) = post(&c, "/operators/add", &s, &[("name", "carol"), ("role", "supervisor"), ("password", pw), ("again", pw)]);
    assert_eq!(status, 403);
    assert!(c.journal().operators().unwrap().iter().all(|o| o.name != "carol"));
    // Too short a password, and two that differ: refused by the same rules as crctl.
    let (status, body) = post(&c, "/operators/add", &s, &[("csrf", &token), ("name", "carol"), ("role", "supervisor"), ("password", "short"), ("again", "short")]);
    assert_eq!(status, 400);
    assert!(body.contains("at least") && !body.contains("value=\"short\""), "{body}");
    let (status, body) = post(&c, "/operators/add", &s, &[("csrf", &token), ("name", "carol"), ("role", "supervisor"), ("password", pw), ("again", "other")]);
    assert_eq!(status, 400);
    assert!(body.contains("The two passwords differ"), "{body}");
    let (status, _) = post(&c, "/operators/add", &s, &[("csrf", &token), ("name", "carol"), ("role", "supervisor"), ("password", pw), ("again", pw)]);
    assert_eq!(status, 303);
    let list = c.get("/operators", Some(&s)).text().unwrap();
    assert!(list.contains("<td class=\"name\">carol</td><td>supervisor</td>"), "{list}");
    let events = c.journal().audit_events(0, 10_000).unwrap();
    let added = events.iter().find(|e| e.kind == AuditKind::OperatorAdded && e.details.to_string().contains("carol")).unwrap();
    assert_eq!(added.actor.as_deref(), Some("root"), "{added:?}");
    // Carol signs in with the initial password.
    let (status, _, _) = c.sign_in("carol", pw);
    assert_eq!(status, 303);
    // Disabling oneself is refused; disabling carol works, audited under root, and she is out.
    let (status, body) = post(&c, "/operators/disable", &s, &[("csrf", &token), ("name", "root")]);
    assert_eq!(status, 400);
    assert!(body.contains("cannot disable their own account"), "{body}");
    assert!(c.journal().operators().unwrap().iter().find(|o| o.name == "root").unwrap().disabled_at.is_none());
    let (status, _) = post(&c, "/operators/disable", &s, &[("name", "carol")]);
    assert_eq!(status, 403, "no token, no change");
    let (status, _) = post(&c, "/operators/disable", &s, &[("csrf", &token), ("name", "carol")]);
    assert_eq!(status, 303);
    let events = c.journal().audit_events(0, 10_000).unwrap();
    let disabled = events.iter().find(|e| e.kind == AuditKind::OperatorDisabled).unwrap();
    assert_eq!(disabled.actor.as_deref(), Some("root"), "{disabled:?}");
    assert_eq!(c.sign_in("carol", pw).0, 401);
    // An unknown name is named, not a crash.
    let (status, body) = post(&c, "/operators/disable", &s, &[("csrf", &token), ("name", "nobody<x>")]);
    assert_eq!(status, 400);
    assert!(body.contains("nobody&lt;x&gt;"), "{body}");
}
