//! Crash recovery from a legs directory (a temporary directory: the I/O part).

mod support;

use cr_call::io::{FileLegs, leftover_dirs, read_leftover};
use cr_call::{CallRecord, LegStore, LegsRoot, Recovery, Roles};

fn record(id: &str) -> CallRecord {
    support::record(id, 1)
}

// Guards against: a call a crash interrupted lost, or sealed twice, or a stray directory
// deleted: each leftover gets the plan its state calls for.
#[test]
fn each_leftover_gets_its_plan() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = LegsRoot::new(tmp.path());
    // 1: call record, no audio yet.
    let a = FileLegs::create(&root, &record("20261126T093000000Z-00000001")).expect("legs");
    // 2: call record and a leg, roles swapped, metadata kept.
    let mut b = FileLegs::create(&root, &record("20261126T093001000Z-00000002")).expect("legs");
    b.write_roles(&Roles { caller: Some("stream1.wav".into()), callee: Some("stream0.wav".into()), mixed: false }).expect("roles");
    b.write_metadata("<recording/>").expect("metadata");
    let leg = b.create_leg(1, 8000).expect("leg");
    drop(leg);
    // 3: a directory without call.json; 4: a broken call.json.
    std::fs::create_dir_all(tmp.path().join("stray")).expect("dir");
    std::fs::create_dir_all(tmp.path().join("zbroken")).expect("dir");
    std::fs::write(tmp.path().join("zbroken/call.json"), b"{not json").expect("write");

    let dirs = leftover_dirs(&root);
    assert_eq!(dirs.len(), 4);
    let first = read_leftover(dirs[0].clone()).expect("readable");
    assert_eq!(first.dir, *a.dir());
    assert!(!first.has_audio);
    assert_eq!(first.plan(false), Recovery::EndWithoutAudio);
    assert_eq!(first.plan(true), Recovery::Spool);

    let second = read_leftover(dirs[1].clone()).expect("readable");
    assert!(second.has_audio, "the caller's leg is stream1.wav after roles.json");
    assert_eq!(second.metadata_xml.as_deref(), Some("<recording/>"));
    assert_eq!(second.record.as_ref().map(|r| r.id.as_str()), Some("20261126T093001000Z-00000002"));
    assert_eq!(second.plan(false), Recovery::Seal);

    let stray = read_leftover(dirs[2].clone()).expect("readable");
    assert_eq!(stray.plan(false), Recovery::LeaveInPlace);
    assert!(read_leftover(dirs[3].clone()).is_err(), "a broken call.json is an error, not a guess");

    a.remove().expect("removed");
    assert_eq!(leftover_dirs(&root).len(), 3);
}
