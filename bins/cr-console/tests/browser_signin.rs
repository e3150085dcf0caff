//! Sign-in in a real browser (headless Chromium through WebDriver): the lock-out after
//! repeated wrong passwords, and a sign-in with a second factor whose code comes from
//! `oathtool`. Screenshots go to `<target>/browser-shots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Console, PASSWORD, have, oathtool, other_code};
use cr_browser_test::Browser;

const WAIT: Duration = Duration::from_secs(60);

fn password(b: &Browser, name: &str, password: &str) {
    b.fill("#name", name).unwrap();
    b.fill("#password", password).unwrap();
    b.click("#signin").unwrap();
}

#[test]
fn wrong_passwords_lock_the_name_out_and_the_right_one_is_then_refused() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(3);
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };
    b.goto(&format!("{}/signin", c.url)).unwrap();
    b.wait_for("h1", |t| t == "Sign in", WAIT).unwrap();
    for i in 0..3 {
        password(&b, "aud", &format!("wrong password {i}"));
        b.wait_for("#message", |t| t.contains("Wrong operator name or password"), WAIT).unwrap();
    }
    password(&b, "aud", PASSWORD);
    b.wait_for("#message", |t| t.contains("sign-in is locked"), WAIT).unwrap();
    assert_eq!(b.text("h1").unwrap(), "Sign in", "still not signed in");
    assert!(!b.cookies().unwrap().iter().any(|k| k.name == "callrec_session"), "no session");
    b.shot("console-signin-locked").unwrap();
    let kinds = c.audit_kinds();
    let failed = kinds.iter().filter(|k| *k == &("login_failed".to_owned(), Some("aud".to_owned()))).count();
    assert_eq!(failed, 3, "{kinds:?}");
    assert!(kinds.contains(&("login_locked".into(), Some("aud".into()))), "{kinds:?}");
    assert!(!kinds.iter().any(|(k, _)| k == "signed_in"), "{kinds:?}");
}

#[test]
fn an_operator_with_a_second_factor_signs_in_with_a_code_from_oathtool() {
    if !(have("openssl") && have("sox") && have("oathtool")) {
        return;
    }
    let c = Console::start(5);
    let secret = c.enroll_totp("aud");
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };
    b.goto(&format!("{}/search", c.url)).unwrap();
    b.wait_for("h1", |t| t == "Sign in", WAIT).unwrap();
    password(&b, "aud", PASSWORD);
    b.wait_for("h1", |t| t == "Second factor", WAIT).unwrap();
    assert!(!b.cookies().unwrap().iter().any(|k| k.name == "callrec_session"), "no session before the code");
    // The pending sign-in reaches no page.
    b.goto(&format!("{}/search", c.url)).unwrap();
    b.wait_for("h1", |t| t == "Sign in", WAIT).unwrap();
    b.goto(&format!("{}/signin/totp", c.url)).unwrap();
    b.wait_for("h1", |t| t == "Second factor", WAIT).unwrap();
    b.fill("#code", &other_code(&oathtool(&secret))).unwrap();
    b.click("#verify").unwrap();
    b.wait_for("#message", |t| t == "Wrong code.", WAIT).unwrap();
    b.shot("console-totp-wrong-code").unwrap();
    b.fill("#code", &oathtool(&secret)).unwrap();
    b.shot("console-totp-code").unwrap();
    b.click("#verify").unwrap();
    b.wait_for("h1", |t| t == "Search", WAIT).unwrap();
    let session = b.cookies().unwrap().into_iter().find(|k| k.name == "callrec_session").unwrap();
    assert!(session.secure && session.http_only, "{session:?}");
    assert!(!b.cookies().unwrap().iter().any(|k| k.name == "callrec_totp"), "the pending sign-in's cookie is gone");
    b.shot("console-totp-signed-in").unwrap();
    let events = c.journal().audit_events(0, 10_000).unwrap();
    let signed_in = events.iter().find(|e| e.kind.as_str() == "signed_in").unwrap();
    assert_eq!((signed_in.actor.as_deref(), signed_in.details["second_factor"].as_str()), (Some("aud"), Some("totp")));
    assert!(events.iter().any(|e| e.kind.as_str() == "login_failed" && e.details["refusal"] == "wrong"));
}
