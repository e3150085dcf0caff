//! Operators and the audit chain on SQLite (the same checks run on PostgreSQL in
//! `postgres.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use common::trail;
use cr_journal::{Journal, OpenOptions};

fn file_journal() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    drop(Journal::open_sqlite(&path, &OpenOptions::new()).unwrap());
    (dir, path)
}

#[test]
fn operators_have_roles_and_only_admins_add_them() {
    trail::operators_have_roles_and_only_admins_add_them(&Journal::open_in_memory().unwrap());
}

#[test]
fn audit_events_form_a_chain_that_catches_edits() {
    let (_dir, path) = file_journal();
    let j = Journal::open_sqlite(&path, &OpenOptions::new()).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    trail::audit_events_form_a_chain_that_catches_edits(&j, &|sql| {
        raw.execute_batch(sql).unwrap();
    });
}

#[test]
fn concurrent_events_link_in_order() {
    let (_dir, path) = file_journal();
    trail::concurrent_events_link_in_order(&|| Journal::open_sqlite(&path, &OpenOptions::new()).unwrap());
}

#[test]
fn audit_pages_filter_and_page() {
    trail::audit_pages_filter_and_page(&Journal::open_in_memory().unwrap());
}

// Guards against: a kind in the audit view's choices that reads back as another (or as `Other`).
#[test]
fn every_known_audit_kind_round_trips() {
    use cr_journal::AuditKind;
    let mut seen = std::collections::HashSet::new();
    for k in AuditKind::KNOWN {
        assert_eq!(&AuditKind::parse(k.as_str()), k);
        assert!(!matches!(k, AuditKind::Other(_)));
        assert!(seen.insert(k.as_str()), "{k} twice");
    }
    assert!(seen.contains("signed_in") && seen.contains("operator_added"));
}

#[test]
fn second_factor_is_enrolled_used_once_and_disabled() {
    common::totp::second_factor_is_enrolled_used_once_and_disabled(&Journal::open_in_memory().unwrap());
}
