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

/// The one problem `config check` reports about `key`, which must be at `line` and say
/// `says`.
fn named_once(cfg: &Config, body: &str, line: u32, key: &str, says: &str) -> String {
    let checked: Vec<String> = Checked::from_config(cfg).problems.iter().map(ToString::to_string).collect();
    let about: Vec<&String> = checked.iter().filter(|p| p.contains(&format!("`{key}`"))).collect();
    assert_eq!(about.len(), 1, "{body}: {checked:#?}");
    assert!(about[0].starts_with(&format!("callrec.toml:{line}: key `{key}`: ")) && about[0].contains(says), "{body}: {}", about[0]);
    about[0].clone()
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

// Retention: `[retention]` and `[[recordings]] retention` checked once, each error at its
// line and key, the same for `config check` and both daemons.
#[test]
fn retention_settings_and_their_defaults() {
    let none = parse("");
    let r = UploaderSetup::from_config(&none).unwrap().retention;
    assert_eq!((r.default, r.interval), (None, std::time::Duration::from_secs(3600)));
    let cfg = parse("[retention]\ndefault = \"10y\"\ninterval = \"15m\"\n");
    let r = RecorderSetup::from_config(&cfg).unwrap().retention;
    assert_eq!(r.default, Some(cr_types::Period::years(10).unwrap()));
    assert_eq!(r.interval, std::time::Duration::from_secs(900));
    assert_eq!(UploaderSetup::from_config(&cfg).unwrap().retention, r);
    let cfg = parse("[retention]\ninterval = \"2h\"\n");
    assert_eq!(UploaderSetup::from_config(&cfg).unwrap().retention.interval, std::time::Duration::from_secs(7200));
}

#[test]
fn bad_retention_values_are_named_with_line_and_key_everywhere() {
    // HEAD is 4 lines, then an empty one: [retention] is on line 6.
    for (body, line, key, says) in [
        ("[retention]\ndefault = \"0y\"\n", 7, "retention.default", "expire every set at once"),
        ("[retention]\ndefault = \"-1d\"\n", 7, "retention.default", "digits only"),
        ("[retention]\ndefault = \"99999999y\"\n", 7, "retention.default", "too long"),
        ("[retention]\ndefault = \"5 y\"\n", 7, "retention.default", "digits only"),
        ("[retention]\ndefault = \"\"\n", 7, "retention.default", "empty"),
        ("[retention]\ndefault = \"5m\"\n", 7, "retention.default", "d (days) or y (years)"),
        ("[retention]\ninterval = \"0m\"\n", 7, "retention.interval", "between every minute and every 30 days"),
        ("[retention]\ninterval = \"31d\"\n", 7, "retention.interval", "between every minute and every 30 days"),
        ("[retention]\ninterval = \"5y\"\n", 7, "retention.interval", "unknown duration unit"),
        ("[retention]\n\ninterval = \"-1h\"\n", 8, "retention.interval", "not a duration"),
        ("[[recordings]]\nname = \"r\"\nretention = \"0d\"\n", 8, "recordings[0].retention", "expire every set at once"),
        (
            "[[recordings]]\nname = \"a\"\nretention = \"7y\"\n[[recordings]]\nname = \"b\"\nretention = \"7 years\"\n",
            11,
            "recordings[1].retention",
            "d (days) or y (years)",
        ),
    ] {
        let cfg = parse(body);
        let about = named_once(&cfg, body, line, key, says);
        let recorder: Vec<String> = RecorderSetup::from_config(&cfg).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(recorder.contains(&about), "{body}: {recorder:#?}");
        if key.starts_with("retention.") {
            let uploader: Vec<String> = UploaderSetup::from_config(&cfg).unwrap_err().iter().map(ToString::to_string).collect();
            assert!(uploader.contains(&about), "{body}: {uploader:#?}");
        }
    }
    // An unknown key of [retention] is named too.
    let cfg = parse("[retention]\ndefualt = \"5y\"\n");
    let e: Vec<String> = Checked::from_config(&cfg).problems.iter().map(ToString::to_string).collect();
    assert!(e.iter().any(|p| p.starts_with("callrec.toml:7") && p.contains("defualt")), "{e:#?}");
}

#[test]
fn config_check_says_which_configurations_never_expire() {
    let two = "[[recordings]]\nname = \"kept\"\nretention = \"5y\"\n[[recordings]]\nname = \"forever\"\n";
    let notes = Checked::from_config(&parse(two)).notes;
    let about: Vec<&String> = notes.iter().filter(|n| n.contains("never expire")).collect();
    assert_eq!(about.len(), 1, "{notes:#?}");
    assert!(about[0].contains("\"forever\"") && !about[0].contains("\"kept\""), "{}", about[0]);
    let with_default = format!("{two}[retention]\ndefault = \"10y\"\n");
    assert!(!Checked::from_config(&parse(&with_default)).notes.iter().any(|n| n.contains("never expire")));
    let all_set = "[[recordings]]\nname = \"kept\"\nretention = \"5y\"\n";
    assert!(!Checked::from_config(&parse(all_set)).notes.iter().any(|n| n.contains("never expire")));
}

// Guards against: a console configuration that `config check` passes but cr-console refuses
// (or starts with plain HTTP on a public address).
#[test]
fn bad_console_values_are_named_by_config_check_and_the_defaults_are_safe() {
    // [console] is on line 6, its first key on line 7.
    for (body, line, key, says) in [
        ("[console]\nlisten = \"0.0.0.0:8443\"\n", 7, "console.listen", "not a loopback address"),
        ("[console]\nlisten = \"localhost\"\n", 7, "console.listen", "\"localhost\""),
        ("[console]\nidle_timeout = \"5s\"\n", 7, "console.idle_timeout", "between 1m and 24h"),
        ("[console]\nlockout_time = \"2d\"\n", 7, "console.lockout_time", "between 1m and 24h"),
        ("[console]\nlockout_failures = 0\n", 7, "console.lockout_failures", "between 1 and 100"),
        ("[console]\ncertificate = \"c.pem\"\n", 6, "console.key", "a certificate needs its key"),
    ] {
        let cfg = parse(body);
        let about = named_once(&cfg, body, line, key, says);
        let direct: Vec<String> = cr_setup::ConsoleSettings::from_config(&cfg).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(direct.contains(&about), "cr-console gives the same message: {direct:#?}");
    }
    let d = cr_setup::ConsoleSettings::from_config(&parse("")).unwrap();
    assert_eq!((d.listen.to_string(), d.tls.is_none(), d.lockout_failures), ("127.0.0.1:8443".to_owned(), true, 5));
    assert_eq!((d.idle_timeout.as_secs(), d.lockout_time.as_secs()), (900, 900));
}
