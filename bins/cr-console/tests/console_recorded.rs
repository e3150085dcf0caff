//! The console on a set that a running cr-recorder sealed from a SIPREC call (cr-pbx's
//! load generator, as cr-loadgen drives it, against the recorder's SIPREC listener), not
//! one the test sealed itself: found by a middle part of the caller's number, its page's
//! badge verified (and `sha256sum -c` agrees on the set's files), its duration soxi's, and
//! its WAV played with a reason, byte ranges equal to the file the recorder wrote.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../cr-recorder/tests/support/mod.rs"]
mod recorder;

use std::process::Command;

use common::{Console, add_operators, console_section, free_port, have, tls_certificate};
use cr_journal::{Journal, OpenOptions};

#[test]
fn a_set_sealed_by_the_recorder_from_a_siprec_call_is_found_verified_and_played() {
    if !(have("openssl") && have("sox") && have("soxi") && have("sha256sum")) {
        return;
    }
    // The recorder's installation (keystore, SIPREC listener), recording calls to 70 in
    // stereo; the console's section in the same configuration file.
    let inst = recorder::Install::new(&recorder::desk_config(&["70"]), true);
    std::fs::create_dir_all(inst.path("archive")).unwrap();
    let (crt, key) = tls_certificate(inst.dir.path());
    let port = free_port();
    let mut text = std::fs::read_to_string(&inst.config).unwrap();
    text.push_str(&format!("\n{}", console_section(port, &crt, &key)));
    std::fs::write(&inst.config, text).unwrap();

    let rec = inst.start();
    // One call of 3 s from +49305550 to 70.
    recorder::siprec_calls(&inst, 1, 3).join().unwrap();
    rec.stop();
    let sets = recorder::sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), 1, "the recorder sealed the call");
    let set_dir = sets[0].parent().unwrap().to_path_buf();
    let id = cr_sign::set_id(&sets[0]).unwrap().to_owned();
    let wav = set_dir.join(format!("{id}.wav"));

    let j = Journal::open_sqlite(&inst.path("data/journal.sqlite"), &OpenOptions::new()).unwrap();
    add_operators(&j);
    drop(j);
    let recorder::Install { dir, .. } = inst;
    let c = Console::launch(dir, port, crt, set_dir.clone(), ("CR_E2E_PW", recorder::PASSWORD));
    let s = c.session("aud");

    // Found by a middle part of the caller's number ("0555" of +49305550).
    let page = c.get("/search?number=0555", Some(&s)).text().unwrap();
    assert!(page.contains(&format!("/recordings/{id}")) && page.contains("+49305550"), "{page}");

    let page = c.get(&format!("/recordings/{id}"), Some(&s)).text().unwrap();
    let badge = page.split("id=\"badge\" ").nth(1).unwrap().split("</p>").next().unwrap();
    assert!(badge.starts_with("class=\"ok\">Verified") && badge.contains("#1 of the chain") && badge.contains("it starts the chain"), "{badge}");
    // The independent judge of the same files.
    let sums = Command::new("sha256sum").arg("-c").arg(sets[0].file_name().unwrap()).current_dir(&set_dir).output().unwrap();
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
    assert!(String::from_utf8_lossy(&sums.stdout).contains(&format!("{id}.wav: OK")));
    let soxi = |flag: &str| String::from_utf8(Command::new("soxi").arg(flag).arg(&wav).output().unwrap().stdout).unwrap().trim().to_owned();
    let secs: f64 = soxi("-D").parse().unwrap();
    assert!(secs > 1.0, "the call's audio: {secs} s");
    assert!(page.contains(&format!("{id}.wav: {} channel(s), {} Hz, {secs:.2} s", soxi("-c"), soxi("-r"))), "{page}");

    // Play with a reason: the grant's address serves the recorder's file, whole and by range.
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap()[..64].to_owned();
    let r = c.post(&format!("/recordings/{id}/play"), &s, &[("reason", "trade confirmation check"), ("csrf", &csrf)]);
    assert_eq!(r.status().as_u16(), 200);
    let played = r.text().unwrap();
    let src = played.split("<audio controls preload=\"metadata\" src=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let bytes = std::fs::read(&wav).unwrap();
    let whole = c.get(&src, Some(&s));
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.bytes().unwrap().as_ref(), &bytes[..]);
    let part = c.client.get(format!("{}{src}", c.url)).header("Cookie", format!("callrec_session={s}")).header("Range", "bytes=44-1043").send().unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().unwrap().as_ref(), &bytes[44..1044]);
    let events = c.journal().audit_events(0, 10_000).unwrap();
    let e = events.iter().find(|e| e.kind.as_str() == "played").unwrap();
    assert_eq!((e.actor.as_deref(), e.set_id.as_deref()), (Some("aud"), Some(id.as_str())));
    assert!(serde_json::to_string(&e.details).unwrap().contains("trade confirmation check"));
}
