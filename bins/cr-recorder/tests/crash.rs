//! SIGKILL cr-recorder while it records 20 SIPREC calls (real SIP and RTP over loopback from
//! cr-pbx's SIPREC client), restart it, and every call comes out sealed, flagged
//! `recovered`, missing at most about a second of what was sent, with no gap in the chain.

mod support;

use std::time::{Duration, Instant};

use support::*;

const CALLS: usize = 20;

fn config() -> String {
    let numbers: Vec<String> = (0..CALLS).map(|i| format!("7{i}")).collect();
    desk_config(&numbers.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn sigkill_with_20_open_calls_loses_at_most_about_a_second() {
    let inst = Install::new(&config(), true);
    let rec = inst.start();
    let target = format!("127.0.0.1:{}", inst.sip_port).parse().unwrap();
    let mut spec = cr_pbx::driver::LoadSpec::new(target, CALLS, Duration::from_secs(20));
    spec.callee_prefix = "7".into();
    spec.rate = 200.0;
    let calls_started = Instant::now();
    let load = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let _ = rt.block_on(cr_pbx::driver::run_calls(spec));
    });
    // Let all 20 calls record for a while, then crash.
    wait_for_active(&rec, CALLS);
    std::thread::sleep(Duration::from_secs(4));
    let sent_for = calls_started.elapsed();
    rec.kill();
    let legs: Vec<_> = std::fs::read_dir(inst.path("data/legs")).unwrap().collect();
    assert_eq!(legs.len(), CALLS, "one legs directory per open call");

    // Restart: recovery seals every call before the recorder reports healthy.
    let rec = inst.start();
    let (_, metrics) = rec.http("GET", "/metrics", "");
    assert!(metrics.contains(&format!("callrec_sets_flagged_total{{flag=\"recovered\"}} {CALLS}\n")), "{metrics}");
    rec.stop();
    drop(load); // the SIPREC client keeps sending into closed ports until its 20 s are up

    let sets = sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), CALLS, "{sets:?}");
    let cert = inst.cert();
    let mut members = Vec::new();
    for sums in &sets {
        let report = cr_sign::verify_set(sums, &cert);
        assert!(report.is_ok(), "{:?}", report.problems);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sums.with_file_name(format!("{}.json", report.id))).unwrap()).unwrap();
        assert_eq!(meta["flags"], serde_json::json!(["recovered"]), "{meta}");
        // Audio: no more than was sent, and at most about a second less (the header is
        // brought up to date every second; allow for call set-up and scheduling).
        let wav = sums.with_file_name(format!("{}.wav", report.id));
        let info = cr_audio::read_info(&wav).unwrap();
        assert_eq!(info.channels, 2);
        let got = info.duration();
        assert!(got <= sent_for, "{}: {got:?} recorded but only {sent_for:?} sent", report.id);
        assert!(
            got + Duration::from_millis(2000) >= sent_for,
            "{}: only {got:?} of {sent_for:?} kept",
            report.id
        );
        eprintln!("{}: kept {got:?} of at most {sent_for:?} sent", report.id);
        members.push(cr_sign::ChainMember {
            id: report.id.clone(),
            seq: meta["chain"]["seq"].as_u64().unwrap(),
            prev_sha256: meta["chain"]["prev_sha256"].as_str().unwrap().to_owned(),
            checksum_sha256: report.checksum_sha256.clone(),
        });
    }
    let mut seqs: Vec<u64> = members.iter().map(|m| m.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=CALLS as u64).collect::<Vec<_>>());
    assert!(cr_sign::check_chain(&members).is_empty());
    // Nothing left behind for a third start.
    assert_eq!(std::fs::read_dir(inst.path("data/legs")).unwrap().count(), 0);
}
