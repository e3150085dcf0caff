//! `crctl policy decide` and the policy part of `crctl config check`, run as an operator
//! runs them, with a fresh temp dir and config per test.

use std::path::PathBuf;
use std::process::Command;

const POLICY: &str = r#"
[[users]]
id = "alice"
numbers = ["201", "+4930555201"]

[[users]]
id = "bob"
numbers = ["202"]

[[groups]]
id = "trading"
number = "300"
members = ["alice", "bob"]
inactive = ["bob"]

[[recordings]]
name = "trading-desk"
groups = ["trading"]
channels = "stereo"
announcement_incoming = "announcements/incoming.wav"
targets = ["nas"]

[[targets]]
name = "nas"
kind = "folder"
path = "/tmp"
"#;

struct Install {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Install {
    fn new(policy: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("announcements")).unwrap();
        std::fs::write(data.join("announcements/incoming.wav"), tiny_wav()).unwrap();
        let config = dir.path().join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"pbx-test\"\ndata_dir = \"{}\"\ncountry_code = \"49\"\n\n[keystore]\npassword_env = \"CRCTL_POLICY_TEST_PW\"\n{policy}",
                data.display()
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    fn crctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("CRCTL_POLICY_TEST_PW", "correct horse battery")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn decide(&self, call: &str) -> (i32, String, String) {
        self.crctl(&["policy", "decide", "--call", call])
    }
}

#[test]
fn decide_prints_the_contract_object_for_a_recorded_call() {
    let inst = Install::new(POLICY);
    let (code, out, err) =
        inst.decide(r#"{"direction": "incoming", "caller": "+4930999888", "callee": "300", "diversions": ["301"]}"#);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "one JSON object on one line: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"record": true, "configuration": "trading-desk", "channels": "stereo",
            "announcement": "announcements/incoming.wav", "targets": ["nas"], "on_failure": "allow",
            "reason": "incoming call to group trading (300), diverted from 301"})
    );
    let _ = &inst.dir;
}

#[test]
fn decide_exits_0_for_an_unrecorded_call_and_says_why() {
    let inst = Install::new(POLICY);
    let (code, out, err) = inst.decide(r#"{"direction":"outgoing","caller":"sip:202@pbx","callee":"0301234"}"#);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["record"], false);
    assert_eq!(v["configuration"], serde_json::Value::Null);
    assert_eq!(v["targets"], serde_json::json!([]));
    assert!(v["reason"].as_str().unwrap().contains("user bob is logged out of group trading"), "{v}");

    // National form of alice's number with the installation's country code; she is an
    // active member, the option is off: not recorded, and the reason says so.
    let (code, out, _) = inst.decide(r#"{"direction":"incoming","caller":"1","callee":"030 555201"}"#);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["record"], false, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("user alice (+4930555201)"), "{v}");
}

#[test]
fn decide_refuses_bad_json_with_exit_2() {
    let inst = Install::new(POLICY);
    for bad in ["{not json", r#"{"direction":"sideways","caller":"1","callee":"2"}"#, "[]"] {
        let (code, out, err) = inst.decide(bad);
        assert_eq!(code, 2, "{bad}: {out} {err}");
        assert!(out.is_empty(), "nothing on stdout: {out}");
        assert!(err.contains("--call is not valid call facts JSON"), "{err}");
    }
}

#[test]
fn decide_refuses_a_config_with_policy_errors_with_exit_2() {
    let inst = Install::new(&POLICY.replace(r#"groups = ["trading"]"#, r#"groups = ["sales"]"#));
    let (code, out, err) = inst.decide(r#"{"direction":"incoming","caller":"1","callee":"300"}"#);
    assert_eq!(code, 2, "{out} {err}");
    assert!(err.contains("unknown group \"sales\""), "{err}");
}

#[test]
fn config_check_accepts_a_good_policy() {
    let inst = Install::new(POLICY);
    let (code, out, err) = inst.crctl(&["config", "check"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn config_check_reports_policy_errors_with_line_and_key() {
    let policy = POLICY
        .replace(r#"members = ["alice", "bob"]"#, r#"members = ["alice", "bob", "zed"]"#)
        .replace(r#"channels = "stereo""#, r#"channels = "mono""#)
        .replace("announcements/incoming.wav", "announcements/missing.wav");
    let inst = Install::new(&policy);
    let text = std::fs::read_to_string(&inst.config).unwrap();
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let (code, out, err) = inst.crctl(&["config", "check"]);
    assert_eq!(code, 1, "{out} {err}");
    let file = inst.config.display().to_string();
    for (needle, key, msg) in [
        ("\"zed\"", "groups[0].members[2]", "unknown user \"zed\""),
        ("channels = \"mono\"", "recordings[0].channels", "unknown channel mode \"mono\""),
        ("missing.wav", "recordings[0].announcement_incoming", "does not exist"),
    ] {
        let want = format!("{file}:{}: key `{key}`: ", line(needle));
        assert!(err.lines().any(|l| l.starts_with(&want) && l.contains(msg)), "no {want}...{msg} in:\n{err}");
    }
}

#[test]
fn decide_logs_redacted_numbers_only() {
    let inst = Install::new(POLICY);
    let (code, out, err) = inst.crctl(&[
        "--log",
        "info",
        "policy",
        "decide",
        "--call",
        r#"{"direction":"incoming","caller":"+4930999888","callee":"+49 30 555201","diversions":["+4930555777"]}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("+4930555201"), "stdout carries the full reason: {out}");
    assert!(err.contains("***201"), "the log line names the callee redacted: {err}");
    for secret in ["4930555201", "555201", "4930999888", "555777"] {
        assert!(!err.contains(secret), "log leaks {secret}: {err}");
    }
}

/// 0.1 s of silence, 8 kHz mono 16-bit PCM: a playable announcement (config check loads it).
fn tiny_wav() -> Vec<u8> {
    let data = vec![0u8; 1600];
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    w
}
