//! Configuration checks through `cr_config::Config::parse`: each bad file gives its
//! message with the right line and key. Lines are found by searching the test's own text.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use cr_config::{Config, ConfigError};
use cr_policy::{CallFacts, Policy, check_config};

const GOOD: &str = r#"[installation]
module_id = "pbx-berlin-01"
data_dir = "/nonexistent/callrec"
country_code = "49"
area_code = "30"

[[users]]
id = "alice"
numbers = ["201", "+4930555201"]

[[users]]
id = "bob"
numbers = ["202"]

[[users]]
id = "carol"
numbers = ["203"]

[[groups]]
id = "trading"
number = "300"
members = ["alice", "bob"]
inactive = ["bob"]

[[recordings]]
name = "trading-desk"
groups = ["trading"]
users = ["carol"]
record_direct_calls_to_active_members = false
channels = "stereo"
targets = ["nas", "offsite"]

[[targets]]
name = "nas"
kind = "folder"
path = "/srv/nas"

[[targets]]
name = "offsite"
kind = "folder"
path = "/srv/offsite"
"#;

/// 1-based line of the first line containing `needle` in `text`, counted here.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).unwrap_or_else(|| panic!("{needle:?} not in the text"))
}

fn parse(text: &str) -> Config {
    Config::parse(text, "callrec.toml").unwrap_or_else(|e| panic!("cr-config refused the test file: {e}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    let cfg = parse(text);
    let errs = Policy::from_config(&cfg).err().unwrap_or_default();
    // check_config reports the same (plus file checks, none here beyond announcements).
    let checked = check_config(&cfg);
    assert!(checked.len() >= errs.len());
    errs
}

/// Replaces `from` by `to` (exactly once) and expects one error at the line holding
/// `at`, with `key` and a message containing `msg`.
fn expect_one(from: &str, to: &str, at: &str, key: &str, msg: &str) {
    assert_eq!(GOOD.matches(from).count(), 1, "{from:?} must occur once in GOOD");
    let text = GOOD.replacen(from, to, 1);
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.line, Some(line_of(&text, at)), "{e}");
    assert_eq!(e.key, key, "{e}");
    assert!(e.message.contains(msg), "message lacks {msg:?}: {e}");
    assert!(e.to_string().starts_with(&format!("callrec.toml:{}: key `{key}`", line_of(&text, at))), "{e}");
}

#[test]
fn good_file_builds_and_decides() {
    let cfg = parse(GOOD);
    let p = Policy::from_config(&cfg).unwrap();
    let d = p.decide(&CallFacts::incoming("+4930999888", "030 555201"));
    assert!(!d.record, "alice's direct calls are not recorded without S7");
    assert!(p.decide(&CallFacts::incoming("x", "300")).record);
    assert!(!p.decide(&CallFacts::outgoing("202", "x")).record, "bob starts logged out");
    assert!(p.decide(&CallFacts::outgoing("203", "x")).record);
    assert!(check_config(&cfg).is_empty(), "{:?}", check_config(&cfg));
}

#[test]
fn unknown_member() {
    expect_one(
        r#"members = ["alice", "bob"]"#,
        r#"members = ["alice", "bob", "zed"]"#,
        r#""zed"]"#,
        "groups[0].members[2]",
        "unknown user \"zed\"",
    );
}

#[test]
fn unknown_recorded_group() {
    expect_one(r#"groups = ["trading"]"#, r#"groups = ["trading",
  "sales"]"#, r#""sales"]"#, "recordings[0].groups[1]", "unknown group \"sales\"");
}

#[test]
fn unknown_recorded_user() {
    expect_one(r#"users = ["carol"]"#, r#"users = ["dan"]"#, r#"users = ["dan"]"#, "recordings[0].users[0]", "unknown user \"dan\"");
}

#[test]
fn unknown_target() {
    expect_one(
        r#"targets = ["nas", "offsite"]"#,
        r#"targets = ["nas", "ofsite"]"#,
        r#"targets = ["nas", "ofsite"]"#,
        "recordings[0].targets[1]",
        "unknown target \"ofsite\"",
    );
}

#[test]
fn unknown_channel_mode() {
    expect_one(r#"channels = "stereo""#, r#"channels = "mono""#, "channels = \"mono\"", "recordings[0].channels", "unknown channel mode \"mono\"");
}

#[test]
fn number_owned_twice_after_normalising() {
    expect_one(
        r#"numbers = ["203"]"#,
        r#"numbers = ["203", "0049 (0)30 555-201"]"#,
        r#""0049 (0)30 555-201""#,
        "users[2].numbers[1]",
        "already the number of user alice (users[0].numbers[1])",
    );
    // National form, with the country code of [installation].
    expect_one(r#"number = "300""#, r#"number = "030555201""#, r#"number = "030555201""#, "groups[0].number", "user alice");
    // Group number equal to a user's.
    expect_one(r#"number = "300""#, r#"number = "sip:202@pbx""#, "sip:202@pbx", "groups[0].number", "user bob");
}

#[test]
fn inactive_but_not_a_member() {
    expect_one(
        r#"inactive = ["bob"]"#,
        r#"inactive = ["carol"]"#,
        r#"inactive = ["carol"]"#,
        "groups[0].inactive[0]",
        "user \"carol\" is listed as inactive but is not a member of group \"trading\"",
    );
}

#[test]
fn member_listed_twice() {
    expect_one(r#"members = ["alice", "bob"]"#, r#"members = ["alice", "bob", "alice"]"#, "members = [", "groups[0].members[2]", "listed twice");
}

#[test]
fn bad_number_and_bad_country_code() {
    expect_one(r#"numbers = ["202"]"#, r#"numbers = ["--"]"#, r#"numbers = ["--"]"#, "users[1].numbers[0]", "is not a phone number");
    expect_one(r#"country_code = "49""#, r#"country_code = "x49""#, "country_code", "installation.country_code", "country code");
}

#[test]
fn several_problems_are_all_reported() {
    let text = GOOD.replace(r#"users = ["carol"]"#, r#"users = ["dan"]"#).replace(r#"channels = "stereo""#, r#"channels = "both""#);
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn missing_announcement_files_are_named_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("announcements")).unwrap();
    std::fs::write(dir.path().join("announcements/in.wav"), b"RIFF").unwrap();
    let text = GOOD
        .replace("/nonexistent/callrec", &dir.path().display().to_string())
        .replace(
            "channels = \"stereo\"\n",
            "channels = \"stereo\"\nannouncement_incoming = \"announcements/in.wav\"\nannouncement_outgoing = \"announcements/beep.wav\"\n",
        );
    let cfg = parse(&text);
    assert!(Policy::from_config(&cfg).is_ok(), "from_config touches no file");
    let errs = check_config(&cfg);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].line, Some(line_of(&text, "announcement_outgoing")));
    assert_eq!(errs[0].key, "recordings[0].announcement_outgoing");
    assert!(errs[0].message.contains("beep.wav") && errs[0].message.contains("does not exist"), "{}", errs[0]);

    // The decision names the announcement as configured.
    let p = Policy::from_config(&cfg).unwrap();
    assert_eq!(p.decide(&CallFacts::incoming("x", "300")).announcement.as_deref(), Some("announcements/in.wav"));
    assert_eq!(p.decide(&CallFacts::outgoing("203", "x")).announcement.as_deref(), Some("announcements/beep.wav"));
}

#[test]
fn duplicate_names_are_refused_with_their_line() {
    // The policy owns this check now (with the schema of [[users]], [[groups]],
    // [[recordings]]); cr-config did it at load before.
    let text = GOOD.replace("id = \"bob\"", "id = \"alice\"");
    let errs = Policy::from_config(&parse(&text)).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.key, "users[1].id", "{e}");
    assert_eq!(e.line, Some(line_of(&GOOD.replace("id = \"bob\"", "id = \"xx\""), "id = \"xx\"")));
}

// Retention: the configuration's period reaches the decision (and its JSON); a bad one is
// named at its line and key.
#[test]
fn the_decision_carries_the_configurations_retention() {
    let p = Policy::from_config(&parse(GOOD)).unwrap();
    let d = p.decide(&CallFacts::incoming("x", "300"));
    assert_eq!(d.retention, None);
    assert!(!serde_json::to_string(&d).unwrap().contains("retention"));
    let text = GOOD.replacen("channels = \"stereo\"", "channels = \"stereo\"\nretention = \"7y\"", 1);
    let d = Policy::from_config(&parse(&text)).unwrap().decide(&CallFacts::incoming("x", "300"));
    assert_eq!(d.retention, Some(cr_types::Period::years(7).unwrap()));
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["retention"], "7y");
    let back: cr_policy::Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back.retention, d.retention, "call.json keeps it across a crash");
    assert!(!p.decide(&CallFacts::incoming("x", "999")).record);
    expect_one("channels = \"stereo\"", "channels = \"stereo\"\nretention = \"-1d\"", "retention", "recordings[0].retention", "digits only");
    expect_one("channels = \"stereo\"", "channels = \"stereo\"\nretention = \"0y\"", "retention", "recordings[0].retention", "expire every set at once");
    expect_one("channels = \"stereo\"", "channels = \"stereo\"\nretention = 5", "retention", "retention", "string");
}
