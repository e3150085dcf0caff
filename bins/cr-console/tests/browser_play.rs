//! Hearing a set in a real browser (headless Chromium through WebDriver): give a reason,
//! play, the `<audio>` element's duration is the WAV's (soxi's figure) and playback reaches
//! the end; the playback is audited with its reason and operator, and the audit view shows
//! it; a byte flipped in the WAV makes the badge fail naming the file. Screenshots go to
//! `<target>/browser-shots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Console, SET, browser_sign_in, have};
use cr_browser_test::Browser;

const WAIT: Duration = Duration::from_secs(60);

/// Polls `script` until it returns true (a generous deadline, no timing asserted).
fn until(b: &Browser, script: &str) {
    let deadline = Instant::now() + WAIT;
    while b.eval(script).unwrap() != serde_json::Value::Bool(true) {
        assert!(Instant::now() < deadline, "never true: {script}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_auditor_gives_a_reason_hears_the_set_to_its_end_and_sees_an_altered_file_named() {
    if !(have("openssl") && have("sox") && have("soxi")) {
        return;
    }
    let c = Console::start(5);
    let Some(b) = Browser::start_trusting(&c.tls_cert) else { return };
    b.goto(&format!("{}/recordings/{SET}", c.url)).unwrap();
    browser_sign_in(&b, "aud");
    b.goto(&format!("{}/recordings/{SET}", c.url)).unwrap();
    b.wait_for("#badge", |t| t.starts_with("Verified"), WAIT).unwrap();
    // The waveform image loaded (an SVG of the console's own drawing).
    until(&b, "const i = document.querySelector('img.wave'); return i.complete && i.naturalWidth > 0");

    b.fill("#reason", "customer dispute 4711").unwrap();
    b.click("#play").unwrap();
    until(&b, "const a = document.querySelector('audio'); return !!a && a.readyState >= 1");
    let wav = c.set_dir.join(format!("{SET}.wav"));
    let soxi = std::process::Command::new("soxi").arg("-D").arg(&wav).output().unwrap();
    let expected: f64 = String::from_utf8(soxi.stdout).unwrap().trim().parse().unwrap();
    let duration = b.eval("return document.querySelector('audio').duration").unwrap().as_f64().unwrap();
    assert!((duration - expected).abs() <= 1.0 / 8000.0, "browser {duration} s, soxi {expected} s");
    b.shot("console-play").unwrap();
    b.eval("document.querySelector('audio').muted = true; document.querySelector('audio').play(); return true").unwrap();
    until(&b, "return document.querySelector('audio').ended");
    let at = b.eval("return document.querySelector('audio').currentTime").unwrap().as_f64().unwrap();
    assert!((at - expected).abs() <= 0.01, "ended at {at} s of {expected}");

    let events = c.journal().audit_events(0, 10_000).unwrap();
    let e = events.iter().find(|e| e.kind.as_str() == "played").unwrap();
    assert_eq!(e.actor.as_deref(), Some("aud"));
    assert!(serde_json::to_string(&e.details).unwrap().contains("customer dispute 4711"));
    // The same event in the audit view, filtered by its kind, as the auditor sees it.
    b.goto(&format!("{}/audit?kind=played", c.url)).unwrap();
    let row = b.wait_for("tr.event", |t| t.contains("played"), WAIT).unwrap();
    assert!(row.contains("aud") && row.contains(SET) && row.contains("customer dispute 4711"), "{row}");
    assert_eq!(b.eval("return document.querySelectorAll('tr.event').length").unwrap(), serde_json::json!(1), "only the playback");
    b.shot("console-audit-played").unwrap();

    let mut bytes = std::fs::read(&wav).unwrap();
    bytes[2000] ^= 0x80;
    std::fs::write(&wav, &bytes).unwrap();
    b.goto(&format!("{}/recordings/{SET}", c.url)).unwrap();
    let badge = b.wait_for("#badge", |t| !t.is_empty(), WAIT).unwrap();
    assert!(badge.starts_with("FAILED") && badge.contains(&format!("{SET}.wav: content does not match")), "{badge}");
    b.shot("console-play-tampered").unwrap();
}
