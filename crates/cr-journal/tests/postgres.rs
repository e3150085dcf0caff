//! The PostgreSQL backend against a real PostgreSQL server that this test starts
//! (`initdb` + `pg_ctl` on a free loopback port, stopped when the test ends). Runs with
//! `cargo test -p cr-journal --features postgres`; skips loudly when PostgreSQL is not
//! installed, unless CALLREC_TEST_STRICT=1.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::pg_cluster::{Auth, Cluster};
use common::{seal, sha, t};
use cr_journal::{Journal, JournalError, OpenOptions};

/// The password of the cluster's user; connections over TCP must give it.
const PASSWORD: &str = "s3cret-journal";

/// The cluster's own connections and databases, over [`Cluster`].
trait Admin {
    /// A direct connection (not through the journal), with the password.
    fn admin(&self, db: &str) -> postgres::Client;
    /// A fresh empty database; its URL (without the password).
    fn database(&self, name: &str) -> String;
}

impl Admin for Cluster {
    fn admin(&self, db: &str) -> postgres::Client {
        let mut cfg: postgres::Config = self.url(db).parse().unwrap();
        cfg.password(PASSWORD);
        cfg.connect(postgres::NoTls).unwrap()
    }

    fn database(&self, name: &str) -> String {
        let mut c = self.admin("postgres");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(name)
    }
}

fn open(url: &str) -> Journal {
    Journal::open_url(
        url,
        Path::new("/nonexistent"),
        &OpenOptions::new().password(PASSWORD),
    )
    .unwrap()
}

#[test]
fn postgres_backend_behaves_like_sqlite() {
    let Some(pg) = Cluster::start(Auth::Password(PASSWORD)) else { return };

    // Migrations from empty, re-open, refusals.
    let url = pg.database("lifecycle");
    {
        let e = Journal::open_url(&url, Path::new("/"), &OpenOptions::new()).unwrap_err();
        assert!(matches!(e, JournalError::Open { .. }), "no password: {e}");
        let e = Journal::open_url(&url, Path::new("/"), &OpenOptions::new().password("wrong"))
            .unwrap_err();
        assert!(
            matches!(e, JournalError::Open { .. }),
            "wrong password: {e}"
        );
        assert!(
            !e.to_string().contains("wrong"),
            "the password must not appear in messages: {e}"
        );
        let e = Journal::open_url(
            &url,
            Path::new("/"),
            &OpenOptions::new().create(false).password(PASSWORD),
        )
        .unwrap_err();
        assert!(matches!(e, JournalError::NotFound { .. }), "{e}");
        let j = open(&url);
        assert_eq!(j.schema_version().unwrap(), 10);
        seal(&j, "set-1", "+4930999888", "300", 0, 60, &["nas"]);
        assert_eq!(
            j.set_membership("trading", "bob", false, "test", t(5))
                .unwrap(),
            None
        );
        assert_eq!(
            j.set_membership("trading", "bob", true, "test", t(6))
                .unwrap(),
            Some(false)
        );
    }
    let j = open(&url);
    assert_eq!(j.schema_version().unwrap(), 10);
    let rec = j.recording("set-1").unwrap().unwrap();
    assert_eq!(
        (rec.chain.seq, rec.files.len(), rec.uploads.len()),
        (1, 2, 1)
    );
    let res = j.reserve_link("set-2", t(100)).unwrap();
    assert_eq!(
        (res.link().seq, res.link().prev_sha256.clone()),
        (2, sha(1001))
    );
    drop(res);
    assert_eq!(
        j.chain_head().unwrap().unwrap().seq,
        1,
        "an abandoned reservation leaves nothing"
    );
    assert!(j.status(t(0), 1).is_ok());
    assert_eq!(
        common::audit_kinds(&j),
        ["set_sealed", "membership_changed", "membership_changed"]
    );
    let mut c = pg.admin("lifecycle");
    c.batch_execute("UPDATE callrec_schema SET version = 1000")
        .unwrap();
    let e = Journal::open_url(&url, Path::new("/"), &OpenOptions::new().password(PASSWORD))
        .unwrap_err();
    assert!(
        matches!(e, JournalError::SchemaTooNew { found: 1000, .. }),
        "{e}"
    );

    // Status and search: the same hand-worked expectations as on SQLite.
    let url = pg.database("queries");
    let j = open(&url);
    common::queries::fill(&j);
    common::queries::search_by_number_in_any_form(&j);
    common::queries::search_by_any_part_of_a_number(&j);
    common::queries::search_by_time_range_and_limit(&j);
    common::queries::search_hits_carry_duration_and_deliveries(&j);
    common::queries::status_shows_active_calls_backlog_and_last_errors(&j);
    common::queries::record_calls_batch(&j);
    common::queries::set_of_pbx_call_finds_the_sealed_set(&j);

    // Search filters and paging, in SQL: the same expectations as on SQLite.
    let j = open(&pg.database("filters"));
    common::queries::fill(&j);
    common::queries::fill_filters(&j);
    common::queries::search_by_configuration_party_list_and_flag(&j);
    common::queries::search_pages(&j);

    // Quality at sealing: kept with its chain link, listed when flagged.
    let j = open(&pg.database("quality"));
    common::quality::quality_is_kept_with_its_link_and_listed_when_flagged(&j);

    // Retention: lengthened, audited, never shortened.
    let j = open(&pg.database("retention"));
    common::retention::extend_lengthens_audits_and_never_shortens(&j);

    // The chain under 8 threads, each with its own connection (as recorder nodes would).
    let url = pg.database("chain");
    common::chain::eight_threads_seal_without_gap_or_duplicate(
        &open(&url),
        &|_| Some(open(&url)),
        25,
    );

    // The lifecycle checks that run on SQLite, each on a fresh database.
    type Check = (&'static str, fn(&Journal));
    let checks: [Check; 7] = [
        ("membership", common::lifecycle::membership_changes_are_kept_and_audited),
        ("uploads", common::lifecycle::uploads_move_from_pending_to_done_and_failed),
        ("not_recorded", common::lifecycle::calls_not_recorded_are_kept_with_their_reason),
        ("bad_values", common::lifecycle::bad_values_are_refused_before_anything_is_written),
        (
            "same_thread",
            common::lifecycle::regression_same_thread_use_during_a_reservation_errors_instead_of_deadlocking,
        ),
        ("seal_with", common::lifecycle::seal_with_commits_on_success_and_nothing_on_error),
        ("deletions", common::lifecycle::deletions_are_kept_per_target_until_a_receipt_marks_the_set_deleted),
    ];
    for (db, check) in checks {
        check(&open(&pg.database(db)));
    }
    common::decision_log::entries_are_sealed_exactly_once(&open(&pg.database("decision_log")));
    let url = pg.database("decision_log_nodes");
    common::decision_log::two_sealers_never_seal_one_entry_twice(&|| open(&url));

    // Operators and the audit chain.
    common::trail::operators_have_roles_and_only_admins_add_them(&open(&pg.database("operators")));
    let url = pg.database("audit_chain");
    let raw = std::sync::Mutex::new(pg.admin("audit_chain"));
    common::trail::audit_events_form_a_chain_that_catches_edits(&open(&url), &|sql| {
        raw.lock().unwrap().batch_execute(sql).unwrap();
    });
    let url = pg.database("audit_concurrent");
    common::trail::concurrent_events_link_in_order(&|| open(&url));
    common::trail::audit_pages_filter_and_page(&open(&pg.database("audit_pages")));
    common::totp::second_factor_is_enrolled_used_once_and_disabled(&open(&pg.database("totp")));

    // Holds and four-eyes requests, as on SQLite.
    let checks: [Check; 4] = [
        ("four_eyes", common::holds::four_eyes_on_deletion_and_release),
        ("party_hold", common::holds::party_hold_covers_later_sets_in_its_range),
        ("refusals", common::holds::refusals_and_bad_input_change_nothing),
        ("request_done", common::holds::deletion_request_done_needs_an_approved_request_and_a_sealed_receipt),
    ];
    for (db, check) in checks {
        check(&open(&pg.database(db)));
    }
}

/// The column types of callrec's tables, as PostgreSQL reports them.
fn pg_columns(c: &mut postgres::Client) -> Vec<[String; 4]> {
    c.query(
        "SELECT table_name::TEXT, column_name::TEXT, data_type::TEXT, is_nullable::TEXT \
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| [r.get(0), r.get(1), r.get(2), r.get(3)])
    .collect()
}

#[test]
fn a_postgres_journal_written_by_the_previous_code_opens_reads_and_extends() {
    use common::schema_v1::{POSTGRES_V1, ROWS, check_and_extend};
    let Some(pg) = Cluster::start(Auth::Password(PASSWORD)) else { return };
    let url = pg.database("old");
    let mut c = pg.admin("old");
    c.batch_execute(POSTGRES_V1).unwrap();
    c.batch_execute(&ROWS.replace("{TRUE}", "TRUE")).unwrap();
    c.batch_execute(
        "CREATE TABLE callrec_schema (version BIGINT NOT NULL); INSERT INTO callrec_schema VALUES (1)",
    )
    .unwrap();
    // Migrated, the previous code's tables are the ones the current code creates.
    let j = open(&url);
    let new = pg.database("new");
    drop(open(&new));
    assert_eq!(pg_columns(&mut pg.admin("new")), pg_columns(&mut c));
    check_and_extend(&j);
}

/// Regression: the blocking PostgreSQL client panicked ("Cannot start a runtime from within
/// a runtime") when the journal was used in a tokio task, as cr-recorder's API and
/// housekeeping tasks do; every recorder on a `postgres://` journal died at start.
#[test]
fn postgres_journal_used_in_a_tokio_task_does_not_panic() {
    let Some(pg) = Cluster::start(Auth::Password(PASSWORD)) else { return };
    let url = pg.database("in_runtime");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let head = rt.block_on(async move {
        tokio::spawn(async move {
            let j = open(&url);
            seal(&j, "set-1", "+4930999888", "300", 0, 60, &["nas"]);
            j.chain_head().unwrap()
        })
        .await
        .unwrap()
    });
    assert_eq!(head.map(|h| h.seq), Some(1));
}

// Guards against: the reconciliation query (keyset pages over start and set id, time
// bounds) or the membership history reading differently on PostgreSQL.
#[test]
fn postgres_reads_recorded_calls_and_membership_history() {
    let Some(pg) = Cluster::start(Auth::Password(PASSWORD)) else { return };
    let j = open(&pg.database("reconcile"));
    common::reconcile::recorded_calls_page_by_page_and_membership_history(&j);
}
