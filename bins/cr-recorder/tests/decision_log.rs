//! The signed log of calls not recorded (issue 15, item 3): calls declined through the
//! decision API and through SIPREC (cr-pbx's load generator as the SRC), a member logged
//! out with crctl, a call that fails to record for want of an RTP port, a SIGKILL between
//! the entries and their sealing. The sealed `decision-log` sets are checked with stock
//! tools (sha256sum, shasum, openssl) as subprocesses and with cr-verify; the entries are
//! read as plain JSON.
// A test that cannot set up panics; unwrap says so as well as expect would.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// Bob (2020) is a member of trading (3000), recorded by trading-desk with on_failure =
/// "block"; sales (4000) is recorded by sales-line with "allow".
const LOG_CONFIG: &str = r#"
[[users]]
id = "alice"
numbers = ["201"]

[[users]]
id = "bob"
numbers = ["2020"]

[[groups]]
id = "trading"
number = "3000"
members = ["alice", "bob"]

[[groups]]
id = "sales"
number = "4000"
members = ["alice"]

[[recordings]]
name = "trading-desk"
groups = ["trading"]
on_failure = "block"
targets = ["archive"]

[[recordings]]
name = "sales-line"
groups = ["sales"]
on_failure = "allow"
targets = ["archive"]

[[targets]]
name = "archive"
kind = "folder"
path = "$ROOT/archive"

[decision_log]
seal_interval = "1h"
"#;

fn decide(rec: &Recorder, body: &str) -> Value {
    let (status, text) = rec.http("POST", "/v1/decide", body);
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn metric(rec: &Recorder, name: &str) -> u64 {
    let (_, m) = rec.http("GET", "/metrics", "");
    m.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
}

fn wait_metric(rec: &Recorder, name: &str, min: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(rec, name) < min {
        assert!(Instant::now() < deadline, "{name} did not reach {min}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One SIPREC call from `caller` to `callee` (load generator numbers: prefix + "0").
fn siprec_call(inst: &Install, caller_prefix: &str, callee_prefix: &str, secs: u64) -> std::thread::JoinHandle<()> {
    let target = format!("127.0.0.1:{}", inst.sip_port).parse().unwrap();
    let mut spec = cr_pbx::driver::LoadSpec::new(target, 1, Duration::from_secs(secs));
    spec.caller_prefix = caller_prefix.into();
    spec.callee_prefix = callee_prefix.into();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        // A declined or refused call is an outcome here, not an error of the test.
        let _ = rt.block_on(cr_pbx::driver::run_calls(spec));
    })
}

/// A sealed decision log: its checksum file, metadata and entries.
struct Log {
    checksum: PathBuf,
    meta: Value,
    entries: Vec<Value>,
}

/// Every decision-log set below `root`.
fn logs_below(root: &Path) -> Vec<Log> {
    let mut out = Vec::new();
    for checksum in checksum_files_below(root) {
        let Some(jsonl) = decision_entries_of(&checksum) else { continue };
        let id = checksum.file_stem().unwrap().to_str().unwrap().to_owned();
        let meta: Value = serde_json::from_slice(&std::fs::read(checksum.with_file_name(format!("{id}.json"))).unwrap()).unwrap();
        let entries = std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        out.push(Log { checksum, meta, entries });
    }
    out
}

/// CONTRACT §3's stock commands in the set's directory, as subprocesses.
fn verify_with_stock_tools(log: &Log, cert_pem: &Path) {
    let dir = log.checksum.parent().unwrap();
    let name = log.checksum.file_name().unwrap().to_str().unwrap();
    run(Command::new("sha256sum").arg("-c").arg(name).current_dir(dir));
    if have("shasum") {
        run(Command::new("shasum").args(["-a", "256", "-c", name]).current_dir(dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let sig = tmp.path().join("sig.bin");
    let pub_pem = tmp.path().join("pub.pem");
    let sig_b64 = dir.join(format!("{name}.SHA256withRSA.sig"));
    run(Command::new("sh").arg("-c").arg(format!("base64 -d '{}' > '{}'", sig_b64.display(), sig.display())));
    run(Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in"]).arg(cert_pem).arg("-out").arg(&pub_pem));
    let out = run(Command::new("openssl").args(["dgst", "-sha256", "-verify"]).arg(&pub_pem).arg("-signature").arg(&sig).arg(name).current_dir(dir));
    assert!(out.contains("Verified OK"), "{out}");
}

/// The recorder's logs of this installation, for a failure's message.
fn recorder_logs(inst: &Install) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(inst.dir.path()).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("recorder-") {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}

fn by_call<'a>(log: &'a Log, call_id: &str) -> &'a Value {
    log.entries.iter().find(|e| e["pbx_call_id"] == call_id).unwrap_or_else(|| panic!("no entry for {call_id}: {:?}", log.entries))
}

#[test]
fn declined_calls_name_the_rule_and_the_logout_and_verify_with_stock_tools() {
    if !(have("openssl") && have("sha256sum") && have("base64")) {
        return;
    }
    let Some(crctl) = sibling_bin("crctl") else { return };
    let inst = Install::new(LOG_CONFIG, true);
    let rec = inst.start();
    let bob_out = r#"{"direction":"outgoing","caller":"2020","callee":"+4930999888"}"#;
    let d = decide(&rec, bob_out);
    assert_eq!((d["record"].as_bool(), d["on_failure"].as_str()), (Some(true), Some("block")), "{d}");
    let t0 = chrono::Utc::now();
    run(Command::new(&crctl).arg("--config").arg(&inst.config).args(["group", "logout", "trading", "bob", "--by", "alice"]));
    // The recorder follows the journal within seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while decide(&rec, bob_out)["record"] == true {
        assert!(Instant::now() < deadline, "the logout did not reach the recorder");
        std::thread::sleep(Duration::from_millis(200));
    }
    let t1 = chrono::Utc::now();
    let d = decide(&rec, r#"{"direction":"outgoing","caller":"2020","callee":"+4930999888","call_id":"api-bob"}"#);
    assert_eq!(d["record"], false);
    assert_eq!(d["on_failure"], Value::Null, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("user bob is logged out of group trading"), "{d}");
    decide(&rec, r#"{"direction":"incoming","caller":"+4930999888","callee":"999","call_id":"api-nobody"}"#);
    // SIPREC: bob calls out; the SRC does not say which way, the recorder declines.
    siprec_call(&inst, "202", "+4930999888", 1).join().unwrap();
    wait_metric(&rec, "callrec_declined_total", 1);
    assert!(logs_below(&inst.path("data/spool")).is_empty(), "nothing sealed before the interval or the shutdown");
    rec.stop();

    // Sealed at the clean shutdown, and delivered like a recording.
    let delivered = inst.deliver(&[("archive", "archive")]);
    assert!(delivered >= 1, "{delivered}: {}", recorder_logs(&inst));
    let logs = logs_below(&inst.path("archive"));
    assert_eq!(logs.len(), 1, "one decision-log set");
    let log = &logs[0];
    assert_eq!(log.meta["kind"], "decision-log");
    assert_eq!(log.meta["format"], 1);
    assert_eq!(log.meta["entries"].as_u64(), Some(log.entries.len() as u64));
    assert_eq!(log.meta["declined"].as_u64(), Some(log.entries.len() as u64));
    verify_with_stock_tools(log, &inst.path("data/cert.pem"));

    let bob = by_call(log, "api-bob");
    assert_eq!((bob["kind"].as_str(), bob["source"].as_str(), bob["rule"].as_str()), (Some("declined"), Some("api"), Some("no rule matched")));
    assert!(bob["reason"].as_str().unwrap().contains("logged out of group trading"), "{bob}");
    let m = &bob["memberships"][0];
    assert_eq!((m["group"].as_str(), m["user"].as_str(), m["active"].as_bool()), (Some("trading"), Some("bob"), Some(false)), "{bob}");
    assert_eq!(m["changed_by"], "crctl:alice", "crctl names itself and the --by operator: {bob}");
    let at: chrono::DateTime<chrono::Utc> = m["changed_at"].as_str().unwrap().parse().unwrap();
    assert!(at >= t0 - chrono::Duration::seconds(1) && at <= t1, "logout at {at}, between {t0} and {t1}");
    let nobody = by_call(log, "api-nobody");
    assert_eq!(nobody["rule"], "no rule matched");
    assert!(nobody.get("memberships").is_none(), "{nobody}");
    let sip: Vec<&Value> = log.entries.iter().filter(|e| e["source"] == "siprec").collect();
    assert_eq!(sip.len(), 1, "{:?}", log.entries);
    assert_eq!((sip[0]["caller"].as_str(), sip[0]["rule"].as_str()), (Some("2020"), Some("no rule matched")));
    assert_eq!(sip[0]["memberships"][0]["user"], "bob", "{}", sip[0]);
    assert_eq!(sip[0]["memberships"][0]["active"], false, "{}", sip[0]);
    // Entry numbers: unique and rising in file order.
    let numbers: Vec<u64> = log.entries.iter().map(|e| e["entry"].as_u64().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");

    if let Some(verify) = sibling_bin("cr-verify") {
        let out = Command::new(verify).arg("--cert").arg(inst.path("data/cert.pem")).arg(inst.path("archive")).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        let id = log.meta["id"].as_str().unwrap();
        assert!(text.contains(&format!("OK {id} (decision log: {} entries", log.entries.len())), "{text}");
    }

    // Nothing declined since: a restart and a stop seal nothing more.
    inst.start().stop();
    assert_eq!(logs_below(&inst.path("data/spool")).len() + logs_below(&inst.path("archive")).len(), 1);
}

/// `install`'s configuration with `rtp_ports = "LOW-HIGH"`.
fn with_rtp_ports(inst: &Install, ports: (u16, u16)) {
    let text = std::fs::read_to_string(&inst.config).unwrap();
    let start = text.find("rtp_ports = \"").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let text = format!("{}rtp_ports = \"{}-{}\"{}", &text[..start], ports.0, ports.1, &text[end..]);
    std::fs::write(&inst.config, text).unwrap();
}

/// Two even ports of this process, apart from those of tests/ports.rs.
fn two_ports(offset: u16) -> (u16, u16) {
    let lo = 21_004 + (std::process::id() % 1_000) as u16 * 10 + offset;
    (lo, lo + 3)
}

/// Tests that use their own RTP ports: one at a time.
static PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_call_that_gets_no_rtp_port_is_logged_failed_with_its_cause() {
    let _one = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let inst = Install::new(LOG_CONFIG, true);
    let ports = two_ports(0);
    with_rtp_ports(&inst, ports);
    // Another program holds the only two ports of the range.
    let _taken: Vec<UdpSocket> = [ports.0, ports.0 + 2].iter().map(|p| UdpSocket::bind(("127.0.0.1", *p)).unwrap()).collect();
    let rec = inst.start();
    siprec_call(&inst, "+4930999888", "300", 1).join().unwrap();
    wait_metric(&rec, "callrec_decision_log_entries_total{kind=\"failed\"}", 1);
    rec.stop();
    let logs = logs_below(&inst.path("data/spool"));
    assert_eq!(logs.len(), 1);
    let failed: Vec<&Value> = logs[0].entries.iter().filter(|e| e["kind"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{:?}", logs[0].entries);
    let e = failed[0];
    assert_eq!((e["rule"].as_str(), e["on_failure"].as_str(), e["callee"].as_str()), (Some("trading-desk"), Some("block"), Some("3000")), "{e}");
    assert!(e["cause"].as_str().unwrap().contains("MediaFailed"), "{e}");
    assert_eq!(logs[0].meta["failed"], 1);
    assert!(cr_sign::verify_set(&logs[0].checksum, &inst.cert()).is_ok());
}

#[test]
fn sigkill_between_entries_and_sealing_loses_and_repeats_nothing() {
    let inst = Install::new(LOG_CONFIG, false);
    let rec = inst.start();
    for id in ["k1", "k2", "k3"] {
        decide(&rec, &format!(r#"{{"direction":"incoming","caller":"+4930999888","callee":"999","call_id":"{id}"}}"#));
    }
    rec.kill();
    // What a crash during a pass leaves: an unsealed set in the spool's incoming area.
    let stale = cr_types::set_id::new(chrono::Utc::now(), [1, 2, 3, 4]);
    let stale_dir = inst.path(&format!("data/spool/.incoming/{stale}"));
    std::fs::create_dir_all(&stale_dir).unwrap();
    std::fs::write(stale_dir.join(format!("{stale}.decisions.jsonl")), "{\"entry\":1}\n").unwrap();
    let rec = inst.start();
    assert!(!stale_dir.exists(), "the unsealed leftover is removed at start");
    for id in ["k4", "k5"] {
        decide(&rec, &format!(r#"{{"direction":"incoming","caller":"+4930999888","callee":"999","call_id":"{id}"}}"#));
    }
    rec.stop();
    let logs = logs_below(&inst.path("data/spool"));
    assert!(!logs.is_empty(), "{}", recorder_logs(&inst));
    let mut seen = Vec::new();
    for log in &logs {
        assert!(cr_sign::verify_set(&log.checksum, &inst.cert()).is_ok());
        seen.extend(log.entries.iter().map(|e| e["pbx_call_id"].as_str().unwrap().to_owned()));
    }
    seen.sort();
    assert_eq!(seen, ["k1", "k2", "k3", "k4", "k5"], "every entry sealed exactly once");
    // And none of them is left for a later pass.
    let j = cr_journal::Journal::open_sqlite(&inst.path("data/journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
    assert!(j.unsealed_decisions(100).unwrap().is_empty());
}

#[test]
fn health_says_cannot_record_when_the_spool_is_below_its_floor() {
    let inst = Install::new(&format!("{LOG_CONFIG}\n[pbx]\nmin_spool_free_percent = 100.0\n"), false);
    let rec = inst.start_answering();
    let (status, body) = rec.http("GET", "/v1/health", "");
    assert_eq!(status, 503, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((h["status"].as_str(), h["can_record"].as_bool()), (Some("unavailable"), Some(false)), "{h}");
    assert_eq!(h["checks"]["spool"]["ok"], false, "{h}");
    assert_eq!(h["checks"]["journal"]["ok"], true, "{h}");
    assert!(h["checks"]["spool"]["free_percent"].as_f64().unwrap() < 100.0, "{h}");
    // statvfs through an independent tool: df's available blocks over its size.
    let df = run(Command::new("df").args(["-k", "--output=size,avail"]).arg(inst.path("data/spool")));
    let nums: Vec<f64> = df.lines().last().unwrap().split_whitespace().map(|n| n.parse().unwrap()).collect();
    let free = nums[1] * 100.0 / nums[0];
    assert!((free - h["checks"]["spool"]["free_percent"].as_f64().unwrap()).abs() < 1.0, "df: {df} health: {h}");
    assert!(h["error"].as_str().unwrap().contains("min_spool_free_percent"), "{h}");
    rec.stop();
}

#[test]
fn health_says_cannot_record_while_the_rtp_ports_are_taken() {
    let _one = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let inst = Install::new(LOG_CONFIG, true);
    with_rtp_ports(&inst, two_ports(40));
    let rec = inst.start();
    let h: Value = serde_json::from_str(&rec.http("GET", "/v1/health", "").1).unwrap();
    assert_eq!((h["can_record"].as_bool(), h["checks"]["rtp_ports"]["free"].as_u64()), (Some(true), Some(2)), "{h}");
    // One call of two streams holds both ports.
    let call = siprec_call(&inst, "+4930999888", "300", 4);
    wait_for_active(&rec, 1);
    // The gauge follows the driver's counters a moment later.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, body) = rec.http("GET", "/v1/health", "");
        if status != 200 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 503, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["can_record"], false, "{h}");
    let p = &h["checks"]["rtp_ports"];
    assert_eq!((p["ok"].as_bool(), p["free"].as_u64(), p["needed"].as_u64()), (Some(false), Some(0), Some(2)), "{h}");
    call.join().unwrap();
    wait_for_active(&rec, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while rec.http("GET", "/v1/health", "").0 != 200 {
        assert!(Instant::now() < deadline, "the ports did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    rec.stop();
    let seen: BTreeSet<String> = sets_below(&inst.path("data/spool")).iter().map(|p| p.display().to_string()).collect();
    assert!(!seen.is_empty(), "the call was recorded");
}
