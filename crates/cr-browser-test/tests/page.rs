//! The harness against a real page: a small HTTPS server (rustls, a self-signed certificate
//! made by the `openssl` CLI) with a form, cookies and a 1-second WAV made by `sox`, served
//! with HTTP range support. One browser for the whole file (one test), to keep it quick.
//!
//! Skipped with a loud message when chromium/chromedriver, openssl or sox are missing,
//! unless CALLREC_TEST_STRICT=1.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{DEADLINE, Seen, Server, byte_range, form_value, have, run, self_signed};
use cr_browser_test::{Browser, Error, SameSite};

/// Every live descendant of `pid`, with its command line, from /proc.
fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut parent = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let Some(ppid) =
            stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
        else {
            continue;
        };
        parent.insert(p, ppid);
    }
    let mut tree = BTreeSet::from([pid]);
    loop {
        let before = tree.len();
        for (&p, pp) in &parent {
            if tree.contains(pp) {
                tree.insert(p);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    tree.remove(&pid);
    tree.into_iter().map(|p| (p, cmdline(p))).collect()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn alive(pid: u32, cmd: &str) -> bool {
    // A reused pid runs something else: only the same command line counts.
    let now = cmdline(pid);
    !now.is_empty() && now == cmd
}

#[test]
fn form_cookies_audio_screenshot_and_a_clean_exit() {
    if !(have("openssl") && have("sox") && have("soxi") && have("file")) {
        return;
    }
    let Some(browser) = Browser::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path(), "server");
    let wav = dir.path().join("tone.wav");
    run(Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args(["synth", "1", "sine", "440"]));
    let expected_duration: f64 =
        run(Command::new("soxi").arg("-D").arg(&wav)).trim().parse().expect("soxi -D prints seconds");
    let server = Server::start(&cert, &key, std::fs::read(&wav).expect("tone.wav"));
    let base = format!("https://127.0.0.1:{}", server.port);

    // The self-signed certificate is accepted (acceptInsecureCerts): the page itself loads,
    // not Chromium's certificate interstitial.
    browser.goto(&format!("{base}/")).expect("goto");
    assert_eq!(browser.eval("return document.title").expect("title"), "harness");
    // wait_for polls: the text only appears 400 ms after load.
    assert_eq!(browser.wait_for("#late", |t| t == "arrived", DEADLINE).expect("late text"), "arrived");

    // Fill and submit the form; the server decodes what the browser encoded.
    let caller = "+49 30 1234-567 <&>";
    browser.fill("#caller", caller).expect("fill");
    browser.click("#send").expect("click");
    let result = browser.wait_for("#result", |t| t.starts_with("Searching for"), DEADLINE).expect("result page");
    assert_eq!(result, format!("Searching for {caller}"));
    let posted: Vec<Seen> = server.seen().into_iter().filter(|s| s.path == "/submit").collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(form_value(&posted[0].body, "caller").as_deref(), Some(caller));

    // Cookie flags as the browser holds them, and the HttpOnly one hidden from scripts.
    let cookies = browser.cookies().expect("cookies");
    let sid = cookies.iter().find(|c| c.name == "sid").unwrap_or_else(|| panic!("no sid cookie in {cookies:?}"));
    assert!(sid.secure && sid.http_only, "{sid:?}");
    assert_eq!(sid.same_site, Some(SameSite::Strict));
    assert_eq!(sid.value, "s3cr3t");
    let plain = cookies.iter().find(|c| c.name == "plain").unwrap_or_else(|| panic!("no plain cookie in {cookies:?}"));
    assert!(!plain.secure && !plain.http_only, "{plain:?}");
    assert_ne!(plain.same_site, Some(SameSite::Strict));
    assert_eq!(browser.eval("return document.cookie").expect("document.cookie"), "plain=visible");

    // The <audio> element's duration is the WAV's (soxi's figure), fetched with ranges.
    browser.wait_for("#meta", |t| t == "loaded", DEADLINE).expect("audio metadata");
    let duration = browser.eval("return document.getElementById('player').duration").expect("duration");
    let duration = duration.as_f64().unwrap_or_else(|| panic!("duration is not a number: {duration}"));
    assert!((duration - expected_duration).abs() < 0.001, "browser {duration} s, soxi {expected_duration} s");
    // Playing it (a click is a user gesture) reaches the end.
    browser.click("#play").expect("play");
    browser.wait_for("#state", |t| t == "ended", DEADLINE).expect("playback ends");
    let at = browser.eval("return document.getElementById('player').currentTime").expect("currentTime");
    assert!((at.as_f64().unwrap_or(0.0) - expected_duration).abs() < 0.001, "stopped at {at} s of {expected_duration}");
    let wav_requests: Vec<Seen> = server.seen().into_iter().filter(|s| s.path == "/tone.wav").collect();
    assert!(
        wav_requests.iter().any(|s| s.range.is_some() && s.status == 206),
        "Chromium fetched the WAV without a range request: {wav_requests:?}"
    );

    // Failures name the selector and what was last seen.
    match browser.text("#missing") {
        Err(e @ Error::NoElement { .. }) => assert!(e.to_string().contains("#missing"), "{e}"),
        other => panic!("expected NoElement, got {other:?}"),
    }
    match browser.wait_for("#state", |t| t == "never", Duration::from_millis(300)) {
        Err(e @ Error::Timeout { .. }) => assert!(e.to_string().contains("\"ended\""), "{e}"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    match browser.eval("throw new Error('boom')") {
        Err(e @ Error::Command { .. }) => assert!(e.to_string().contains("boom"), "{e}"),
        other => panic!("expected a script error, got {other:?}"),
    }

    // A document replaced between finding an element and reading its text (a page that
    // navigates, like a form's redirect) is "not ready yet", never an error.
    browser.goto(&format!("{base}/churn")).expect("goto churn");
    match browser.wait_for("h1", |t| t == "never", Duration::from_secs(5)) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected Timeout on a page that keeps reloading, got {other:?}"),
    }
    let reloads = server.seen().iter().filter(|s| s.path == "/churn").count();
    assert!(reloads > 10, "the page reloaded only {reloads} times");

    // A PNG screenshot, judged by file(1).
    let shot = browser.shot("form_cookies_audio_screenshot_and_a_clean_exit").expect("screenshot");
    assert!(shot.ends_with("browser-shots/form_cookies_audio_screenshot_and_a_clean_exit.png"), "{}", shot.display());
    let kind = run(Command::new("file").arg("-b").arg(&shot));
    assert!(kind.starts_with("PNG image data"), "{}: {kind}", shot.display());

    // Dropping the browser leaves no process behind: chromedriver, Chromium and its helpers.
    let driver = (browser.driver_pid(), cmdline(browser.driver_pid()));
    assert!(driver.1.contains("chromedriver"), "{driver:?}");
    let children = descendants(driver.0);
    assert!(children.iter().any(|(_, c)| c.contains("chromium")), "no Chromium below chromedriver: {children:?}");
    let scratch = browser.scratch_dir().to_path_buf();
    let pgrep = |pattern: &str| {
        let out = Command::new("pgrep").arg("-f").arg(pattern).output().expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .collect::<Vec<_>>()
    };
    // chromedriver names the scratch directory (--log-path), Chromium too (--user-data-dir).
    let named = pgrep(&scratch.display().to_string());
    assert!(named.contains(&driver.0) && named.len() > 1, "pgrep does not see chromedriver and Chromium: {named:?}");
    drop(browser);
    let started = Instant::now();
    loop {
        let left: Vec<_> = std::iter::once(&driver).chain(&children).filter(|(p, c)| alive(*p, c)).collect();
        let named = pgrep(&scratch.display().to_string());
        if left.is_empty() && named.is_empty() {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "still running after drop: {left:?}, pgrep: {named:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!scratch.exists(), "{} was not removed", scratch.display());
}

#[test]
fn byte_ranges_follow_rfc_9110() {
    // The test server's own range parser, so a failure above is not the server's.
    assert_eq!(byte_range("bytes=0-", 100), Some((0, 99)));
    assert_eq!(byte_range("bytes=10-19", 100), Some((10, 19)));
    assert_eq!(byte_range("bytes=90-200", 100), Some((90, 99)));
    assert_eq!(byte_range("bytes=100-", 100), None);
    assert_eq!(byte_range("bytes=5-4", 100), None);
    assert_eq!(byte_range("items=0-1", 100), None);
    assert_eq!(form_value("a=1&caller=%2B49+30%3C", "caller").as_deref(), Some("+49 30<"));
    assert_eq!(form_value("caller=%4", "caller").as_deref(), Some("%4"));
}
