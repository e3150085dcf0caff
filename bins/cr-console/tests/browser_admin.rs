//! The audit view in a real browser (headless Chromium through WebDriver): an auditor
//! filters the trail by an operator and finds that operator's sign-in. Screenshots go to
//! `<target>/browser-shots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Console, browser_sign_in, have};
use cr_browser_test::Browser;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn the_audit_view_filtered_by_an_operator_shows_their_sign_in() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    // `root` signs in over HTTP first, so that the trail holds another operator's sign-in.
    c.session("root");
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };
    b.goto(&format!("{}/audit", c.url)).unwrap();
    browser_sign_in(&b, "aud");
    b.click("a[href='/audit']").unwrap();
    b.wait_for("#chain", |t| t.starts_with("Audit chain verified"), WAIT).unwrap();
    b.fill("#operator", "root").unwrap();
    b.eval("document.querySelector('#kind').value = 'signed_in'; return ''").unwrap();
    b.click("#filter").unwrap();
    b.wait_for("#count", |t| t == "1 event(s) on this page.", WAIT).unwrap();
    let row = b.text("#events tr.event").unwrap();
    assert!(row.contains("signed_in") && row.contains("root") && row.contains("console"), "{row}");
    b.shot("console-audit-filtered").unwrap();
}
