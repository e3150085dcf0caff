//! cr-console over HTTPS as a browser talks to it: a real installation (keystore, SQLite
//! journal, operators, a set sealed with the installation's key in the spool), a TLS
//! certificate made by the openssl tool, and an HTTP client that trusts only that
//! certificate and keeps cookies by hand so that their flags can be checked.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{Console, PASSWORD, SET, have};

#[test]
fn sign_in_sets_a_strict_cookie_wrong_passwords_lock_out_and_every_attempt_is_audited() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(3);
    // Not signed in: every page leads to the sign-in form.
    let r = c.get("/search?number=999888", None);
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/signin"));

    let (status, _, body) = c.sign_in("aud", "not the password");
    assert_eq!(status, 401);
    assert!(body.contains("Wrong operator name or password."), "{body}");
    assert!(!body.contains("not the password"), "the password is never echoed");

    let (status, cookies, _) = c.sign_in("aud", PASSWORD);
    assert_eq!(status, 303);
    let session = cookies.iter().find(|c| c.starts_with("callrec_session=")).unwrap();
    for flag in ["; HttpOnly", "; SameSite=Strict", "; Secure", "; Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    let kinds = c.audit_kinds();
    assert!(kinds.contains(&("login_failed".into(), Some("aud".into()))), "{kinds:?}");
    assert!(kinds.contains(&("signed_in".into(), Some("aud".into()))), "{kinds:?}");

    // Three wrong passwords lock the name: the right one is then refused too, and audited.
    for _ in 0..3 {
        assert_eq!(c.sign_in("root", "guess").0, 401);
    }
    let (status, cookies, body) = c.sign_in("root", PASSWORD);
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("locked"), "{body}");
    assert!(!cookies.iter().any(|c| c.starts_with("callrec_session=")), "no session for a locked name");
    assert!(c.audit_kinds().contains(&("login_locked".into(), Some("root".into()))));
    // Another name is not affected.
    assert_eq!(c.sign_in("aud", PASSWORD).0, 303);
}

#[test]
fn a_form_without_its_token_is_refused_and_sign_out_ends_the_session() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    // Sign-in without the cookie's token (a cross-site form post): refused, nothing audited.
    let before = c.audit_kinds().len();
    let r = c.client.post(format!("{}/signin", c.url)).form(&[("name", "aud"), ("password", PASSWORD), ("csrf", "forged")]).send().unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(c.audit_kinds().len(), before);

    let s = c.session("aud");
    let page = c.get("/search", Some(&s)).text().unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    // Sign-out without the session's token: refused, the session stands.
    let r = c.client.post(format!("{}/signout", c.url)).header("Cookie", format!("callrec_session={s}")).form(&[("csrf", "x")]).send().unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(c.get("/search", Some(&s)).status().as_u16(), 200);
    let r = c.client.post(format!("{}/signout", c.url)).header("Cookie", format!("callrec_session={s}")).form(&[("csrf", csrf.as_str())]).send().unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(c.get("/search", Some(&s)).status().as_u16(), 303, "the session is gone");
    assert!(c.audit_kinds().contains(&("signed_out".into(), Some("aud".into()))));
}

#[test]
fn search_finds_the_set_and_its_page_says_verified_until_a_file_is_changed() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let s = c.session("aud");
    let r = c.get("/search?number=030999888&from=2026-11-26&to=2026-11-26", Some(&s));
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(h["cache-control"], "no-store");
    let body = r.text().unwrap();
    assert!(body.contains("1 recording(s).") && body.contains(&format!("href=\"/recordings/{SET}\"")), "{body}");
    assert!(body.contains("+4930999888 → 300"), "numbers are shown in full to a signed-in operator");
    assert!(c.audit_kinds().contains(&("searched".into(), Some("aud".into()))));
    let none = c.get("/search?number=1234567&from=2026-11-26", Some(&s)).text().unwrap();
    assert!(none.contains("No recording matches."), "{none}");
    let bad = c.get("/search?number=1&from=yesterday", Some(&s));
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().unwrap().contains("is not a date"));
    // Markup in the query is shown as text.
    let xss = c.get("/search?number=%3Cscript%3E1", Some(&s)).text().unwrap();
    assert!(!xss.contains("<script>") && xss.contains("value=\"&lt;script&gt;1\""), "{xss}");
    let digitless = c.get("/search?number=%3Cscript%3E", Some(&s));
    assert_eq!(digitless.status().as_u16(), 400);
    let digitless = digitless.text().unwrap();
    assert!(digitless.contains("class=\"err\"") && !digitless.contains("<script>"), "{digitless}");

    let page = c.get(&format!("/recordings/{SET}"), Some(&s)).text().unwrap();
    assert!(page.contains("id=\"badge\" class=\"ok\">Verified: 2 file(s)"), "{page}");
    assert!(page.contains("#1 of the chain"), "{page}");
    // One byte of the audio changed on disk: the badge names the file.
    let wav = c.set_dir.join(format!("{SET}.wav"));
    let mut bytes = std::fs::read(&wav).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&wav, bytes).unwrap();
    let page = c.get(&format!("/recordings/{SET}"), Some(&s)).text().unwrap();
    let badge = page.split("id=\"badge\"").nth(1).unwrap().split("</p>").next().unwrap();
    assert!(badge.contains("class=\"bad\">FAILED") && badge.contains(&format!("{SET}.wav")), "{badge}");
    assert_eq!(c.get("/recordings/no-such-set", Some(&s)).status().as_u16(), 404);
}

#[test]
fn plain_http_on_a_public_address_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("callrec.toml");
    std::fs::write(&config, format!("[installation]\nmodule_id = \"m\"\ndata_dir = \"{}\"\n\n[console]\nlisten = \"0.0.0.0:8443\"\n", dir.path().display()))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cr-console")).arg("--config").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("console.listen") && err.contains("not a loopback address") && err.contains("callrec.toml:"), "{err}");
}
