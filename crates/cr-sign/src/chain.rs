//! The chain of sets: each set's metadata names its sequence number and the SHA-256 of the
//! previous set's checksum file, so a verifier walking a folder finds every set that is
//! missing and every link that does not fit.

use std::fmt;

/// The SHA-256 the first set of an installation names as its predecessor.
pub use cr_types::GENESIS_SHA256;

/// One verified set's place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainMember {
    /// Set id.
    pub id: String,
    /// Sequence number from its metadata.
    pub seq: u64,
    /// SHA-256 of the previous set's checksum file, from its metadata.
    pub prev_sha256: String,
    /// SHA-256 of this set's own checksum file.
    pub checksum_sha256: String,
}

/// What is wrong with the chain of a collection of sets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainProblem {
    /// Sequence numbers `from..=to` are missing between two sets that are present.
    Gap {
        /// First missing number.
        from: u64,
        /// Last missing number.
        to: u64,
        /// The set before the gap.
        after: String,
        /// The set after the gap.
        before: String,
    },
    /// A set's predecessor hash is not the checksum-file hash of the set before it.
    BrokenLink {
        /// The set whose link does not fit.
        id: String,
        /// Its sequence number.
        seq: u64,
        /// The set it should link to (`None` for sequence 1, which must name the genesis
        /// hash).
        previous: Option<String>,
    },
    /// Two sets claim the same sequence number.
    Duplicate {
        /// The number.
        seq: u64,
        /// The sets.
        ids: Vec<String>,
    },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gap { from, to, after, before } if from == to => {
                write!(f, "sequence {from} missing (between {after} and {before})")
            }
            Self::Gap { from, to, after, before } => {
                write!(f, "sequence {from} to {to} missing (between {after} and {before})")
            }
            Self::BrokenLink { id, seq, previous: Some(p) } => write!(
                f,
                "broken link: {id} (sequence {seq}) does not name the checksum file of {p} as its predecessor"
            ),
            Self::BrokenLink { id, seq, previous: None } => {
                write!(f, "broken link: {id} (sequence {seq}) should start the chain but names a predecessor")
            }
            Self::Duplicate { seq, ids } => write!(f, "sequence {seq} claimed by {}", ids.join(", ")),
        }
    }
}

/// Checks the members (any order) against each other. Sets before the lowest number
/// present are not reported (an auditor may look at one day's folder, and retention
/// deletes the oldest sets); every gap between the lowest and the highest is.
pub fn check_chain(members: &[ChainMember]) -> Vec<ChainProblem> {
    let mut sorted: Vec<&ChainMember> = members.iter().collect();
    sorted.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.id.cmp(&b.id)));
    let mut problems = Vec::new();
    if let Some(first) = sorted.first()
        && first.seq == 1
        && first.prev_sha256 != GENESIS_SHA256
    {
        problems.push(ChainProblem::BrokenLink { id: first.id.clone(), seq: 1, previous: None });
    }
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j].seq == sorted[i].seq {
            j += 1;
        }
        if j - i > 1 {
            problems.push(ChainProblem::Duplicate {
                seq: sorted[i].seq,
                ids: sorted[i..j].iter().map(|m| m.id.clone()).collect(),
            });
        }
        if let Some(next) = sorted.get(j) {
            let prev = sorted[j - 1];
            if next.seq > prev.seq + 1 {
                problems.push(ChainProblem::Gap {
                    from: prev.seq + 1,
                    to: next.seq - 1,
                    after: prev.id.clone(),
                    before: next.id.clone(),
                });
            } else if !sorted[i..j].iter().any(|p| p.checksum_sha256.eq_ignore_ascii_case(&next.prev_sha256)) {
                problems.push(ChainProblem::BrokenLink {
                    id: next.id.clone(),
                    seq: next.seq,
                    previous: Some(prev.id.clone()),
                });
            }
        }
        i = j;
    }
    problems
}

/// A set that a verified deletion receipt accounts for: it is not there, and need not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedMember {
    /// The deleted set's id.
    pub id: String,
    /// Its sequence number.
    pub seq: u64,
    /// The SHA-256 its metadata named as its predecessor's (from the receipt).
    pub prev_sha256: String,
    /// The SHA-256 of its checksum file (from the receipt).
    pub checksum_sha256: String,
    /// The receipt's set id.
    pub receipt: String,
}

/// The outcome of [`check_chain_with_receipts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainCheck {
    /// What is wrong (gaps no receipt accounts for, broken links, duplicates).
    pub problems: Vec<ChainProblem>,
    /// The missing sets that receipts account for, by sequence number.
    pub accounted: Vec<DeletedMember>,
}

/// [`check_chain`] with deletion receipts: a set that is missing but named by a receipt
/// (taken from verified receipts only) stands in the chain as the receipt describes it —
/// its number, the hash it linked to and its checksum file's hash — so the sets around it
/// must still link through it. A gap no receipt accounts for is reported as before.
pub fn check_chain_with_receipts(members: &[ChainMember], deleted: &[DeletedMember]) -> ChainCheck {
    let mut all: Vec<ChainMember> = members.to_vec();
    let mut accounted: Vec<DeletedMember> = Vec::new();
    for d in deleted {
        if members.iter().any(|m| m.seq == d.seq && m.id == d.id) || accounted.contains(d) {
            continue;
        }
        all.push(ChainMember {
            id: d.id.clone(),
            seq: d.seq,
            prev_sha256: d.prev_sha256.clone(),
            checksum_sha256: d.checksum_sha256.clone(),
        });
        accounted.push(d.clone());
    }
    accounted.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.id.cmp(&b.id)));
    ChainCheck { problems: check_chain(&all), accounted }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<ChainMember> {
        let mut prev = GENESIS_SHA256.to_owned();
        (1..=n)
            .map(|seq| {
                let sum = format!("{seq:064x}");
                let m = ChainMember { id: format!("set{seq}"), seq, prev_sha256: prev.clone(), checksum_sha256: sum.clone() };
                prev = sum;
                m
            })
            .collect()
    }

    #[test]
    fn whole_chain_is_clean_in_any_order() {
        let mut c = chain(10);
        c.reverse();
        assert!(check_chain(&c).is_empty());
        assert!(check_chain(&[]).is_empty());
    }

    #[test]
    fn missing_sets_are_named() {
        let mut c = chain(100);
        c.remove(56); // seq 57
        c.retain(|m| !(80..=82).contains(&m.seq));
        let p = check_chain(&c);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].to_string(), "sequence 57 missing (between set56 and set58)");
        assert_eq!(p[1].to_string(), "sequence 80 to 82 missing (between set79 and set83)");
    }

    fn receipt_for(m: &ChainMember) -> DeletedMember {
        DeletedMember {
            id: m.id.clone(),
            seq: m.seq,
            prev_sha256: m.prev_sha256.clone(),
            checksum_sha256: m.checksum_sha256.clone(),
            receipt: format!("receipt-{}", m.seq),
        }
    }

    #[test]
    fn receipts_account_for_deleted_sets_and_nothing_else() {
        let full = chain(20);
        let deleted: Vec<DeletedMember> = [1, 5, 6, 12].iter().map(|&s| receipt_for(&full[s - 1])).collect();
        let mut present: Vec<ChainMember> =
            full.iter().filter(|m| ![1, 5, 6, 12, 15].contains(&m.seq)).cloned().collect();
        let c = check_chain_with_receipts(&present, &deleted);
        assert_eq!(c.accounted.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1, 5, 6, 12]);
        // 15 was removed without a receipt: the one problem, named by its number.
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert!(c.problems[0].to_string().starts_with("sequence 15 missing"), "{}", c.problems[0]);
        present.push(full[14].clone());
        assert!(check_chain_with_receipts(&present, &deleted).problems.is_empty());
    }

    // Guards against: a receipt that names a made-up hash papering over a replaced set.
    #[test]
    fn a_receipt_whose_hashes_do_not_fit_breaks_the_link() {
        let full = chain(5);
        let present: Vec<ChainMember> = full.iter().filter(|m| m.seq != 3).cloned().collect();
        let mut forged = receipt_for(&full[2]);
        forged.checksum_sha256 = "ee".repeat(32);
        let c = check_chain_with_receipts(&present, &[forged]);
        assert!(matches!(&c.problems[..], [ChainProblem::BrokenLink { seq: 4, .. }]), "{:?}", c.problems);
    }

    #[test]
    fn later_slice_of_the_chain_is_fine_but_a_swapped_link_is_not() {
        let c: Vec<_> = chain(10).into_iter().skip(4).collect();
        assert!(check_chain(&c).is_empty());
        let mut c = chain(5);
        c[3].prev_sha256 = c[1].checksum_sha256.clone();
        assert!(matches!(&check_chain(&c)[..], [ChainProblem::BrokenLink { seq: 4, .. }]));
        let mut c = chain(3);
        c[0].prev_sha256 = "ab".repeat(32);
        assert!(matches!(&check_chain(&c)[..], [ChainProblem::BrokenLink { seq: 1, previous: None, .. }]));
        let mut c = chain(3);
        c.push(ChainMember { id: "dup".into(), ..c[1].clone() });
        assert!(matches!(&check_chain(&c)[..], [ChainProblem::Duplicate { seq: 2, .. }]));
    }
}
