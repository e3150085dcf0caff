//! Hearing a set over HTTPS: the reason form (CSRF, reason required, audited with the
//! operator), the audio grant (this session, this set), file names looked up in the
//! journal, byte ranges checked against the file on disk, and the badge naming an altered
//! file.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Console, SET, STEREO_SET, have};

/// The CSRF token of the session's forms, from the recording's page.
fn csrf(c: &Console, session: &str) -> String {
    let body = c.get(&format!("/recordings/{SET}"), Some(session)).text().unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    body[at..at + 64].to_owned()
}

fn play(c: &Console, session: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = c.client.post(format!("{}/recordings/{SET}/play", c.url)).header("Cookie", format!("callrec_session={session}")).form(fields).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn audio_src(page: &str) -> String {
    let at = page.find("<audio controls preload=\"metadata\" src=\"").unwrap() + 40;
    page[at..].split('"').next().unwrap().replace("&amp;", "&")
}

fn get_range(c: &Console, path: &str, session: &str, range: Option<&str>) -> reqwest::blocking::Response {
    let mut r = c.client.get(format!("{}{path}", c.url)).header("Cookie", format!("callrec_session={session}"));
    if let Some(v) = range {
        r = r.header("Range", v);
    }
    r.send().unwrap()
}

#[test]
fn playing_needs_a_reason_and_the_grant_of_this_session_and_ranges_are_the_files_bytes() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let aud = c.session("aud");
    let token = csrf(&c, &aud);
    let played = |c: &Console| c.audit_kinds().iter().filter(|(k, _)| k == "played").count();

    // No CSRF token: refused before anything else; no audit event.
    assert_eq!(play(&c, &aud, &[("reason", "trade confirmation")]).0, 403);
    // No reason, or only blanks: 400, no audit event.
    assert_eq!(play(&c, &aud, &[("csrf", &token)]).0, 400);
    assert_eq!(play(&c, &aud, &[("csrf", &token), ("reason", "   ")]).0, 400);
    assert_eq!(played(&c), 0);

    let (status, page) = play(&c, &aud, &[("csrf", &token), ("reason", "trade confirmation 4711")]);
    assert_eq!(status, 200, "{page}");
    let events = c.journal().audit_events(0, 10_000).unwrap();
    let e = events.iter().find(|e| e.kind.as_str() == "played").unwrap();
    assert_eq!(e.actor.as_deref(), Some("aud"));
    let details = serde_json::to_string(&e.details).unwrap();
    assert!(details.contains("trade confirmation 4711") && details.contains(&format!("{SET}.wav")), "{details}");
    let src = audio_src(&page);
    assert!(src.starts_with(&format!("/recordings/{SET}/audio/{SET}.wav?grant=")), "{src}");

    // Byte ranges, against the file on disk.
    let wav = std::fs::read(c.set_dir.join(format!("{SET}.wav"))).unwrap();
    let len = wav.len();
    let whole = get_range(&c, &src, &aud, None);
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().unwrap().as_ref(), &wav[..]);
    for (range, from, to) in [("bytes=0-99", 0, 99), ("bytes=-100", len - 100, len - 1), ("bytes=1000-", 1000, len - 1), ("bytes=44-44", 44, 44)] {
        let r = get_range(&c, &src, &aud, Some(range));
        assert_eq!(r.status().as_u16(), 206, "{range}");
        assert_eq!(r.headers()["content-range"].to_str().unwrap(), format!("bytes {from}-{to}/{len}"), "{range}");
        assert_eq!(r.bytes().unwrap().as_ref(), &wav[from..=to], "{range}");
    }
    let r = get_range(&c, &src, &aud, Some(&format!("bytes={len}-")));
    assert_eq!(r.status().as_u16(), 416);
    assert_eq!(r.headers()["content-range"].to_str().unwrap(), format!("bytes */{len}"));
    // Several ranges: the whole file (documented), not a multipart answer.
    let r = get_range(&c, &src, &aud, Some("bytes=0-1,10-11"));
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().unwrap().len(), len);

    // Without the grant, with a made-up one, or with another session's: 403.
    let bare = format!("/recordings/{SET}/audio/{SET}.wav");
    assert_eq!(get_range(&c, &bare, &aud, None).status().as_u16(), 403);
    assert_eq!(get_range(&c, &format!("{bare}?grant={}", "0".repeat(64)), &aud, None).status().as_u16(), 403);
    let other = c.session("aud");
    assert_eq!(get_range(&c, &src, &other, None).status().as_u16(), 403, "another session of the same operator");
    let r = c.client.get(format!("{}{src}", c.url)).send().unwrap();
    assert_eq!(r.status().as_u16(), 403, "no session at all");
    // The grant is for this set only.
    let elsewhere = src.replacen(SET, "20261126T090000000Z-ffffffff", 2);
    assert_eq!(get_range(&c, &elsewhere, &aud, None).status().as_u16(), 403);

    // A name the set's journal entry does not list: 404, whatever it points at.
    let grant = src.split("grant=").nth(1).unwrap();
    for name in [format!("{SET}.json"), "..%2F..%2Fjournal.sqlite".into(), "%2E%2E".into(), "..%2Fspool%2F".to_owned() + SET + "%2F" + SET + ".wav", "nope.wav".into()] {
        let r = get_range(&c, &format!("/recordings/{SET}/audio/{name}?grant={grant}"), &aud, None);
        assert_eq!(r.status().as_u16(), 404, "{name}");
    }
}

#[test]
fn the_page_draws_a_waveform_and_an_altered_or_unreadable_wav_is_named() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    let aud = c.session("aud");
    let page = c.get(&format!("/recordings/{SET}"), Some(&aud)).text().unwrap();
    assert!(page.contains(&format!("src=\"/recordings/{SET}/waveform/{SET}.wav\"")), "{page}");
    // soxi's figures for the fixture's file.
    let soxi = |flag: &str| String::from_utf8(std::process::Command::new("soxi").arg(flag).arg(c.set_dir.join(format!("{SET}.wav"))).output().unwrap().stdout).unwrap();
    assert!(page.contains(&format!("{}: {} channel(s), {} Hz, 2.00 s", format!("{SET}.wav"), soxi("-c").trim(), soxi("-r").trim())), "{page}");
    let r = c.get(&format!("/recordings/{SET}/waveform/{SET}.wav"), Some(&aud));
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let svg = r.text().unwrap();
    assert!(svg.starts_with("<svg ") && svg.contains("class=\"ch0\"") && !svg.contains("class=\"ch1\""), "one lane for mono");
    assert_eq!(c.get(&format!("/recordings/{SET}/waveform/{SET}.wav"), None).status().as_u16(), 303, "signed out: to the sign-in form");

    // One byte flipped in the audio: the badge fails naming the file.
    let wav = c.set_dir.join(format!("{SET}.wav"));
    let mut bytes = std::fs::read(&wav).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&wav, &bytes).unwrap();
    let page = c.get(&format!("/recordings/{SET}"), Some(&aud)).text().unwrap();
    assert!(page.contains(&format!("FAILED: {SET}.wav: content does not match its SHA-256 (altered)")), "{page}");

    // Not a WAV any more: the page says so, the waveform is refused, nothing panics.
    std::fs::write(&wav, b"this is not audio").unwrap();
    let page = c.get(&format!("/recordings/{SET}"), Some(&aud)).text().unwrap();
    assert!(page.contains(&format!("{SET}.wav cannot be read as audio")), "{page}");
    assert_eq!(c.get(&format!("/recordings/{SET}/waveform/{SET}.wav"), Some(&aud)).status().as_u16(), 422);
    assert_eq!(c.get("/signin", None).status().as_u16(), 200, "the console still answers");
}

#[test]
fn a_stereo_set_gets_one_lane_a_channel() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start(5);
    c.add_stereo_set();
    let aud = c.session("aud");
    let page = c.get(&format!("/recordings/{STEREO_SET}"), Some(&aud)).text().unwrap();
    assert!(page.contains("id=\"badge\" class=\"ok\"") && page.contains(&format!("{STEREO_SET}.wav: 2 channel(s), 8000 Hz, 2.00 s")), "{page}");
    let svg = c.get(&format!("/recordings/{STEREO_SET}/waveform/{STEREO_SET}.wav"), Some(&aud)).text().unwrap();
    assert!(svg.contains("height=\"160\"") && svg.contains("class=\"ch0\"") && svg.contains("class=\"ch1\""), "{svg}");
}
