//! The badge re-checks a set's links to its neighbours in the chain when its page is
//! opened: three sets sealed one after the other; the middle one's badge says both links
//! hold; an altered checksum file of the set before it, and an altered link in the metadata
//! of the set after it, each make the badge name that link, with the hashes `sha256sum`
//! computes; a neighbour without a copy here is checked against the journal.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use common::{Console, SET, Sealed, have};

const SECOND: &str = "20261126T100000000Z-00000002";
const THIRD: &str = "20261126T110000000Z-00000003";

/// `sha256sum FILE`: the hex digest, by the independent tool.
fn sha256sum(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

fn badge(c: &Console, session: &str, id: &str) -> String {
    let page = c.get(&format!("/recordings/{id}"), Some(session)).text().unwrap();
    // As the browser shows it: the page escapes the apostrophes.
    page.split("id=\"badge\" ").nth(1).unwrap().split("</p>").next().unwrap().replace("&#39;", "'")
}

#[test]
fn the_badge_names_the_broken_link_to_a_neighbour_that_was_altered() {
    if !(have("openssl") && have("sox") && have("sha256sum")) {
        return;
    }
    let c = Console::start(5);
    let day = |h| Utc.with_ymd_and_hms(2026, 11, 26, h, 0, 0).unwrap();
    c.add_sets(&[
        Sealed { set: SECOND, pbx_call_id: "pbx-2", start: day(10), ..Sealed::DESK },
        Sealed { set: THIRD, pbx_call_id: "pbx-3", start: day(11), ..Sealed::DESK },
    ]);
    let spool = c.dir.path().join("data/spool");
    let sums = |id: &str| spool.join(id).join(format!("{id}.sha256"));
    let s = c.session("aud");

    let ok = badge(&c, &s, SECOND);
    assert!(ok.starts_with("class=\"ok\">Verified") && ok.contains("#2 of the chain"), "{ok}");
    assert!(ok.contains(&format!("its link to #1 ({SET}, by its copy here) holds")), "{ok}");
    assert!(ok.contains(&format!("the link from #3 ({THIRD}, by its copy here) holds")), "{ok}");
    let first = badge(&c, &s, SET);
    assert!(first.contains("it starts the chain") && first.contains(&format!("the link from #2 ({SECOND}")), "{first}");
    assert!(badge(&c, &s, THIRD).contains("it is the last set so far"));

    // The set before: one line of its checksum file changed.
    let sealed = sha256sum(&sums(SET));
    let original = std::fs::read(sums(SET)).unwrap();
    let mut altered = original.clone();
    altered.extend_from_slice(b"# appended\n");
    std::fs::write(sums(SET), &altered).unwrap();
    let now = sha256sum(&sums(SET));
    let bad = badge(&c, &s, SECOND);
    assert!(bad.starts_with("class=\"bad\">FAILED"), "{bad}");
    assert!(bad.contains(&format!("the link to the previous set #1 ({SET}) is broken")), "{bad}");
    assert!(bad.contains(&format!("names {sealed} as the SHA-256 of that set's checksum file")) && bad.contains(&format!("by its copy here it is {now}")), "{bad}");
    assert!(!bad.contains("next set"), "the other link still holds: {bad}");
    std::fs::write(sums(SET), &original).unwrap();
    assert!(badge(&c, &s, SECOND).starts_with("class=\"ok\">Verified"), "restored");

    // The set after: its metadata names another predecessor.
    let meta = spool.join(THIRD).join(format!("{THIRD}.json"));
    let text = std::fs::read_to_string(&meta).unwrap();
    let mine = sha256sum(&sums(SECOND));
    assert!(text.contains(&mine), "the third set links to the second: {text}");
    std::fs::write(&meta, text.replace(&mine, &"0".repeat(64))).unwrap();
    let bad = badge(&c, &s, SECOND);
    assert!(bad.contains(&format!("the link to the next set #3 ({THIRD}) is broken")), "{bad}");
    assert!(bad.contains(&format!("names {} as this set's checksum file's SHA-256, but that is {mine}", "0".repeat(64))), "{bad}");

    // No copy of the set after here: its link as the journal recorded it (intact).
    std::fs::remove_dir_all(spool.join(THIRD)).unwrap();
    let ok = badge(&c, &s, SECOND);
    assert!(ok.contains(&format!("the link from #3 ({THIRD}, by the journal (no copy here)) holds")), "{ok}");
}
