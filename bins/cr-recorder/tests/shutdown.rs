//! SIGTERM while calls are being recorded: the recorder seals each open call as it is,
//! flagged `shutdown`, and leaves nothing for recovery.

mod support;

use std::time::{Duration, Instant};

use support::*;

#[test]
fn sigterm_seals_the_calls_in_progress() {
    let inst = Install::new(
        r#"
[[users]]
id = "desk"
numbers = ["70", "71", "72"]

[[recordings]]
name = "desk"
users = ["desk"]
channels = "separate"
targets = ["archive"]

[[targets]]
name = "archive"
kind = "folder"
path = "$ROOT/archive"
"#,
        true,
    );
    let rec = inst.start();
    let target = format!("127.0.0.1:{}", inst.sip_port).parse().unwrap();
    let mut spec = cr_pbx::driver::LoadSpec::new(target, 3, Duration::from_secs(15));
    spec.callee_prefix = "7".into();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let _ = rt.block_on(cr_pbx::driver::run_calls(spec));
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, m) = rec.http("GET", "/metrics", "");
        if m.contains("callrec_active_calls 3\n") {
            break;
        }
        assert!(Instant::now() < deadline, "calls did not start: {m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    rec.stop();

    let sets = sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), 3, "{sets:?}");
    let cert = inst.cert();
    for sums in &sets {
        let report = cr_sign::verify_set(sums, &cert);
        assert!(report.is_ok(), "{:?}", report.problems);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sums.with_file_name(format!("{}.json", report.id))).unwrap()).unwrap();
        assert_eq!(meta["flags"], serde_json::json!(["shutdown"]), "{meta}");
        for side in ["caller", "callee"] {
            let info = cr_audio::read_info(&sums.with_file_name(format!("{}-{side}.wav", report.id))).unwrap();
            assert!(info.duration() >= Duration::from_secs(1), "{side}: {:?}", info.duration());
        }
    }
    assert_eq!(std::fs::read_dir(inst.path("data/legs")).unwrap().count(), 0, "nothing left for recovery");
}
