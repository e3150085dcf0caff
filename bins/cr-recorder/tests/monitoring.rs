//! The monitoring kit (packaging/monitoring): the alert rules pass `promtool check rules`
//! and their unit tests (`promtool test rules`), and every metric the rules and the
//! Grafana dashboard use is one a running recorder exports (or the uploader writes into
//! uploader.prom) and docs/reference.md documents — so a renamed metric cannot leave an
//! alert that never fires.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn kit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/monitoring").join(name)
}

/// Every `callrec_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(k) = text[i..].find("callrec_") {
        let start = i + k;
        let mut end = start + "callrec_".len();
        while end < b.len() && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_') {
            end += 1;
        }
        out.insert(text[start..end].to_owned());
        i = end;
    }
    out
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    if !have("promtool") {
        return;
    }
    run(Command::new("promtool").arg("check").arg("rules").arg(kit("callrec-alerts.yml")));
    let out = run(Command::new("promtool").arg("test").arg("rules").arg("callrec-alerts.test.yml").current_dir(kit("")));
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_metric_of_the_rules_and_the_dashboard_is_exported_and_documented() {
    let rules = std::fs::read_to_string(kit("callrec-alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(kit("callrec-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 10), "panels");
    let used: BTreeSet<String> = metric_names(&rules).into_iter().chain(metric_names(&dashboard)).collect();

    let inst = Install::new("", true);
    let rec = inst.start();
    let (status, metrics) = rec.http("GET", "/metrics", "");
    assert_eq!(status, 200);
    let exported: BTreeSet<String> =
        metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect();
    rec.stop();
    // The uploader's own metrics (uploader.prom, docs/storage.md).
    let uploader = ["callrec_spool_pending_sets", "callrec_upload_failing_targets", "callrec_timestamps_pending"];
    let reference = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference.md")).unwrap();
    for m in &used {
        assert!(exported.contains(m) || uploader.contains(&m.as_str()), "{m} is used by the kit but not exported: {exported:?}");
        assert!(reference.contains(&format!("`{m}")), "{m} is not in docs/reference.md");
    }
}
