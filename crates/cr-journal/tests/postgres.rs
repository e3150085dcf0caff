//! The PostgreSQL backend against a real PostgreSQL server that this test starts
//! (`initdb` + `pg_ctl` on a free loopback port, stopped when the test ends). Runs with
//! `cargo test -p cr-journal --features postgres`; skips loudly when PostgreSQL is not
//! installed, unless CALLREC_TEST_STRICT=1.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

use common::{call, recording, seal, sha, t};
use cr_journal::{GENESIS_SHA256, Journal, JournalError, OpenOptions};

/// The password of the cluster's user; connections over TCP must give it.
const PASSWORD: &str = "s3cret-journal";

/// A PostgreSQL cluster in a temporary directory; `Drop` stops it.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    pg_ctl: PathBuf,
}

fn find_pg_bin(name: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in rd.flatten() {
            candidates.push(e.path().join("bin").join(name));
        }
    }
    candidates.push(PathBuf::from("/usr/local/bin").join(name));
    candidates.push(PathBuf::from("/usr/bin").join(name));
    candidates.into_iter().find(|p| p.is_file())
}

/// Runs `cmd` as the postgres user when we are root (initdb refuses root).
fn as_postgres(bin: &Path, args: &[&str]) -> std::process::Output {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if is_root {
        let mut line = shell_quote(&bin.display().to_string());
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", &line])
            .output()
            .unwrap()
    } else {
        Command::new(bin).args(args).output().unwrap()
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Cluster {
    fn start() -> Option<Self> {
        let (Some(initdb), Some(pg_ctl)) = (find_pg_bin("initdb"), find_pg_bin("pg_ctl")) else {
            assert!(
                std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
                "PostgreSQL (initdb, pg_ctl) is needed (CALLREC_TEST_STRICT=1)"
            );
            eprintln!(
                "SKIPPING the PostgreSQL backend test: initdb/pg_ctl not found (package postgresql)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let pwfile_arg = format!("--pwfile={}", pwfile.display());
        let out = as_postgres(
            &initdb,
            &[
                "-D",
                &data.display().to_string(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &pwfile_arg,
                "--no-sync",
                "-U",
                "callrec",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            dir.path().display()
        );
        let log = dir.path().join("pg.log").display().to_string();
        let out = as_postgres(
            &pg_ctl,
            &[
                "-w",
                "-D",
                &data.display().to_string(),
                "-l",
                &log,
                "-o",
                &opts,
                "start",
            ],
        );
        let cluster = Cluster { dir, port, pg_ctl };
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Some(cluster)
    }

    fn url(&self, db: &str) -> String {
        format!("postgresql://callrec@127.0.0.1:{}/{db}", self.port)
    }

    /// A direct connection (not through the journal), with the password.
    fn admin(&self, db: &str) -> postgres::Client {
        let mut cfg: postgres::Config = self.url(db).parse().unwrap();
        cfg.password(PASSWORD);
        cfg.connect(postgres::NoTls).unwrap()
    }

    /// A fresh empty database.
    fn database(&self, name: &str) -> String {
        let mut c = self.admin("postgres");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = as_postgres(&self.pg_ctl, &["-D", &data, "-m", "immediate", "stop"]);
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
    let Some(pg) = Cluster::start() else { return };

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
    let kinds: Vec<String> = j
        .audit_events(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(
        kinds,
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
    let setup = open(&url);
    let c = setup
        .record_call(&call("+4930999888", "300", t(0), true))
        .unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let per_thread = 25u64;
    let handles: Vec<_> = (0..8u64)
        .map(|th| {
            let url = url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let j = open(&url);
                barrier.wait();
                let mut got = Vec::new();
                for i in 0..per_thread {
                    let set = format!("t{th}-{i}");
                    if i % 5 == 4 {
                        drop(j.reserve_link(&format!("{set}-abandoned"), t(1)).unwrap());
                    }
                    let res = j.reserve_link(&set, t(1)).unwrap();
                    let link = res.link().clone();
                    let h = sha(th * 1_000_000 + i + 1);
                    res.commit(&h, &recording(&set, c, t(0), t(1), &[]))
                        .unwrap();
                    got.push((link.seq, link.prev_sha256, h));
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().expect("a sealing thread failed"));
    }
    all.sort();
    let n = 8 * per_thread;
    assert_eq!(
        all.iter().map(|x| x.0).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    assert_eq!(all[0].1, GENESIS_SHA256);
    for w in all.windows(2) {
        assert_eq!(
            w[1].1, w[0].2,
            "seq {} does not link to seq {}",
            w[1].0, w[0].0
        );
    }
    let chain = setup.chain(1, 10_000).unwrap();
    assert_eq!(chain.len(), usize::try_from(n).unwrap());

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
    let Some(pg) = Cluster::start() else { return };
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
    let Some(pg) = Cluster::start() else { return };
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
    let Some(pg) = Cluster::start() else { return };
    let j = open(&pg.database("reconcile"));
    common::reconcile::recorded_calls_page_by_page_and_membership_history(&j);
}
