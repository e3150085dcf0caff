//! One recorder per data directory, and files private by default (docs/security.md).
//!
//! A second `cr-recorder` started on a running one's configuration used to "recover" the
//! live calls' legs (seal their first seconds flagged `recovered`, delete the legs) and only
//! then fail to bind; the live recorder could not seal them. And `keys init` made the data
//! directory 0755, the journal (phone numbers) and every WAV 0644.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use support::*;

fn config() -> String {
    desk_config(&["70", "71"])
}

#[test]
fn second_recorder_on_a_running_data_dir_exits_2_and_leaves_its_live_calls_alone() {
    let inst = Install::new(&config(), true);
    std::fs::create_dir_all(inst.path("archive")).unwrap();
    let rec = inst.start();
    let first_pid = rec.child.as_ref().unwrap().id();
    let load = siprec_calls(&inst, 2, 4);
    wait_for_active(&rec, 2);

    let out = inst.run_to_exit();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("pid {first_pid}")), "the message names the running instance: {stderr}");
    assert!(stderr.contains("cr-recorder.lock"), "{stderr}");
    // The second start touched nothing: both calls' legs are still being written.
    assert_eq!(std::fs::read_dir(inst.path("data/legs")).unwrap().count(), 2);
    assert!(sets_below(&inst.path("data/spool")).is_empty(), "nothing sealed by the second start");

    load.join().unwrap();
    rec.stop();
    let sets = sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), 2, "{sets:?}");
    for sums in &sets {
        let report = cr_sign::verify_set(sums, &inst.cert());
        assert!(report.is_ok(), "{:?}", report.problems);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sums.with_file_name(format!("{}.json", report.id))).unwrap()).unwrap();
        assert!(!meta["flags"].as_array().unwrap().iter().any(|f| f == "recovered"), "{meta}");
        let info = cr_audio::read_info(&sums.with_file_name(format!("{}.wav", report.id))).unwrap();
        assert!(info.duration() >= Duration::from_secs(3), "the whole call was recorded: {:?}", info.duration());
    }
}

/// Every file and directory below `root` with its mode.
fn modes(root: &Path) -> Vec<(String, u32, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            out.push((e.path().display().to_string(), m.permissions().mode() & 0o777, m.is_dir()));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

#[test]
fn legs_spool_and_journal_are_private_after_a_call() {
    let inst = Install::new(&config(), true);
    // The test made data/ with the usual umask (0755): the recorder takes others' access away.
    std::fs::set_permissions(inst.path("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(inst.path("archive")).unwrap();
    let rec = inst.start();
    let load = siprec_calls(&inst, 1, 3);
    wait_for_active(&rec, 1);
    // While the call records: its legs.
    let live = modes(&inst.path("data"));
    assert!(live.iter().any(|(p, _, _)| p.contains("/legs/") && p.ends_with(".wav")), "{live:?}");
    load.join().unwrap();
    rec.stop();
    assert_eq!(sets_below(&inst.path("data/spool")).len(), 1);
    let sealed = modes(&inst.path("data"));
    assert!(sealed.iter().any(|(p, _, _)| p.ends_with("journal.sqlite")), "{sealed:?}");
    assert!(sealed.iter().any(|(p, _, _)| p.contains("/spool/") && p.ends_with(".wav")), "{sealed:?}");
    assert_eq!(std::fs::metadata(inst.path("data")).unwrap().permissions().mode() & 0o777, 0o700);
    for (path, mode, dir) in live.iter().chain(&sealed) {
        // cert.pem is public (the verification certificate); the test wrote it.
        if path.ends_with("cert.pem") {
            continue;
        }
        assert_eq!(*mode, if *dir { 0o700 } else { 0o600 }, "{path}");
    }
}
