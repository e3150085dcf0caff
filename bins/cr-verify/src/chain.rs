//! The chain across the sets found, and the deletion receipts among them (issue 13).
//!
//! Every verified set's metadata (`<id>.json`, covered by its signature) names its kind and
//! its chain link. A verified deletion receipt puts the set it names back into the chain as
//! it describes it ([`cr_sign::check_chain_with_receipts`]): the gap it leaves is accounted
//! for, and the sets around it must still link through the hashes the receipt names. A
//! receipt that did not verify accounts for nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cr_sign::{ChainMember, DeletedMember, SetReport};
use cr_types::chain_set::DeletionReceipt;
use cr_types::{ChainLink, SetKind};

/// What a verified set's metadata says about it.
#[derive(Debug, Clone)]
pub(crate) struct SetMeta {
    /// Its kind; `None` for a kind this verifier does not know (then named in `kind_name`).
    pub(crate) kind: Option<SetKind>,
    /// The kind as written (`set` when the metadata names none).
    pub(crate) kind_name: String,
    /// Its chain link, if the metadata has one (sets sealed by `crctl seal` have none).
    pub(crate) link: Option<ChainLink>,
    /// The receipt, for a deletion receipt.
    pub(crate) receipt: Option<DeletionReceipt>,
    /// The log's metadata, for a decision log (its entries checked against it).
    pub(crate) log: Option<cr_types::decision_log::DecisionLogSet>,
}

/// Reads the metadata of a set that verified. `Ok(None)`: no readable JSON metadata (a set
/// sealed from other files; it stays outside the chain as before). `Err`: the metadata says
/// it is a deletion receipt or a decision log but is not one — the reason, naming the file.
pub(crate) fn read_meta(r: &SetReport) -> Result<Option<SetMeta>, String> {
    let file = format!("{}.json", r.id);
    let Ok(bytes) = std::fs::read(r.checksum_file.with_file_name(&file)) else {
        return Ok(None);
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Ok(None);
    };
    let kind_name = match v.get("kind") {
        None => SetKind::Recording.as_str().to_owned(),
        Some(k) => k.as_str().map(str::to_owned).unwrap_or_else(|| k.to_string()),
    };
    let kind = SetKind::parse(&kind_name);
    let link = v.get("chain").and_then(|c| serde_json::from_value::<ChainLink>(c.clone()).ok());
    let log = if kind == Some(SetKind::DecisionLog) {
        let dir = r.checksum_file.parent().unwrap_or_else(|| std::path::Path::new("."));
        Some(crate::decision_log::check(dir, &r.id, v.clone())?)
    } else {
        None
    };
    let receipt = if kind == Some(SetKind::DeletionReceipt) {
        let receipt = serde_json::from_value::<DeletionReceipt>(v)
            .map_err(|e| format!("{file}: says kind deletion-receipt but is not a deletion receipt ({e})"))?;
        if receipt.id != r.id {
            return Err(format!("{file}: the receipt names itself {:?}, not {:?}", receipt.id, r.id));
        }
        Some(receipt)
    } else {
        None
    };
    Ok(Some(SetMeta { kind, kind_name, link, receipt, log }))
}

/// A verified receipt's claim about one deleted set, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Accounted {
    /// Missing, and put back into the chain as the receipt describes it.
    Deleted(DeletedMember),
    /// Missing, but below every set found and not adjoining them through other receipts:
    /// its links cannot be checked here (a folder that holds one day of an older chain).
    Earlier(DeletedMember),
    /// Still present (e.g. a copy restored from backup): checked as any set, and it is the
    /// set the receipt names (same checksum file).
    Present(DeletedMember),
}

impl std::fmt::Display for Accounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Accounted::Deleted(d) => {
                write!(f, "DELETED {} seq {} by receipt {}", d.id, d.seq, d.receipt)
            }
            Accounted::Earlier(d) => write!(
                f,
                "DELETED {} seq {} by receipt {} (before the sets found: its links are not checked)",
                d.id, d.seq, d.receipt
            ),
            Accounted::Present(d) => write!(
                f,
                "PRESENT {} seq {}: receipt {} records its deletion, but it is here (restored?); checked as any set",
                d.id, d.seq, d.receipt
            ),
        }
    }
}

/// The chain of one group of sets.
#[derive(Debug, Default)]
pub(crate) struct ChainReport {
    /// `CHAIN ...` lines.
    pub(crate) problems: Vec<String>,
    /// What the receipts account for, by sequence number.
    pub(crate) accounted: Vec<Accounted>,
}

/// The chain over the verified sets of `reports` (with their metadata `metas`, `None` for a
/// set that failed or has no chain data). Export packages (`packages`) are one party's
/// calls: their sets are checked among themselves, the numbers between them not expected,
/// and receipts are used only outside packages. With `from_genesis` the chain outside
/// packages is expected from sequence 1.
pub(crate) fn check(
    reports: &[SetReport],
    metas: &[Option<SetMeta>],
    packages: &[PathBuf],
    from_genesis: bool,
) -> ChainReport {
    let in_package = |r: &SetReport| packages.iter().position(|p| r.checksum_file.starts_with(p));
    let group = |pkg: Option<usize>| -> Vec<(&SetReport, &SetMeta)> {
        reports
            .iter()
            .zip(metas)
            .filter(|(r, _)| r.is_ok() && in_package(r) == pkg)
            .filter_map(|(r, m)| m.as_ref().map(|m| (r, m)))
            .collect()
    };
    let mut out = with_receipts(&group(None), from_genesis);
    for i in 0..packages.len() {
        let inside = cr_sign::check_chain(&members(&group(Some(i))));
        out.problems.extend(
            inside.into_iter().filter(|p| !matches!(p, cr_sign::ChainProblem::Gap { .. })).map(|p| p.to_string()),
        );
    }
    out
}

fn members(sets: &[(&SetReport, &SetMeta)]) -> Vec<ChainMember> {
    sets.iter()
        .filter_map(|(r, m)| {
            let link = m.link.as_ref()?;
            Some(ChainMember {
                id: r.id.clone(),
                seq: link.seq,
                prev_sha256: link.prev_sha256.clone(),
                checksum_sha256: r.checksum_sha256.clone(),
            })
        })
        .collect()
}

fn with_receipts(sets: &[(&SetReport, &SetMeta)], from_genesis: bool) -> ChainReport {
    let present = members(sets);
    let claims: Vec<DeletedMember> = sets
        .iter()
        .filter_map(|(r, m)| m.receipt.as_ref().map(|rc| (r, rc)))
        .map(|(r, rc)| DeletedMember {
            id: rc.deleted.id.clone(),
            seq: rc.deleted.seq,
            prev_sha256: rc.deleted.prev_sha256.clone(),
            checksum_sha256: rc.deleted.checksum_sha256.clone(),
            receipt: r.id.clone(),
        })
        .collect();
    let mut report = ChainReport::default();
    let mut missing: Vec<DeletedMember> = Vec::new();
    for d in claims {
        match present.iter().find(|m| m.seq == d.seq && m.id == d.id) {
            Some(m) if m.checksum_sha256.eq_ignore_ascii_case(&d.checksum_sha256) => {
                report.accounted.push(Accounted::Present(d));
            }
            Some(_) => report.problems.push(format!(
                "receipt {} names {} (sequence {}) with another checksum file than the one present",
                d.receipt, d.id, d.seq
            )),
            None => missing.push(d),
        }
    }
    // A receipt for a set below every set found is usable only if it adjoins them: the
    // numbers below the lowest present are not expected (unless `from_genesis`), and a
    // receipt must not turn that unexpected stretch into gaps.
    let mut by_seq: BTreeMap<u64, Vec<DeletedMember>> = BTreeMap::new();
    for d in missing {
        by_seq.entry(d.seq).or_default().push(d);
    }
    let lowest = present.iter().map(|m| m.seq).min().unwrap_or(u64::MAX);
    let mut reach = if from_genesis { 1 } else { lowest };
    while reach > 1 && by_seq.contains_key(&(reach - 1)) {
        reach -= 1;
    }
    let (used, earlier): (Vec<DeletedMember>, Vec<DeletedMember>) =
        by_seq.into_values().flatten().partition(|d| d.seq >= reach);
    let checked = cr_sign::check_chain_with_receipts(&present, &used);
    report.problems.extend(checked.problems.iter().map(|p| p.to_string()));
    if from_genesis {
        let first = present.iter().map(|m| (m.seq, &m.id)).chain(used.iter().map(|d| (d.seq, &d.id))).min();
        match first {
            Some((2, id)) => report.problems.push(format!("sequence 1 missing (before {id})")),
            Some((seq, id)) if seq > 2 => {
                report.problems.push(format!("sequence 1 to {} missing (before {id})", seq - 1))
            }
            _ => {}
        }
    }
    report.accounted.extend(checked.accounted.into_iter().map(Accounted::Deleted));
    report.accounted.extend(earlier.into_iter().map(Accounted::Earlier));
    report.accounted.sort_by_key(|a| match a {
        Accounted::Deleted(d) | Accounted::Earlier(d) | Accounted::Present(d) => (d.seq, d.receipt.clone()),
    });
    report
}
