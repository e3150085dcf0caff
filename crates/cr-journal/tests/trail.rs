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
