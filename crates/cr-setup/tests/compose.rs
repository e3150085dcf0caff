//! The composition: every value checked once, the same way for `crctl config check` and
//! the daemons.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use cr_config::Config;
use cr_setup::{Checked, RecorderSetup, UploaderSetup};

const HEAD: &str = r#"[installation]
module_id = "pbx-berlin-01"
data_dir = "/var/lib/callrec"
timezone = "Europe/Berlin"
"#;

fn parse(body: &str) -> Config {
    Config::parse(&format!("{HEAD}\n{body}"), "callrec.toml").unwrap()
}

// Moved from cr-storage's tests/config.rs (unknown_kind_and_unknown_target_reference): the
// reference check is the policy's, and the uploader makes it through the composition.
#[test]
fn the_uploader_refuses_a_recording_that_names_an_unknown_target() {
    let cfg = parse("[[recordings]]\nname = \"r\"\ntargets = [\"nowhere\"]\n");
    let e: Vec<String> = UploaderSetup::from_config(&cfg).unwrap_err().iter().map(ToString::to_string).collect();
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("recordings[0].targets[0]") && e[0].contains("nowhere"), "{e:#?}");
}

// Guards against: `config check` printing an unknown target twice (once from the policy,
// once from the targets), as it did before the composition.
#[test]
fn an_unknown_target_name_is_reported_once() {
    let cfg = parse(
        "[[users]]\nid = \"alice\"\nnumbers = [\"201\"]\n\
         [[recordings]]\nname = \"r\"\nusers = [\"alice\"]\ntargets = [\"nas\", \"ofsite\"]\n\
         [[targets]]\nname = \"nas\"\nkind = \"folder\"\npath = \"/\"\n",
    );
    let checked = Checked::from_config(&cfg);
    let about: Vec<String> =
        checked.problems.iter().map(ToString::to_string).filter(|p| p.contains("ofsite")).collect();
    assert_eq!(about.len(), 1, "{:#?}", checked.problems);
    assert!(about[0].starts_with("callrec.toml:12: key `recordings[0].targets[1]`"), "{}", about[0]);
    let recorder = RecorderSetup::from_config(&cfg).unwrap_err();
    assert_eq!(recorder.iter().filter(|p| p.to_string().contains("ofsite")).count(), 1, "{recorder:#?}");
}

// Guards against: the recorder treating every `decline` but "accept" as "reject" while
// `config check` refused it.
#[test]
fn a_bad_decline_is_refused_by_check_and_recorder_with_one_message() {
    let cfg = parse("[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\ndecline = \"drop\"\n");
    let from_check: Vec<String> = Checked::from_config(&cfg)
        .problems
        .iter()
        .filter(|p| p.key == "pbx.siprec.decline")
        .map(ToString::to_string)
        .collect();
    assert_eq!(from_check, ["callrec.toml:8: key `pbx.siprec.decline`: \"drop\": use \"reject\" or \"accept\""]);
    let from_recorder: Vec<String> = RecorderSetup::from_config(&cfg).unwrap_err().iter().map(ToString::to_string).collect();
    assert_eq!(from_recorder, from_check);
    for (value, want) in [("reject", cr_pbx::Decline::Reject(403)), ("accept", cr_pbx::Decline::AcceptDropMedia)] {
        let cfg = parse(&format!("[pbx.siprec]\nlisten = [\"udp:127.0.0.1:5060\"]\ndecline = \"{value}\"\n"));
        let setup = RecorderSetup::from_config(&cfg).unwrap();
        assert_eq!(setup.siprec.unwrap().decline, want);
    }
}
