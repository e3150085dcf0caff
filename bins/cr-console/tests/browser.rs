//! The console in a real browser (headless Chromium through WebDriver): sign in with a
//! wrong and then the right password, search by number and time range, open the set and
//! see the badge say verified. Screenshots go to `<target>/browser-shots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Console, PASSWORD, SET, have};
use cr_browser_test::Browser;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn an_auditor_signs_in_finds_a_call_and_sees_it_verified() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    // The browser trusts exactly the console's certificate.
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };
    b.goto(&format!("{}/search", c.url)).unwrap();
    // Not signed in: the sign-in form.
    b.wait_for("h1", |t| t == "Sign in", WAIT).unwrap();
    b.fill("#name", "aud").unwrap();
    b.fill("#password", "wrong password").unwrap();
    b.click("#signin").unwrap();
    b.wait_for("#message", |t| t.contains("Wrong operator name or password"), WAIT).unwrap();
    b.shot("console-signin-refused").unwrap();
    b.fill("#name", "aud").unwrap();
    b.fill("#password", PASSWORD).unwrap();
    b.click("#signin").unwrap();
    b.wait_for("h1", |t| t == "Search", WAIT).unwrap();
    let session = b.cookies().unwrap().into_iter().find(|k| k.name == "callrec_session").unwrap();
    assert!(session.secure && session.http_only, "{session:?}");
    assert_eq!(b.eval("return document.cookie").unwrap(), "", "the session cookie is not readable by script");

    b.fill("#number", "030 999888").unwrap();
    b.fill("#from", "2026-11-26").unwrap();
    b.fill("#to", "2026-11-26").unwrap();
    b.click("#find").unwrap();
    b.wait_for("#count", |t| t == "1 recording(s).", WAIT).unwrap();
    let row = b.text("#results tr.hit").unwrap();
    assert!(row.contains(SET) && row.contains("+4930999888 → 300") && row.contains("0:01:35"), "{row}");
    b.shot("console-search").unwrap();

    b.click(&format!("a[href='/recordings/{SET}']")).unwrap();
    let badge = b.wait_for("#badge", |t| !t.is_empty(), WAIT).unwrap();
    assert!(badge.starts_with("Verified: 2 file(s)"), "{badge}");
    b.shot("console-recording").unwrap();
    let kinds = c.audit_kinds();
    for k in ["login_failed", "signed_in", "searched"] {
        assert!(kinds.contains(&(k.to_owned(), Some("aud".to_owned()))), "{k}: {kinds:?}");
    }
}
