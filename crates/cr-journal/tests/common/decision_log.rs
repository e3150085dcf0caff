//! The decision log: entries are kept until a decision-log set seals them, and each is
//! sealed exactly once — also when two journal handles (two recorder nodes) race.

use cr_journal::{FileEntry, Journal, JournalError, NewChainSet, SetKind};
use cr_types::Direction;
use cr_types::decision_log::{DecisionLogEntry, EntryKind, NO_RULE};

use super::{call, sha, t};

pub fn entry(call_id: &str, node: &str, secs: i64) -> DecisionLogEntry {
    DecisionLogEntry {
        format: DecisionLogEntry::FORMAT,
        entry: 999,
        kind: EntryKind::Declined,
        at: t(secs),
        node: node.to_owned(),
        source: "api".to_owned(),
        pbx_call_id: Some(call_id.to_owned()),
        direction: Direction::Incoming,
        caller: "+4930999888".to_owned(),
        callee: "999".to_owned(),
        diversions: vec![],
        rule: NO_RULE.to_owned(),
        reason: "incoming call: no configuration records 999".to_owned(),
        memberships: vec![],
        on_failure: None,
        cause: None,
    }
}

fn log_set(id: &str) -> NewChainSet {
    NewChainSet {
        set_id: id.to_owned(),
        kind: SetKind::DecisionLog,
        configuration: String::new(),
        started_at: t(100),
        files: vec![FileEntry { name: format!("{id}.decisions.jsonl"), size: 10, sha256: sha(8) }],
        cert_fingerprint: sha(3),
        location: format!("/spool/{id}"),
        targets: vec!["nas".to_owned()],
        deleted: None,
    }
}

/// Seals `entries` into set `id`.
pub fn seal(j: &Journal, id: &str, entries: &[u64], h: u64) -> Result<(), JournalError> {
    let res = j.reserve_link(id, t(100))?;
    res.commit_decision_log(&sha(h), &log_set(id), entries).map(|_| ())
}

pub fn entries_are_sealed_exactly_once(j: &Journal) {
    // A declined call and its entry in one transaction; a failure on its own.
    let ids = j.record_calls_logged(&[call("+4930999888", "999", t(0), false)], &[entry("c1", "n1", 0)]).unwrap();
    assert_eq!(ids.len(), 1);
    let more = j.log_decisions(&[entry("c2", "n1", 1), entry("c3", "n2", 2)]).unwrap();
    let open = j.unsealed_decisions(10).unwrap();
    assert_eq!(open.iter().map(|e| e.pbx_call_id.clone().unwrap()).collect::<Vec<_>>(), ["c1", "c2", "c3"]);
    assert_eq!(open[1].entry, more[0], "the journal numbers the entries, not the caller");
    assert!(open.windows(2).all(|w| w[0].entry < w[1].entry));
    let numbers: Vec<u64> = open.iter().map(|e| e.entry).collect();
    // A reservation dropped without a commit (a crash between writing the set and the
    // commit) seals nothing.
    drop(j.reserve_link("L0", t(100)).unwrap());
    assert_eq!(j.unsealed_decisions(10).unwrap().len(), 3);
    // A decision log is committed only with its entries.
    let res = j.reserve_link("L0", t(100)).unwrap();
    assert!(res.commit_chain_set(&sha(9), &log_set("L0")).is_err());
    seal(j, "L1", &numbers[..2], 11).unwrap();
    assert_eq!(j.decision_sealed_in(numbers[0]).unwrap().as_deref(), Some("L1"));
    assert_eq!(j.decision_sealed_in(numbers[2]).unwrap(), None);
    // Sealing an entry again refuses the whole set: nothing of it is committed.
    let head = j.chain_head().unwrap().unwrap();
    assert!(seal(j, "L2", &numbers[1..], 12).is_err());
    assert_eq!(j.chain_head().unwrap().unwrap(), head, "the refused set took no link");
    assert_eq!(j.decision_sealed_in(numbers[2]).unwrap(), None, "its other entries stay unsealed");
    assert!(j.recording("L2").unwrap().is_none());
    // An unknown entry and an empty log are refused too.
    assert!(seal(j, "L3", &[numbers[2] + 100], 13).is_err());
    assert!(seal(j, "L3", &[], 13).is_err());
    seal(j, "L3", &numbers[2..], 13).unwrap();
    assert!(j.unsealed_decisions(10).unwrap().is_empty());
    let info = j.recording("L3").unwrap().unwrap();
    assert_eq!(info.kind, SetKind::DecisionLog);
    assert_eq!(info.uploads.len(), 1, "delivered like a recording");
    let _ = ids;
    let sealed = j.audit_events(0, 1000).unwrap();
    assert_eq!(sealed.iter().filter(|e| e.kind == cr_journal::AuditKind::DecisionLogSealed).count(), 2);
}

/// Two handles (two nodes) each read the unsealed entries and seal them: one wins, the
/// other's commit is refused, and no entry is in two sets.
pub fn two_sealers_never_seal_one_entry_twice(open: &dyn Fn() -> Journal) {
    let (a, b) = (open(), open());
    a.log_decisions(&[entry("x1", "a", 0), entry("x2", "b", 1)]).unwrap();
    let seen_a: Vec<u64> = a.unsealed_decisions(10).unwrap().iter().map(|e| e.entry).collect();
    let seen_b: Vec<u64> = b.unsealed_decisions(10).unwrap().iter().map(|e| e.entry).collect();
    assert_eq!(seen_a, seen_b);
    seal(&a, "LA", &seen_a, 21).unwrap();
    assert!(seal(&b, "LB", &seen_b, 22).is_err(), "the second node's set is refused");
    assert!(b.recording("LB").unwrap().is_none());
    assert!(b.unsealed_decisions(10).unwrap().is_empty());
    for n in seen_a {
        assert_eq!(b.decision_sealed_in(n).unwrap().as_deref(), Some("LA"));
    }
}
