//! Holds and four-eyes approval in a real browser (headless Chromium through WebDriver):
//! a supervisor places a hold and asks for its release, their own approval is refused, a
//! second supervisor's is accepted; a form whose CSRF field was removed is refused; an
//! auditor who reaches a supervisor's form is refused. Screenshots go to
//! `<target>/browser-shots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Console, SET, browser_sign_in, have};
use cr_browser_test::Browser;

const WAIT: Duration = Duration::from_secs(60);

fn sign_in(b: &Browser, c: &Console, name: &str) {
    b.goto(&format!("{}/signin", c.url)).unwrap();
    browser_sign_in(b, name);
}

fn sign_out(b: &Browser, c: &Console) {
    b.goto(&format!("{}/search", c.url)).unwrap();
    b.wait_for("h1", |t| t == "Search", WAIT).unwrap();
    b.click("#signout").unwrap();
    b.wait_for("h1", |t| t == "Sign in", WAIT).unwrap();
}

#[test]
fn a_hold_release_needs_a_second_supervisor_and_forms_without_their_token_or_role_are_refused() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    c.add_supervisors();
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };

    sign_in(&b, &c, "sup1");
    b.goto(&format!("{}/holds", c.url)).unwrap();
    b.fill("#case", "FCA-2026-17").unwrap();
    b.fill("#hold-reason", "market abuse inquiry").unwrap();
    b.fill("#sets", SET).unwrap();
    b.click("#do-place").unwrap();
    b.goto(&format!("{}/holds", c.url)).unwrap();
    let row = b.wait_for("#holds tr.hold", |t| t.contains("FCA-2026-17"), WAIT).unwrap();
    assert!(row.contains("market abuse inquiry") && row.contains("sup1"), "{row}");
    assert_eq!(c.journal().hold_of(SET).unwrap().as_deref(), Some("FCA-2026-17"));
    b.fill("input[name='reason']", "inquiry closed").unwrap();
    b.click("button.release").unwrap();
    b.goto(&format!("{}/requests", c.url)).unwrap();
    b.wait_for("#requests tr.request", |t| t.contains("release hold FCA-2026-17"), WAIT).unwrap();
    b.shot("console-requests").unwrap();
    // The requester's own approval: refused, and the hold stands.
    b.click("button.approve").unwrap();
    let refused = b.wait_for("#message", |t| !t.is_empty(), WAIT).unwrap();
    assert!(refused.contains("different supervisor"), "{refused}");
    b.shot("console-approval-refused").unwrap();
    assert_eq!(c.journal().hold_of(SET).unwrap().as_deref(), Some("FCA-2026-17"), "the hold still stands");

    // A form whose CSRF field a page script (or an attacker's page) removed: refused.
    b.goto(&format!("{}/holds", c.url)).unwrap();
    b.wait_for("h1", |t| t == "Legal holds", WAIT).unwrap();
    b.eval("document.querySelector('#place input[name=csrf]').remove(); return null").unwrap();
    b.fill("#case", "NO-TOKEN").unwrap();
    b.fill("#hold-reason", "should not be placed").unwrap();
    b.fill("#sets", SET).unwrap();
    b.click("#do-place").unwrap();
    let e = b.wait_for("p.err", |t| !t.is_empty(), WAIT).unwrap();
    assert!(e.contains("security token"), "{e}");
    assert!(c.journal().holds(true).unwrap().iter().all(|h| h.case != "NO-TOKEN"), "nothing placed");
    sign_out(&b, &c);

    // The second supervisor approves; the hold is released.
    sign_in(&b, &c, "sup2");
    b.goto(&format!("{}/requests", c.url)).unwrap();
    b.wait_for("#requests tr.request", |t| t.contains("release hold FCA-2026-17"), WAIT).unwrap();
    b.click("button.approve").unwrap();
    let ok = b.wait_for("#message", |t| !t.is_empty(), WAIT).unwrap();
    assert!(ok.starts_with("Request "), "{ok}");
    b.shot("console-approval-accepted").unwrap();
    assert_eq!(c.journal().hold_of(SET).unwrap(), None, "released on the second supervisor's approval");
    sign_out(&b, &c);

    // An auditor is refused the supervisor's page, and a supervisor's form posted with their
    // own valid token is refused too, and audited.
    sign_in(&b, &c, "aud");
    b.goto(&format!("{}/holds", c.url)).unwrap();
    let e = b.wait_for("p.err", |t| !t.is_empty(), WAIT).unwrap();
    assert!(e.contains("role auditor") && e.contains("supervisor"), "{e}");
    b.eval(&format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/requests/delete';
         for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['set', '{SET}'], ['reason', 'mine']]) {{
           const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
         }}
         document.body.appendChild(f); f.submit(); return null"
    ))
    .unwrap();
    let e = b.wait_for("p.err", |t| t.contains("needs supervisor"), WAIT).unwrap();
    assert!(e.contains("role auditor"), "{e}");
    b.shot("console-auditor-refused").unwrap();
    assert!(c.journal().requests(true).unwrap().iter().all(|r| r.requested_by != "aud"), "no request by the auditor");
    let kinds = c.audit_kinds();
    for (kind, who) in [("hold_placed", "sup1"), ("hold_release_requested", "sup1"), ("request_approved", "sup2"), ("access_denied", "aud")] {
        assert!(kinds.contains(&(kind.to_owned(), Some(who.to_owned()))), "{kind} by {who}: {kinds:?}");
    }
}
