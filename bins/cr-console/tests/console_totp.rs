//! Sign-in with a second factor (TOTP) over HTTPS: the password leads only to the code
//! form; the code from `oathtool` signs in; a wrong code is refused and counts towards the
//! lock-out; a code is good once; the pending state reaches no page.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Console, have, oathtool, other_code};

fn session_of(cookies: &[String]) -> Option<String> {
    let c = cookies.iter().find(|c| c.starts_with("callrec_session="))?;
    Some(c.trim_start_matches("callrec_session=").split(';').next()?.to_owned())
}

#[test]
fn the_right_code_signs_in_a_wrong_one_is_refused_and_a_code_is_good_once() {
    if !(have("openssl") && have("sox") && have("oathtool")) {
        return;
    }
    let c = Console::start(5);
    let secret = c.enroll_totp("aud");
    let (status, cookies, _) = c.sign_in("aud", common::PASSWORD);
    assert_eq!(status, 303);
    let pending = cookies.iter().find(|c| c.starts_with("callrec_totp=")).unwrap();
    for flag in ["; HttpOnly", "; SameSite=Strict", "; Secure", "; Max-Age=300"] {
        assert!(pending.contains(flag), "{flag} missing: {pending}");
    }
    assert!(session_of(&cookies).is_none(), "no session before the code");
    let pending = c.sign_in_pending("aud");

    // The pending sign-in reaches no page, as a pending cookie or passed off as a session.
    for cookie in [format!("callrec_totp={pending}"), format!("callrec_session={pending}")] {
        let r = c.client.get(format!("{}/search?number=999888", c.url)).header("Cookie", cookie).send().unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/signin"));
    }
    // Without a pending sign-in the code form sends back to the password.
    let r = c.client.get(format!("{}/signin/totp", c.url)).send().unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/signin"));

    let csrf = c.code_form_token(&pending);
    let right = oathtool(&secret);
    // Without the form's token (or with another one): refused before the code is looked at.
    assert_eq!(c.post_code(&pending, "", &right).0, 403);
    assert_eq!(c.post_code(&pending, &"0".repeat(64), &right).0, 403);

    let before = c.audit_kinds().iter().filter(|(k, _)| k == "login_failed").count();
    let (status, cookies, body) = c.post_code(&pending, &csrf, &other_code(&right));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Wrong code."), "{body}");
    assert!(session_of(&cookies).is_none());
    let failed: Vec<_> = c.journal().audit_events(0, 10_000).unwrap().into_iter().filter(|e| e.kind.as_str() == "login_failed").collect();
    assert_eq!(failed.len(), before + 1, "a wrong code is a failed sign-in");
    let last = failed.last().unwrap();
    assert_eq!(last.actor.as_deref(), Some("aud"));
    assert_eq!((last.details["second_factor"].as_str(), last.details["refusal"].as_str()), (Some("totp"), Some("wrong")));

    let (status, cookies, body) = c.post_code(&pending, &csrf, &right);
    assert_eq!(status, 303, "{body}");
    let session = session_of(&cookies).unwrap();
    assert!(cookies.iter().any(|k| k.starts_with("callrec_totp=;") && k.contains("Max-Age=0")), "{cookies:?}");
    assert_eq!(c.get("/search?number=999888", Some(&session)).status().as_u16(), 200);
    let signed_in = c.journal().audit_events(0, 10_000).unwrap().into_iter().rfind(|e| e.kind.as_str() == "signed_in").unwrap();
    assert_eq!((signed_in.actor.as_deref(), signed_in.details["second_factor"].as_str()), (Some("aud"), Some("totp")));
    // The pending sign-in ended with it.
    let (status, cookies, _) = c.post_code(&pending, &csrf, &right);
    assert_eq!(status, 303);
    assert!(session_of(&cookies).is_none(), "back to the password, no second session");
    assert_eq!(c.client.get(format!("{}/signin/totp", c.url)).header("Cookie", format!("callrec_totp={pending}")).send().unwrap().status().as_u16(), 303);

    // Replayed: the same code for a new pending sign-in is refused, and audited as such.
    let pending2 = c.sign_in_pending("aud");
    let csrf2 = c.code_form_token(&pending2);
    let (status, cookies, body) = c.post_code(&pending2, &csrf2, &right);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("used already"), "{body}");
    assert!(session_of(&cookies).is_none());
    let last = c.journal().audit_events(0, 10_000).unwrap().into_iter().rfind(|e| e.kind.as_str() == "login_failed").unwrap();
    assert_eq!(last.details["refusal"].as_str(), Some("replayed"));
    // The form tokens of two pending sign-ins are not interchangeable.
    assert_eq!(c.post_code(&pending2, &csrf, &right).0, 403);
}

#[test]
fn wrong_codes_count_towards_the_lock_out() {
    if !(have("openssl") && have("sox") && have("oathtool")) {
        return;
    }
    let c = Console::start(3);
    let secret = c.enroll_totp("root");
    let pending = c.sign_in_pending("root");
    let csrf = c.code_form_token(&pending);
    for _ in 0..3 {
        let wrong = other_code(&oathtool(&secret));
        assert_eq!(c.post_code(&pending, &csrf, &wrong).0, 401);
    }
    // Locked: the right code is refused now, and the password too.
    let (status, cookies, body) = c.post_code(&pending, &csrf, &oathtool(&secret));
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("locked"), "{body}");
    assert!(session_of(&cookies).is_none());
    let (status, cookies, _) = c.sign_in("root", common::PASSWORD);
    assert_eq!(status, 429);
    assert!(!cookies.iter().any(|k| k.starts_with("callrec_totp=") && !k.contains("Max-Age=0")), "no pending sign-in either");
    let kinds = c.audit_kinds();
    assert!(kinds.contains(&("login_locked".into(), Some("root".into()))), "{kinds:?}");
    // An operator without a second factor signs in with the password alone, as before.
    assert_eq!(c.sign_in("aud", common::PASSWORD).0, 303);
    assert!(!kinds.iter().any(|(k, a)| k == "signed_in" && a.as_deref() == Some("root")), "{kinds:?}");
}
