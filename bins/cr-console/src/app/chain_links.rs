//! The badge's check of a set's links to its neighbours in the chain, made when the page is
//! opened: the set before it must be the one whose checksum file this set's signed metadata
//! names, and the set after it must name this set's checksum file. Each neighbour is read
//! from its local copy when there is one (the hash of its checksum file as it lies, the link
//! its metadata names), else as the journal recorded it; cr-sign's `check_chain` judges them,
//! as cr-verify does for a folder of sets.

use std::path::Path;

use cr_journal::{ChainEntry, ChainLink, Journal, JournalError, RecordingInfo};
use cr_sign::{ChainMember, ChainProblem};

use super::Console;
use super::recording::local_copy;

/// The sets next to one in the chain, as the journal knows them (read under its lock; the
/// files are read afterwards, in [`check`]).
pub(super) struct Neighbours {
    previous: Option<(ChainEntry, Option<RecordingInfo>)>,
    next: Option<(ChainEntry, Option<RecordingInfo>)>,
}

/// The journal's entries (and recordings) of the sets at `seq - 1` and `seq + 1`.
pub(super) fn neighbours(journal: &Journal, seq: u64) -> Result<Neighbours, JournalError> {
    let at = |s: u64| -> Result<Option<(ChainEntry, Option<RecordingInfo>)>, JournalError> {
        let Some(entry) = journal.chain(s, 1)?.into_iter().find(|e| e.seq == s) else { return Ok(None) };
        let info = journal.recording(&entry.set_id)?;
        Ok(Some((entry, info)))
    };
    Ok(Neighbours { previous: if seq > 1 { at(seq - 1)? } else { None }, next: at(seq + 1)? })
}

/// The signed chain link in a set's metadata (`<id>.json` beside its checksum file); none
/// when it is missing or names none (a set sealed by `crctl seal`).
fn meta_link(sums: &Path, id: &str) -> Option<ChainLink> {
    let bytes = std::fs::read(sums.with_file_name(format!("{id}.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::from_value(v.get("chain")?.clone()).ok()
}

/// A set of the chain as a member; `local` tells whether it was read from a copy here.
struct Member {
    member: ChainMember,
    local: bool,
}

fn member(id: &str, sums: Option<&Path>, entry: &ChainEntry) -> Member {
    let journal = || ChainMember {
        id: id.to_owned(),
        seq: entry.seq,
        prev_sha256: entry.prev_sha256.clone(),
        checksum_sha256: entry.sha256.clone(),
    };
    // A checksum file is small (verify_set refuses a large one): hashed as it reads it.
    let Some((sums, Ok(bytes))) = sums.map(|s| (s, std::fs::read(s))) else {
        return Member { member: journal(), local: false };
    };
    let link = meta_link(sums, id);
    let j = journal();
    Member {
        member: ChainMember {
            seq: link.as_ref().map_or(j.seq, |l| l.seq),
            prev_sha256: link.map_or(j.prev_sha256, |l| l.prev_sha256),
            checksum_sha256: cr_sign::sha256_hex(&bytes),
            id: j.id,
        },
        local: true,
    }
}

fn neighbour(app: &Console, found: Option<&(ChainEntry, Option<RecordingInfo>)>) -> Option<Member> {
    let (entry, info) = found?;
    let sums = info.as_ref().and_then(|i| local_copy(app, i));
    Some(member(&entry.set_id, sums.as_deref(), entry))
}

/// Where a neighbour's figures came from, for the badge.
fn source(m: &Member) -> &'static str {
    if m.local { "its copy here" } else { "the journal (no copy here)" }
}

/// Checks the links of set `info`, whose checksum file `sums` hashed to `checksum_sha256`
/// (its entry in the journal `entry`): `Ok` with what held (for the badge's sentence), or
/// `Err` with each broken link, naming it.
pub(super) fn check(
    app: &Console,
    info: &RecordingInfo,
    sums: &Path,
    checksum_sha256: &str,
    near: &Neighbours,
) -> Result<String, Vec<String>> {
    let entry = &info.chain;
    let mut this = member(&info.set_id, None, entry);
    if let Some(link) = meta_link(sums, &info.set_id) {
        this.member.seq = link.seq;
        this.member.prev_sha256 = link.prev_sha256;
    }
    checksum_sha256.clone_into(&mut this.member.checksum_sha256);
    let (prev, next) = (neighbour(app, near.previous.as_ref()), neighbour(app, near.next.as_ref()));
    let members: Vec<ChainMember> = prev.iter().chain([&this]).chain(next.iter()).map(|m| m.member.clone()).collect();
    let problems: Vec<String> = cr_sign::check_chain(&members)
        .into_iter()
        .map(|p| match (&p, &prev, &next) {
            (ChainProblem::BrokenLink { id, previous: Some(_), .. }, Some(prev), _) if *id == this.member.id => format!(
                "the link to the previous set #{} ({}) is broken: this set's metadata names {} as the SHA-256 of that set's checksum file, but by {} it is {}",
                prev.member.seq, prev.member.id, this.member.prev_sha256, source(prev), prev.member.checksum_sha256
            ),
            (ChainProblem::BrokenLink { id, previous: Some(_), .. }, _, Some(next)) if *id == next.member.id => format!(
                "the link to the next set #{} ({}) is broken: by {} it names {} as this set's checksum file's SHA-256, but that is {}",
                next.member.seq, next.member.id, source(next), next.member.prev_sha256, checksum_sha256
            ),
            (ChainProblem::BrokenLink { previous: None, .. }, _, _) => {
                format!("this set is #1 of the chain but names {} as its predecessor, not the genesis hash", this.member.prev_sha256)
            }
            _ => p.to_string(),
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let prev_text = prev.as_ref().map_or_else(
        || "it starts the chain".to_owned(),
        |p| format!("its link to #{} ({}, by {}) holds", p.member.seq, p.member.id, source(p)),
    );
    let next_text = next.as_ref().map_or_else(
        || "it is the last set so far".to_owned(),
        |n| format!("the link from #{} ({}, by {}) holds", n.member.seq, n.member.id, source(n)),
    );
    Ok(format!("{prev_text}; {next_text}"))
}
