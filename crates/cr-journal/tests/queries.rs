//! `status` and `search` against expectations worked out by hand (see `common/queries.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use common::queries::*;
use cr_journal::Journal;

fn fixture() -> Journal {
    let j = Journal::open_in_memory().unwrap();
    fill(&j);
    j
}

#[test]
fn search_number_forms() {
    search_by_number_in_any_form(&fixture());
}

#[test]
fn search_by_a_middle_part_of_a_number() {
    search_by_any_part_of_a_number(&fixture());
}

#[test]
fn search_time_range_and_limit() {
    search_by_time_range_and_limit(&fixture());
}

#[test]
fn search_duration_and_deliveries() {
    search_hits_carry_duration_and_deliveries(&fixture());
}

#[test]
fn status_calls_backlog_errors() {
    status_shows_active_calls_backlog_and_last_errors(&fixture());
}

#[test]
fn record_calls_in_one_batch() {
    record_calls_batch(&fixture());
}

#[test]
fn set_of_a_pbx_call_id() {
    set_of_pbx_call_finds_the_sealed_set(&fixture());
}

#[test]
fn search_filters_configuration_parties_and_flags() {
    let j = fixture();
    fill_filters(&j);
    search_by_configuration_party_list_and_flag(&j);
}

#[test]
fn search_paging() {
    let j = fixture();
    fill_filters(&j);
    search_pages(&j);
}
