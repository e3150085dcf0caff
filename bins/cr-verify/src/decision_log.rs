//! Decision-log sets (issue 15): the metadata and the entries file of a `decision-log` set
//! whose seal verified must agree — every line an entry of the published format, numbered
//! upwards within the set's range, as many of each kind as the metadata counts, each naming
//! its rule (and a failed call its cause). What a signature cannot catch: a set sealed
//! with entries that contradict its own metadata.

use std::path::Path;

use cr_types::decision_log::{DecisionLogEntry, DecisionLogSet, EntryKind};

/// Reads and checks the decision log of set `id` from its metadata `v` (in `dir`).
/// `Err`: the reason, naming the file.
pub(crate) fn check(dir: &Path, id: &str, v: serde_json::Value) -> Result<DecisionLogSet, String> {
    let meta_file = format!("{id}.json");
    let set: DecisionLogSet =
        serde_json::from_value(v).map_err(|e| format!("{meta_file}: says kind decision-log but is not a decision log ({e})"))?;
    if set.id != id {
        return Err(format!("{meta_file}: the decision log names itself {:?}, not {id:?}", set.id));
    }
    let name = DecisionLogSet::entries_file(id);
    if set.entries_file != name {
        return Err(format!("{meta_file}: entries_file is {:?}, not {name:?}", set.entries_file));
    }
    let text = std::fs::read_to_string(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
    let (mut declined, mut failed, mut n) = (0u64, 0u64, 0u64);
    let mut last: Option<u64> = None;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        let e: DecisionLogEntry = serde_json::from_str(line).map_err(|err| format!("{at}: not a decision-log entry ({err})"))?;
        if last.is_some_and(|l| e.entry <= l) || e.entry < set.first_entry || e.entry > set.last_entry {
            return Err(format!("{at}: entry {} is out of order or outside {}..={}", e.entry, set.first_entry, set.last_entry));
        }
        if e.rule.trim().is_empty() {
            return Err(format!("{at}: entry {} names no rule", e.entry));
        }
        match e.kind {
            EntryKind::Declined => declined += 1,
            EntryKind::Failed if e.cause.as_deref().is_some_and(|c| !c.trim().is_empty()) => failed += 1,
            EntryKind::Failed => return Err(format!("{at}: failed entry {} names no cause", e.entry)),
        }
        last = Some(e.entry);
        n += 1;
    }
    if (n, declined, failed) != (set.entries, set.declined, set.failed) {
        return Err(format!(
            "{name}: holds {n} entries ({declined} declined, {failed} failed), {meta_file} says {} ({} declined, {} failed)",
            set.entries, set.declined, set.failed
        ));
    }
    Ok(set)
}
