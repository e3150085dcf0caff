//! `crctl reconcile` against a journal of real sealed sets: a CDR file in each PBX's format
//! (field order and quoting as their documentation gives them), with recorded, short,
//! missing, declined (logged out at run time) and unexpected calls; every verdict and the
//! exit code checked by running the binary.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use common::keyed::{Install, t0};

const POLICY: &str = r#"
[[users]]
id = "alice"
numbers = ["201"]

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

[[recordings]]
name = "trading"
groups = ["trading"]
targets = ["nas"]
"#;

/// One call of the scenario: when it was offered (minutes after t0), its parties, how long
/// it was connected, and the verdict worked out by hand.
struct Case {
    min: i64,
    caller: &'static str,
    callee: &'static str,
    secs: i64,
    /// The set sealed for it (id, seconds of media), if any.
    set: Option<(&'static str, i64)>,
    expected: &'static str,
}

const CASES: [Case; 6] = [
    // alice calls out: recorded in full.
    Case { min: 0, caller: "201", callee: "004930999001", secs: 95, set: Some(("20261126T090005Z-0001", 95)), expected: "RECORDED" },
    // A caller dials the group: only 30 s of 95 recorded.
    Case { min: 10, caller: "+4930999002", callee: "300", secs: 95, set: Some(("20261126T091005Z-0002", 30)), expected: "SHORT" },
    // bob (logged in) calls out: no set.
    Case { min: 20, caller: "202", callee: "004930999003", secs: 60, set: None, expected: "MISSING" },
    // bob logged out at minute 25: not recorded, as decided.
    Case { min: 30, caller: "202", callee: "004930999004", secs: 60, set: None, expected: "NOT-RECORDED-AS-DECIDED" },
    // bob logged in again at minute 45: no set.
    Case { min: 50, caller: "202", callee: "004930999005", secs: 60, set: None, expected: "MISSING" },
    // carol is in no recorded group, yet there is a set.
    Case { min: 60, caller: "203", callee: "004930999006", secs: 60, set: Some(("20261126T100005Z-0003", 60)), expected: "RECORDED-UNEXPECTEDLY" },
];

fn offered(c: &Case) -> DateTime<Utc> {
    t0() + Duration::minutes(c.min)
}

fn answered(c: &Case) -> DateTime<Utc> {
    offered(c) + Duration::seconds(5)
}

/// The journal's number form of a CDR number (the recorder keeps what SIPREC sent).
fn e164(n: &str) -> String {
    n.strip_prefix("00").map_or_else(|| n.to_owned(), |r| format!("+{r}"))
}

fn installation() -> Install {
    let inst = Install::new(POLICY);
    let j = inst.journal();
    for c in &CASES {
        if let Some((id, secs)) = c.set {
            inst.seal_lasting(&j, id, c.caller, &e164(c.callee), answered(c), secs, &["nas"]);
        }
    }
    j.set_membership("trading", "bob", false, "test", t0() + Duration::minutes(25)).unwrap();
    j.set_membership("trading", "bob", true, "test", t0() + Duration::minutes(45)).unwrap();
    // alice logs out after every call: the state now must not decide the past.
    j.set_membership("trading", "alice", false, "test", t0() + Duration::hours(5)).unwrap();
    inst
}

fn local(t: DateTime<Utc>) -> String {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    t.with_timezone(&berlin).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The PBX's call id of case `i`: the one the journal stored for its set (`pbx-ID`) where
/// it has one, so that matching by call id is exercised; CUCM's are integers.
fn call_id(i: usize, c: &Case) -> String {
    c.set.map_or_else(|| format!("1795683600.{i}"), |(id, _)| format!("pbx-{id}"))
}

/// Asterisk cdr_csv (Master.csv): strings quoted, duration and billsec bare, local times.
fn asterisk() -> (String, u64) {
    let mut s = String::new();
    for (i, c) in CASES.iter().enumerate() {
        let end = answered(c) + Duration::seconds(c.secs);
        s.push_str(&format!(
            "\"\",\"{}\",\"{}\",\"from-internal\",\"\"\"User\"\" <{}>\",\"PJSIP/{}-0000000{i}\",\"PJSIP/trunk-0000001{i}\",\"Dial\",\"PJSIP/{}@trunk,60\",\"{}\",\"{}\",\"{}\",{},{},\"ANSWERED\",\"DOCUMENTATION\",\"{}\",\"\"\n",
            c.caller, c.callee, c.caller, c.caller, c.callee, local(offered(c)), local(answered(c)), local(end),
            (end - offered(c)).num_seconds(), c.secs, call_id(i, c)
        ));
    }
    s.push_str("\"\",\"201\",\"300\",\"from-internal\",\"\",\"PJSIP/201-9\",\"\",\"Dial\",\"\",\"secret-4930555777\",\"\",\"\",1,1,\"ANSWERED\",\"DOCUMENTATION\",\"x\",\"\"\n");
    (s, 0)
}

/// FreeSWITCH mod_cdr_csv, template `default`: every field quoted, local times.
fn freeswitch() -> (String, u64) {
    let mut s = String::new();
    for (i, c) in CASES.iter().enumerate() {
        let end = answered(c) + Duration::seconds(c.secs);
        s.push_str(&format!(
            "\"User\",\"{}\",\"{}\",\"default\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"NORMAL_CLEARING\",\"{}\",\"b-{i}\",\"\",\"PCMA\",\"PCMA\"\n",
            c.caller, c.callee, local(offered(c)), local(answered(c)), local(end), (end - offered(c)).num_seconds(), c.secs, call_id(i, c)
        ));
    }
    s.push_str("\"User\",\"201\",\"300\",\"default\",\"secret-4930555777\",\"\",\"\",\"1\",\"1\",\"NORMAL_CLEARING\",\"x\",\"\",\"\",\"PCMA\",\"PCMA\"\n");
    (s, 0)
}

/// CUCM CDR: the header row (the fields of the CDR definition, in its order, up to
/// `duration`), the types row, integers bare, strings quoted, times in seconds since 1970.
fn cucm() -> (String, u64) {
    let fields: [(&str, &str); 34] = [
        ("cdrRecordType", "INTEGER"), ("globalCallID_callManagerId", "INTEGER"), ("globalCallID_callId", "INTEGER"),
        ("origLegCallIdentifier", "INTEGER"), ("dateTimeOrigination", "INTEGER"), ("origNodeId", "INTEGER"),
        ("origSpan", "INTEGER"), ("origIpAddr", "INTEGER"), ("callingPartyNumber", "VARCHAR(50)"),
        ("callingPartyUnicodeLoginUserID", "VARCHAR(128)"), ("origCause_location", "INTEGER"), ("origCause_value", "INTEGER"),
        ("origPrecedenceLevel", "INTEGER"), ("origMediaTransportAddress_IP", "INTEGER"), ("origMediaTransportAddress_Port", "INTEGER"),
        ("origMediaCap_payloadCapability", "INTEGER"), ("origMediaCap_maxFramesPerPacket", "INTEGER"), ("origMediaCap_g723BitRate", "INTEGER"),
        ("destLegIdentifier", "INTEGER"), ("destNodeId", "INTEGER"), ("destSpan", "INTEGER"), ("destIpAddr", "INTEGER"),
        ("originalCalledPartyNumber", "VARCHAR(50)"), ("finalCalledPartyNumber", "VARCHAR(50)"),
        ("finalCalledPartyUnicodeLoginUserID", "VARCHAR(128)"), ("destCause_location", "INTEGER"), ("destCause_value", "INTEGER"),
        ("dateTimeConnect", "INTEGER"), ("dateTimeDisconnect", "INTEGER"), ("lastRedirectDn", "VARCHAR(50)"),
        ("pkid", "UNIQUEIDENTIFIER"), ("originalCalledPartyNumberPartition", "VARCHAR(50)"), ("callingPartyNumberPartition", "VARCHAR(50)"),
        ("duration", "INTEGER"),
    ];
    let mut s = fields.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(",") + "\n";
    s += &(fields.iter().map(|(_, t)| *t).collect::<Vec<_>>().join(",") + "\n");
    let row = |id: usize, orig: &str, caller: &str, callee: &str, connect: &str, disconnect: &str, secs: &str| {
        let mut v: Vec<String> = fields.iter().map(|(_, t)| if *t == "INTEGER" { "0".to_owned() } else { "\"\"".to_owned() }).collect();
        v[0] = "1".into();
        v[1] = "1".into();
        v[2] = format!("{}", 5000 + id);
        v[4] = orig.into();
        v[8] = format!("\"{caller}\"");
        v[22] = format!("\"{callee}\"");
        v[23] = format!("\"{callee}\"");
        v[27] = connect.into();
        v[28] = disconnect.into();
        v[30] = format!("\"6f1e9a2c-0000-4000-8000-{id:012}\"");
        v[33] = secs.into();
        v.join(",") + "\n"
    };
    for (i, c) in CASES.iter().enumerate() {
        let end = answered(c) + Duration::seconds(c.secs);
        s += &row(i, &offered(c).timestamp().to_string(), c.caller, c.callee, &answered(c).timestamp().to_string(), &end.timestamp().to_string(), &c.secs.to_string());
    }
    s += &row(99, "secret-4930555777", "201", "300", "0", "0", "1");
    (s, 2)
}

/// Any CSV with a header: RFC 3339 times, own column names.
fn csv() -> (String, u64) {
    let mut s = String::from("Id,From,To,Connected,Seconds\n");
    for (i, c) in CASES.iter().enumerate() {
        s.push_str(&format!("{},{},{},{},{}\n", call_id(i, c), c.caller, c.callee, answered(c).to_rfc3339(), c.secs));
    }
    s.push_str("x,201,300,secret-4930555777,1\n");
    (s, 1)
}

fn check_format(format: &str, (text, header_lines): (String, u64), extra: &[&str]) {
    let inst = installation();
    let cdr = inst.dir.path().join(format!("cdr-{format}.csv"));
    std::fs::write(&cdr, text).unwrap();
    let cdr_arg = cdr.display().to_string();
    let mut args = vec!["reconcile", "--cdr", &cdr_arg, "--format", format, "--json", "--all"];
    args.extend_from_slice(extra);
    let (code, out, err) = inst.crctl(&args);
    assert_eq!(code, 1, "MISSING and SHORT calls: exit 1 ({format}); stderr: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{format}: {e}: {out}"));
    for (i, c) in CASES.iter().enumerate() {
        let line = header_lines + i as u64 + 1;
        let call = report["calls"].as_array().unwrap().iter().find(|v| v["line"] == line).unwrap_or_else(|| panic!("{format}: no verdict for line {line}: {out}"));
        assert_eq!(call["verdict"], c.expected, "{format} line {line}: {call}");
        assert_eq!(call["set_id"].as_str(), c.set.map(|(id, _)| id), "{format} line {line}");
    }
    let bad_line = header_lines + CASES.len() as u64 + 1;
    assert_eq!(report["bad_rows"][0]["line"], bad_line, "{format}");
    assert!(!out.contains("4930555777") && !out.contains("4930999003"), "{format}: CDR content or numbers in clear: {out}");
    let s = &report["summary"];
    assert_eq!((s["calls"].as_u64(), s["bad_rows"].as_u64(), s["sets_without_call"].as_u64()), (Some(6), Some(1), Some(0)), "{format}: {s}");

    // The text report names the file, line and field of the bad row and lists the problems.
    let (code, text, _) = inst.crctl(&["reconcile", "--cdr", &cdr_arg, "--format", format].iter().copied().chain(extra.iter().copied()).collect::<Vec<_>>());
    assert_eq!(code, 1);
    assert!(text.contains(&format!("BAD-ROW {cdr_arg} line {bad_line}: ")), "{format}: {text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("MISSING ")).count(), 2, "{format}: {text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("SHORT ")).count(), 1, "{format}: {text}");
    assert!(!text.contains("4930555777"), "{format}: {text}");
}

#[test]
fn asterisk_master_csv_every_verdict() {
    check_format("asterisk", asterisk(), &[]);
}

#[test]
fn freeswitch_cdr_csv_every_verdict() {
    check_format("freeswitch", freeswitch(), &[]);
}

#[test]
fn cucm_cdr_every_verdict() {
    check_format("cucm", cucm(), &[]);
}

#[test]
fn csv_with_column_map_every_verdict() {
    check_format("csv", csv(), &["--columns", "call_id=Id,caller=From,callee=To,start=Connected,duration=Seconds"]);
}

#[test]
fn a_file_with_every_call_recorded_exits_0_and_bad_arguments_exit_2() {
    let inst = installation();
    let (text, _) = asterisk();
    let cdr = inst.dir.path().join("Master.csv");
    std::fs::write(&cdr, text.lines().next().unwrap().to_owned() + "\n").unwrap();
    let cdr_arg = cdr.display().to_string();
    let (code, out, err) = inst.crctl(&["reconcile", "--cdr", &cdr_arg, "--format", "asterisk"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("summary: 1 calls: 1 RECORDED"), "{out}");
    // The same row read as UTC is an hour off: nothing within the window, the call MISSING.
    let (code, out, _) = inst.crctl(&["reconcile", "--cdr", &cdr_arg, "--format", "asterisk", "--tz", "UTC"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("MISSING line 1"), "{out}");
    for bad in [
        vec!["reconcile", "--cdr", "/nonexistent/Master.csv", "--format", "asterisk"],
        vec!["reconcile", "--cdr", &cdr_arg, "--format", "csv"],
        vec!["reconcile", "--cdr", &cdr_arg, "--format", "asterisk", "--tz", "Mars/Olympus"],
        vec!["reconcile", "--cdr", &cdr_arg, "--format", "dbase"],
    ] {
        let (code, _, err) = inst.crctl(&bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}
