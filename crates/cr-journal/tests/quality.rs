//! Quality at sealing in the journal (schema 10; see `common/quality.rs`).
#![allow(clippy::unwrap_used)]

mod common;

#[test]
fn quality_is_kept_with_its_link_and_listed_when_flagged() {
    let j = cr_journal::Journal::open_in_memory().unwrap();
    common::quality::quality_is_kept_with_its_link_and_listed_when_flagged(&j);
}
