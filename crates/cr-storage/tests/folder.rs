//! The folder target and the uploader's rules: every target gets every set, one target's
//! outage holds back no other, the spool keeps a set until all confirmed, retries neither
//! duplicate nor overwrite.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use cr_storage::*;

fn folder(name: &str, base: &std::path::Path) -> Box<dyn Target> {
    Box::new(StoreTarget::new(FolderStore::new(name, base)).verify(Verify::Content))
}

#[test]
fn one_target_down_does_not_hold_back_the_other_and_the_set_waits_for_both() {
    let w = tempfile::tempdir().unwrap();
    let (a, b) = (w.path().join("a"), w.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    let mut up = uploader(w.path());
    up.add_target(folder("a", &a), DirTemplate::parse("$Y/$M/$D", PathRules::Folder).unwrap());
    up.add_target(folder("b", &b), DirTemplate::parse("rec", PathRules::Folder).unwrap());
    enqueue(&up, "s1", &[(".wav", 5000)], 41, &["a", "b"]);
    enqueue(&up, "s2", &[(".wav", 6000)], 42, &["a"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 2, "{r:?}");
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].0, "b");
    assert_eq!(r.removed, ["s2"]);
    assert!(up.spool().set_dir("s1").join("s1.wav").exists(), "kept until b confirmed");
    shasum_check(&a.join("2026/03/07"), "s1");
    // b comes back: only b is tried, a is not written twice.
    std::fs::create_dir(&b).unwrap();
    let before = std::fs::metadata(a.join("2026/03/07/s1.wav")).unwrap().modified().unwrap();
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    assert_eq!(r.removed, ["s1"]);
    assert_eq!(std::fs::metadata(a.join("2026/03/07/s1.wav")).unwrap().modified().unwrap(), before);
    shasum_check(&b.join("rec"), "s1");
    assert!(up.spool().pending().unwrap().is_empty());
}

/// Regression guard: a retry after a crash mid-set keeps the files that arrived, replaces a
/// partial temporary file, and never overwrites a different file of the same name.
#[test]
fn retry_after_crash_completes_and_conflicts_are_refused() {
    let w = tempfile::tempdir().unwrap();
    let base = w.path().join("t");
    let mut up = uploader(w.path());
    up.add_target(folder("t", &base), DirTemplate::parse("d", PathRules::Folder).unwrap());
    let names = enqueue(&up, "c1", &[("-caller.wav", 5000), ("-callee.wav", 5000)], 43, &["t"]);
    // What a crash leaves: one file complete, one partial temporary.
    std::fs::create_dir_all(base.join("d")).unwrap();
    let set = up.spool().set_dir("c1");
    std::fs::copy(set.join("c1-callee.wav"), base.join("d/c1-callee.wav")).unwrap();
    std::fs::write(base.join("d").join(temp_name("c1-caller.wav")), b"partial").unwrap();
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    let mut expect = names.clone();
    expect.sort();
    assert_eq!(tree(&base.join("d")), expect);
    shasum_check(&base.join("d"), "c1");

    enqueue(&up, "c2", &[(".wav", 5000)], 44, &["t"]);
    enqueue(&up, "c3", &[(".wav", 5000)], 46, &["t"]);
    std::fs::write(base.join("d/c2.wav"), b"someone else's file").unwrap();
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "c3 does not wait behind c2's conflict: {r:?}");
    assert_eq!(r.removed, ["c3"]);
    assert!(r.failed[0].2.contains("not overwritten"), "{r:?}");
    assert_eq!(std::fs::read(base.join("d/c2.wav")).unwrap(), b"someone else's file");
    assert!(up.spool().set_dir("c2").exists());
}

#[test]
fn unknown_target_in_a_set_keeps_it() {
    let w = tempfile::tempdir().unwrap();
    let mut up = uploader(w.path());
    std::fs::create_dir(w.path().join("a")).unwrap();
    up.add_target(folder("a", &w.path().join("a")), DirTemplate::parse("", PathRules::Folder).unwrap());
    enqueue(&up, "u1", &[(".wav", 10)], 45, &["a", "gone"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 1);
    assert!(r.spool_errors[0].contains("gone"), "{r:?}");
    assert_eq!(r.pending_sets, 1);
    assert!(up.spool().set_dir("u1").exists());
}

#[test]
fn a_target_yields_at_the_pass_budget_and_continues_next_pass() {
    let w = tempfile::tempdir().unwrap();
    let a = w.path().join("a");
    std::fs::create_dir(&a).unwrap();
    let mut up = uploader(w.path());
    up.set_pass_budget(std::time::Duration::from_secs(60));
    up.add_target(folder("a", &a), DirTemplate::parse("", PathRules::Folder).unwrap());
    for (i, id) in ["b1", "b2", "b3"].iter().enumerate() {
        enqueue(&up, id, &[(".wav", 100)], 50 + i as u64, &["a"]);
    }
    // A clock that moves 15 s per reading (two readings per set): the budget is spent
    // after the second set.
    let ticks = std::sync::atomic::AtomicI64::new(0);
    let clock = || t0() + chrono::Duration::seconds(15 * ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    let r = up.pass(&clock, &|_| {});
    assert_eq!(r.delivered, 2, "{r:?}");
    assert!(r.more_work);
    assert!(r.failed.is_empty());
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    assert!(!r.more_work);
    assert_eq!(r.pending_sets, 0);
}

/// Deleting a delivered set: its files and any temporary left by an interrupted delivery go,
/// other sets' files in the same directory stay, a second deletion finds nothing (a retry
/// after an interruption is not an error), and a file that cannot be deleted is reported.
#[test]
fn remove_set_deletes_only_that_set_and_confirms_it_is_gone() {
    let w = tempfile::tempdir().unwrap();
    let base = w.path().join("t");
    std::fs::create_dir(&base).unwrap();
    let mut up = uploader(w.path());
    up.add_target(folder("t", &base), DirTemplate::parse("d", PathRules::Folder).unwrap());
    let a = enqueue(&up, "a1", &[(".wav", 5000)], 41, &["t"]);
    enqueue(&up, "b1", &[(".wav", 5000)], 42, &["t"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 2, "{r:?}");
    std::fs::write(base.join("d").join(temp_name("a1.wav")), b"partial").unwrap();

    let mut t = folder("t", &base);
    let dir = vec!["d".to_owned()];
    let b = tree(&base.join("d")).into_iter().filter(|n| n.starts_with("b1")).collect::<Vec<_>>();
    fetch_back(t.as_mut(), &dir, &b, &w.path().join("read-back"), "b1");
    let done = t.remove_set(&dir, &a).unwrap();
    assert_eq!((done.removed, done.already_absent), (a.len(), 0), "{done:?}");
    let left = tree(&base.join("d"));
    assert!(left.iter().all(|n| n.starts_with("b1")), "only b1's files are left: {left:?}");
    assert!(!left.is_empty());
    shasum_check(&base.join("d"), "b1");

    let again = t.remove_set(&dir, &a).unwrap();
    assert_eq!((again.removed, again.already_absent), (0, a.len()));

    // A directory of that name cannot be removed as a file: reported, nothing claimed.
    std::fs::create_dir(base.join("d/x.wav")).unwrap();
    let err = t.remove_set(&dir, &["x.wav".to_owned()]).unwrap_err();
    assert!(err.to_string().contains("x.wav"), "{err}");
}
