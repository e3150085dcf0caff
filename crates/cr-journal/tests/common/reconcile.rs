//! What reconciliation reads (`recorded_calls`, `membership_history`), run against both
//! backends (tests/reconcile.rs, tests/postgres.rs).

use cr_journal::{Journal, RecordedCall};

use super::{seal, t};

/// Five sets (two with the same start), a deletion receipt-free chain, two membership
/// changes: pages of two in start order, time bounds, and the history oldest first.
pub fn recorded_calls_page_by_page_and_membership_history(j: &Journal) {
    for (id, start, secs) in [("s-c", 100, 30), ("s-a", 0, 60), ("s-b", 0, 45), ("s-d", 200, 10), ("s-e", 900, 5)] {
        seal(j, id, "+4930999888", "300", start, secs, &["nas"]);
    }
    let mut seen: Vec<RecordedCall> = Vec::new();
    loop {
        let after = seen.last().map(|s| (s.started_at, s.set_id.clone()));
        let page = j.recorded_calls(Some(t(0)), Some(t(900)), after.as_ref().map(|(at, id)| (*at, id.as_str())), 2).unwrap();
        assert!(page.len() <= 2);
        let done = page.len() < 2;
        seen.extend(page);
        if done {
            break;
        }
    }
    let ids: Vec<&str> = seen.iter().map(|s| s.set_id.as_str()).collect();
    assert_eq!(ids, ["s-a", "s-b", "s-c", "s-d"], "start order, set id breaking ties; [from, to)");
    let a = &seen[0];
    assert_eq!((a.caller.as_str(), a.callee.as_str(), a.ended_at - a.started_at), ("+4930999888", "300", chrono::Duration::seconds(60)));
    assert_eq!(a.pbx_call_id, format!("+4930999888->300@{}", t(0).timestamp()));
    assert_eq!(j.recorded_calls(None, None, None, 100).unwrap().len(), 5);

    assert!(j.membership_history().unwrap().is_empty());
    j.set_membership("trading", "bob", false, "test", t(50)).unwrap();
    j.set_membership("trading", "bob", true, "test", t(40)).unwrap();
    let h = j.membership_history().unwrap();
    let got: Vec<(i64, &str, &str, bool)> = h.iter().map(|c| (c.at.timestamp() - t(0).timestamp(), c.group.as_str(), c.user.as_str(), c.active)).collect();
    assert_eq!(got, [(50, "trading", "bob", false), (40, "trading", "bob", true)], "in the order made");
}
