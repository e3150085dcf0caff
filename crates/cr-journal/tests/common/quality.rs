//! Quality at sealing in the journal: kept with the chain link it was recorded with, never
//! without it; listed when flagged; found by `--flag quality`.

use cr_journal::{Journal, SearchFlag, SearchQuery};
use cr_types::{LegQuality, QualityThresholds};

use super::{call, recording, sha, t};

/// Seals `set_id` at `at` with the given caller leg (and a clean callee leg), flagged as
/// the default thresholds say; `commit` false drops the reservation instead.
fn seal_with_quality(j: &Journal, set_id: &str, at: i64, caller: LegQuality, commit: bool) -> Vec<String> {
    let c = j.record_call(&call(&format!("+49307{at}"), "300", t(at), true)).unwrap();
    j.end_call(c, t(at + 10)).unwrap();
    let callee = LegQuality::from_counts("callee", true, 500, 500, 20, 80_000, 800);
    let q = QualityThresholds::default().assess(vec![caller, callee]);
    let mut res = j.reserve_link(set_id, t(at + 10)).unwrap();
    res.record_quality(&q).unwrap();
    let mut rec = recording(set_id, c, t(at), t(at + 10), &[]);
    if q.flagged() {
        rec.flags = vec!["quality".to_owned()];
    }
    if commit {
        let seq = res.link().seq;
        res.commit(&sha(7000 + seq), &rec).unwrap();
    } else {
        drop(res);
    }
    q.reasons
}

pub fn quality_is_kept_with_its_link_and_listed_when_flagged(j: &Journal) {
    let lossy = LegQuality::from_counts("caller", true, 500, 475, 40, 76_000, 760);
    assert_eq!(seal_with_quality(j, "q1", 50_000, lossy, true), ["loss"]);
    let clean = LegQuality::from_counts("caller", true, 500, 500, 20, 80_000, 0);
    assert!(seal_with_quality(j, "q2", 50_100, clean.clone(), true).is_empty());
    let silent = LegQuality::from_counts("caller", true, 500, 500, 20, 80_000, 80_000);
    assert_eq!(seal_with_quality(j, "q3", 50_200, silent.clone(), false), ["silence", "one_sided"]);

    let flagged = j.quality_flagged(t(0)).unwrap();
    assert_eq!(flagged.iter().map(|f| f.set_id.as_str()).collect::<Vec<_>>(), ["q1"], "q3 was never committed");
    let q1 = &flagged[0];
    assert_eq!((q1.reasons.clone(), q1.one_sided, q1.sealed_at), (vec!["loss".to_owned()], false, t(50_010)));
    assert_eq!(q1.legs.iter().map(|l| l.side.as_str()).collect::<Vec<_>>(), ["caller", "callee"]);
    assert_eq!((q1.legs[0].packets_lost, q1.legs[0].loss_percent.get(), q1.legs[0].longest_gap_ms), (25, 5.0, 40));
    assert_eq!(q1.legs[1].silence_percent.get(), 1.0);
    assert!(j.quality_flagged(t(50_011)).unwrap().is_empty(), "only sets sealed since");
    let q2 = j.quality_of("q2").unwrap().unwrap();
    assert_eq!((q2.reasons.len(), q2.legs[0].clone()), (0, clean));
    assert_eq!(j.quality_of("q3").unwrap(), None);

    let mut q = SearchQuery::default();
    q.flag = Some(SearchFlag::Quality);
    let hits: Vec<String> = j.search(&q).unwrap().into_iter().map(|h| h.set_id).collect();
    assert_eq!(hits, ["q1"]);
    assert_eq!(SearchFlag::parse("quality"), Some(SearchFlag::Quality));
}
