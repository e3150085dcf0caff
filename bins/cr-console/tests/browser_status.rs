//! The status page in a real browser (headless Chromium through WebDriver): an auditor
//! follows the nav link and sees the call being recorded and the backlog of `nas`.
//! Screenshots go to `<target>/browser-shots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Console, browser_sign_in, have};
use cr_browser_test::Browser;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn an_auditor_sees_the_active_call_and_the_backlog_on_the_status_page() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let st = c.add_status_state();
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };
    b.goto(&format!("{}/status", c.url)).unwrap();
    browser_sign_in(&b, "aud");
    b.click("a[href='/status']").unwrap();
    b.wait_for("h1", |t| t == "Status", WAIT).unwrap();
    assert_eq!(b.text("#active-calls").unwrap(), "1");
    let calls = b.text("#calls").unwrap();
    assert!(calls.contains("pbx-live") && calls.contains("+4930555111"), "{calls}");
    assert_eq!(b.text("tr[data-target='nas'] .pending").unwrap(), "1");
    assert_eq!(b.text("tr[data-target='archive'] .failed").unwrap(), "1");
    // The error with its markup shown as text, not taken as markup.
    let errors = b.text("#errors").unwrap();
    assert!(errors.contains(st.nas_error), "{errors}");
    b.shot("console-status").unwrap();
}
