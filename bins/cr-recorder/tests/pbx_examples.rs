//! Fail-closed in the PBX examples (issue 15, item 5), without the PBX: the branch each
//! example takes, fed with the real recorder's answers.
//!
//! - Asterisk: `examples/asterisk/callrec-gate` (what extensions.conf runs through SHELL())
//!   is run as it is, with curl, against a running cr-recorder.
//! - FreeSWITCH: the `regex="all"` conditions of `examples/freeswitch/dialplan.xml` are
//!   read with Python's XML parser and their PCRE expressions applied with Python's `re` to
//!   the real `/v1/decide` and `/v1/health` bodies, in the dialplan's order.
//!
//! Not tested: Asterisk's and FreeSWITCH's own evaluation (SHELL, CUT, mod_curl,
//! FreeSWITCH's PCRE), and the hang-up itself.
// A test that cannot set up panics; unwrap says so as well as expect would.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use support::*;

/// Trading (3000) must be recorded and blocks when it cannot be; sales (4000) allows.
const CONFIG: &str = r#"
[[groups]]
id = "trading"
number = "3000"

[[groups]]
id = "sales"
number = "4000"

[[recordings]]
name = "trading-desk"
groups = ["trading"]
on_failure = "block"
targets = ["archive"]

[[recordings]]
name = "sales-line"
groups = ["sales"]
targets = ["archive"]

[[targets]]
name = "archive"
kind = "folder"
path = "$ROOT/archive"
"#;

/// The gate's answer for an incoming call to `callee`; `env` overrides.
fn gate(inst: &Install, callee: &str, env: &[(&str, String)]) -> String {
    let token = inst.path("api-tokens");
    std::fs::write(&token, format!("# a comment line\n{API_TOKEN}\n")).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/asterisk/callrec-gate");
    let mut cmd = Command::new("sh");
    cmd.arg(script).args(["incoming", "+4930999888", callee, "gate-call"]);
    cmd.env("CALLREC_API", format!("http://127.0.0.1:{}", inst.api_port)).env("CALLREC_API_TOKEN_FILE", &token);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The FreeSWITCH dialplan's branch for these answers: `block`, `record` or `dial`.
fn freeswitch_branch(decision: &str, health: &str) -> String {
    let plan = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/freeswitch/dialplan.xml");
    let py = r#"
import re, sys, xml.etree.ElementTree as ET
plan, decision, health = sys.argv[1], sys.argv[2], sys.argv[3]
fields = {"${callrec_decision}": decision, "${callrec_health}": health}
ext = ET.parse(plan).getroot().find("extension")
alls = [c for c in ext.findall("condition") if c.get("regex") == "all"]
assert len(alls) == 2, "the dialplan has its block and record conditions"
for name, cond in zip(["block", "record"], alls):
    if all(re.search(r.get("expression"), fields[r.get("field")]) for r in cond.findall("regex")):
        apps = [a.get("application") for a in cond.findall("action")]
        assert (name == "block") == ("hangup" in apps), apps
        assert (name == "record") == ("record_session" in apps), apps
        print(name)
        sys.exit(0)
print("dial")
"#;
    let out = Command::new("python3").arg("-c").arg(py).arg(plan).arg(decision).arg(health).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn answers(rec: &Recorder, callee: &str) -> (String, String) {
    let (_, decision) = rec.http("POST", "/v1/decide", &format!(r#"{{"direction":"incoming","caller":"+4930999888","callee":"{callee}"}}"#));
    let (_, health) = rec.http("GET", "/v1/health", "");
    (decision, health)
}

#[test]
fn the_examples_record_when_the_recorder_can_and_block_only_where_configured() {
    if !(have("curl") && have("python3")) {
        return;
    }
    let inst = Install::new(CONFIG, false);
    let rec = inst.start();
    assert_eq!(gate(&inst, "3000", &[]), "record ");
    assert_eq!(gate(&inst, "4000", &[]), "record ");
    assert_eq!(gate(&inst, "999", &[]), "dial", "not recorded: connected");
    for (callee, branch) in [("3000", "record"), ("4000", "record"), ("999", "dial")] {
        let (d, h) = answers(&rec, callee);
        assert_eq!(freeswitch_branch(&d, &h), branch, "{callee}: {d} {h}");
    }
    // The health answer does not come (a dead address): block where the configuration says.
    let dead = format!("http://127.0.0.1:{}/v1/health", free_port());
    assert_eq!(gate(&inst, "3000", &[("CALLREC_HEALTH_URL", dead.clone())]), "block");
    assert_eq!(gate(&inst, "4000", &[("CALLREC_HEALTH_URL", dead)]), "dial");
    let (d, _) = answers(&rec, "3000");
    assert_eq!(freeswitch_branch(&d, ""), "block", "no health answer: {d}");
    rec.stop();
    // No decision at all: the installation's choice.
    assert_eq!(gate(&inst, "3000", &[]), "dial");
    assert_eq!(gate(&inst, "3000", &[("CALLREC_NO_DECISION", "block".into())]), "block");
    assert_eq!(freeswitch_branch("", ""), "dial", "FreeSWITCH without any answer connects");
}

#[test]
fn the_examples_block_a_must_record_call_when_the_recorder_says_it_cannot() {
    if !(have("curl") && have("python3")) {
        return;
    }
    let inst = Install::new(&format!("{CONFIG}\n[pbx]\nmin_spool_free_percent = 100.0\n"), false);
    let rec = inst.start_answering();
    assert_eq!(gate(&inst, "3000", &[]), "block");
    assert_eq!(gate(&inst, "4000", &[]), "dial", "on_failure = allow (the default): connected unrecorded");
    assert_eq!(gate(&inst, "999", &[]), "dial");
    for (callee, branch) in [("3000", "block"), ("4000", "dial"), ("999", "dial")] {
        let (d, h) = answers(&rec, callee);
        assert!(h.contains("\"can_record\":false"), "{h}");
        assert_eq!(freeswitch_branch(&d, &h), branch, "{callee}: {d} {h}");
    }
    rec.stop();
}

// Guards against: a caller's number (chosen by whoever calls in) reaching a shell command
// or the decision's JSON unfiltered — `"; rm -rf /; "` as caller ID ran in the hang-up
// command of both examples.
#[test]
fn the_callers_number_reaches_no_shell_unfiltered() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let asterisk = std::fs::read_to_string(format!("{root}/asterisk/extensions.conf")).unwrap();
    for (n, line) in asterisk.lines().enumerate().filter(|(_, l)| l.contains("/usr/local/bin/")) {
        let outside = line.replace("${FILTER(0-9+,${CALLERID(num)})}", "").replace("${FILTER(0-9+*#,${EXTEN})}", "");
        assert!(!outside.contains("${CALLERID(num)}") && !outside.contains("${EXTEN}"), "extensions.conf line {}: {line}", n + 1);
    }
    // FreeSWITCH: the caller's number is used only as `callrec_caller`, which the first
    // condition sets from what its expression captures. Python's `re` applies that
    // expression to hostile numbers: none may pass.
    let py = format!(
        r#"
import re, xml.etree.ElementTree as ET
text = open("{root}/freeswitch/dialplan.xml").read()
ext = ET.fromstring(text).find("extension")
first = ext.find("condition")
assert first.get("field") == "caller_id_number", "the caller's number is filtered first"
expr = re.compile(first.get("expression"))
for bad in ['"; rm -rf /; "', "$(id)", "`id`", "1 2", "+49;reboot", "'", "1" * 40, "1\n2"]:
    m = expr.match(bad)
    assert m is None, repr(bad)
for good in ["+4930999888", "202", "0"]:
    assert expr.match(good).group(1) == good, good
assert "${{caller_id_number}}" not in text.split("-->", 1)[1].replace('field="caller_id_number"', ""), "only callrec_caller is used"
print("ok")
"#
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
