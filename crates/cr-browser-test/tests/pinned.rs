//! `Browser::start_trusting`: the session accepts the test server's own certificate and,
//! unlike `acceptInsecureCerts`, still refuses another self-signed one.

mod common;

use common::{Server, have, self_signed};
use cr_browser_test::Browser;

#[test]
fn only_the_pinned_certificate_is_accepted() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (ours, ours_key) = self_signed(dir.path(), "ours");
    let (other, other_key) = self_signed(dir.path(), "other");
    let Some(browser) = Browser::start_trusting(&ours) else { return };
    let (trusted, stranger) =
        (Server::start(&ours, &ours_key, Vec::new()), Server::start(&other, &other_key, Vec::new()));

    browser.goto(&format!("https://127.0.0.1:{}/", trusted.port)).expect("goto the pinned server");
    assert_eq!(browser.eval("return document.title").expect("title"), "harness");
    assert!(trusted.seen().iter().any(|s| s.path == "/" && s.status == 200), "{:?}", trusted.seen());

    // The other self-signed server: Chromium's interstitial, and no request gets through.
    browser.goto(&format!("https://127.0.0.1:{}/", stranger.port)).expect("goto shows the interstitial");
    let title = browser.eval("return document.title").expect("title");
    assert_ne!(title, "harness", "an unpinned self-signed certificate was accepted");
    assert!(stranger.seen().is_empty(), "a request passed the refused handshake: {:?}", stranger.seen());
    browser.shot("only_the_pinned_certificate_is_accepted").expect("screenshot");
}
