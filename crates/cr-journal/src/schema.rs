//! The schema, as numbered migrations written once for every backend. The version holds
//! the number of migrations applied (SQLite: `PRAGMA user_version`; PostgreSQL: table
//! `callrec_schema`); a migration is never edited once released, only new ones appended.
//!
//! Times are integer milliseconds since 1970-01-01 UTC (read them in SQLite with
//! `datetime(x / 1000, 'unixepoch')`); SHA-256 values are lower-case hex; lists are JSON
//! arrays.
//!
//! The few type differences between the backends are tokens that [`ddl`] expands:
//!
//! | token              | SQLite                              | PostgreSQL                                  |
//! |--------------------|-------------------------------------|---------------------------------------------|
//! | `{ROWID}`          | `INTEGER PRIMARY KEY`               | `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY` |
//! | `{SERIAL}`         | `INTEGER PRIMARY KEY AUTOINCREMENT` | `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY` |
//! | `{INT}`            | `INTEGER`                           | `BIGINT`                                    |
//! | `{BOOL}`           | `INTEGER`                           | `BOOLEAN`                                   |
//! | `{BOOL_CHECK:col}` | `CHECK (col IN (0, 1))`             | (nothing)                                   |
//! | `{TRUE}`           | `1`                                 | `TRUE`                                      |
//! | `{SQLITE}` … `{END}` | what lies between                 | (nothing)                                   |
//! | `{POSTGRES}` … `{END}` | (nothing)                       | what lies between                           |
//!
//! The two blocks are for the rare change one backend makes another way (SQLite cannot drop
//! a column's `NOT NULL`; it rebuilds the table instead).
//!
//! To add a table: append a migration (a new `const V4` and `MIGRATIONS = &[V1, V2, V3, V4]`) with
//! its `CREATE TABLE`, using these tokens; both backends run it on their next open.

use crate::db::Dialect;

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10];

/// The schema version this program writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A migration's DDL for `dialect`: the tokens of the table above expanded.
pub(crate) fn ddl(template: &str, dialect: Dialect) -> String {
    let sqlite = dialect == Dialect::Sqlite;
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    // Inside a block for the other backend: text is dropped until `{END}`.
    let mut skipping = false;
    while let Some(start) = rest.find('{') {
        if !skipping {
            out.push_str(&rest[..start]);
        }
        let tail = &rest[start..];
        let Some(end) = tail.find('}') else { break };
        let token = &tail[1..end];
        match token {
            "SQLITE" | "POSTGRES" => {
                skipping = (token == "SQLITE") != sqlite;
                rest = &tail[end + 1..];
                continue;
            }
            "END" => {
                skipping = false;
                rest = &tail[end + 1..];
                continue;
            }
            _ if skipping => {
                rest = &tail[end + 1..];
                continue;
            }
            _ => {}
        }
        match (token, token.strip_prefix("BOOL_CHECK:")) {
            ("ROWID", _) if sqlite => out.push_str("INTEGER PRIMARY KEY"),
            ("SERIAL", _) if sqlite => out.push_str("INTEGER PRIMARY KEY AUTOINCREMENT"),
            ("ROWID" | "SERIAL", _) => out.push_str("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
            ("INT", _) => out.push_str(if sqlite { "INTEGER" } else { "BIGINT" }),
            ("BOOL", _) => out.push_str(if sqlite { "INTEGER" } else { "BOOLEAN" }),
            ("TRUE", _) => out.push_str(if sqlite { "1" } else { "TRUE" }),
            (_, Some(col)) if sqlite => out.push_str(&format!("CHECK ({col} IN (0, 1))")),
            (_, Some(_)) => {}
            _ => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    if !skipping {
        out.push_str(rest);
    }
    out
}

const V1: &str = r#"
CREATE TABLE calls (
    id              {ROWID},
    pbx_call_id     TEXT    NOT NULL,
    direction       TEXT    NOT NULL CHECK (direction IN ('incoming', 'outgoing', 'internal')),
    caller          TEXT    NOT NULL,
    callee          TEXT    NOT NULL,
    caller_digits   TEXT    NOT NULL,
    callee_digits   TEXT    NOT NULL,
    diversions      TEXT    NOT NULL DEFAULT '[]',
    started_at      {INT} NOT NULL,
    ended_at        {INT},
    record          {BOOL}  NOT NULL {BOOL_CHECK:record},
    configuration   TEXT,
    reason          TEXT    NOT NULL
);
CREATE INDEX calls_active ON calls (started_at) WHERE ended_at IS NULL AND record = {TRUE};
CREATE INDEX calls_pbx_call_id ON calls (pbx_call_id);
CREATE INDEX calls_caller_digits ON calls (caller_digits);
CREATE INDEX calls_callee_digits ON calls (callee_digits);

CREATE TABLE chain (
    seq             {INT} PRIMARY KEY CHECK (seq >= 1),
    set_id          TEXT    NOT NULL UNIQUE,
    prev_sha256     TEXT    NOT NULL,
    sha256          TEXT    NOT NULL,
    committed_at    {INT} NOT NULL
);

CREATE TABLE recordings (
    set_id          TEXT    PRIMARY KEY,
    call_id         {INT} NOT NULL REFERENCES calls (id),
    configuration   TEXT    NOT NULL,
    started_at      {INT} NOT NULL,
    ended_at        {INT} NOT NULL,
    channels        TEXT    NOT NULL,
    cert_fingerprint TEXT   NOT NULL,
    flags           TEXT    NOT NULL DEFAULT '[]',
    chain_seq       {INT} NOT NULL UNIQUE REFERENCES chain (seq),
    location        TEXT,
    sealed_at       {INT} NOT NULL,
    deleted_at      {INT}
);
CREATE INDEX recordings_started_at ON recordings (started_at);
CREATE INDEX recordings_call_id ON recordings (call_id);

CREATE TABLE recording_files (
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    name            TEXT    NOT NULL,
    size            {INT} NOT NULL CHECK (size >= 0),
    sha256          TEXT    NOT NULL,
    PRIMARY KEY (set_id, name)
);

CREATE TABLE uploads (
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    target          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        {INT} NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at {INT},
    remote_path     TEXT,
    queued_at       {INT} NOT NULL,
    done_at         {INT},
    PRIMARY KEY (set_id, target)
);
CREATE INDEX uploads_target_state ON uploads (target, state, queued_at);

CREATE TABLE memberships (
    group_id        TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    active          {BOOL}  NOT NULL {BOOL_CHECK:active},
    changed_at      {INT} NOT NULL,
    changed_by      TEXT    NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE audit_events (
    id              {SERIAL},
    at              {INT} NOT NULL,
    kind            TEXT    NOT NULL,
    actor           TEXT,
    set_id          TEXT,
    details         TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
CREATE INDEX audit_events_set_id ON audit_events (set_id);
"#;

/// Operators, the audit chain, retention (issue 13).
///
/// - `operators`: named accounts with a role; `password_hash` is an argon2id PHC string.
/// - `audit_events.prev_sha256` / `sha256`: each event carries the SHA-256 of the previous
///   one (see `audit.rs`); rows written by schema 1 are hashed when the journal is migrated.
/// - `recordings.expires_at`: the end of the set's retention, fixed at sealing from the
///   call's start (NULL: no retention configured, kept until deleted by hand); extended,
///   never shortened.
const V2: &str = r#"
CREATE TABLE operators (
    name            TEXT    PRIMARY KEY,
    role            TEXT    NOT NULL CHECK (role IN ('auditor', 'supervisor', 'admin')),
    password_hash   TEXT    NOT NULL,
    created_at      {INT} NOT NULL,
    created_by      TEXT    NOT NULL,
    disabled_at     {INT},
    disabled_by     TEXT
);

ALTER TABLE audit_events ADD COLUMN prev_sha256 TEXT;
ALTER TABLE audit_events ADD COLUMN sha256 TEXT;

ALTER TABLE recordings ADD COLUMN expires_at {INT};
CREATE INDEX recordings_expires_at ON recordings (expires_at);
"#;

/// Legal holds and four-eyes requests (issue 13, `holds.rs`).
///
/// - `holds`: one row per hold placed; it *stands* while `released_at` is NULL, and a case
///   has at most one standing hold. Its scope is either the sets listed in `hold_sets`, or a
///   party (`party`, its digits `party_digits`, `exact`) with an optional call-start range
///   `[from_at, to_at)`, evaluated when asked, so that it covers sets sealed later.
/// - `requests`: a change that waits for a second supervisor: `delete` (of `set_id`) or
///   `release` (of hold `hold_id`). Approved when `approved_at` is set; `done_at` (and for a
///   deletion the `receipt_set_id` of its deletion receipt) when carried out.
const V3: &str = r#"
CREATE TABLE holds (
    id              {SERIAL},
    case_name       TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    party           TEXT,
    party_digits    TEXT,
    party_exact     {BOOL}  NOT NULL {BOOL_CHECK:party_exact},
    from_at         {INT},
    to_at           {INT},
    placed_by       TEXT    NOT NULL,
    placed_at       {INT} NOT NULL,
    release_requested_by TEXT,
    release_requested_at {INT},
    released_by     TEXT,
    released_at     {INT}
);
CREATE UNIQUE INDEX holds_standing_case ON holds (case_name) WHERE released_at IS NULL;

CREATE TABLE hold_sets (
    hold_id         {INT} NOT NULL REFERENCES holds (id),
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    PRIMARY KEY (hold_id, set_id)
);
CREATE INDEX hold_sets_set_id ON hold_sets (set_id);

CREATE TABLE requests (
    id              {SERIAL},
    kind            TEXT    NOT NULL CHECK (kind IN ('delete', 'release')),
    set_id          TEXT    REFERENCES recordings (set_id),
    hold_id         {INT} REFERENCES holds (id),
    reason          TEXT,
    requested_by    TEXT    NOT NULL,
    requested_at    {INT} NOT NULL,
    approved_by     TEXT,
    approved_at     {INT},
    done_at         {INT},
    receipt_set_id  TEXT,
    CHECK ((kind = 'delete' AND set_id IS NOT NULL AND reason IS NOT NULL) OR (kind = 'release' AND hold_id IS NOT NULL))
);
CREATE INDEX requests_open ON requests (kind, approved_at, done_at);
"#;

/// The deletion pass (issue 13 item 3): deletion receipts and audit checkpoints are sets of
/// the chain too, and what deleting a set at each of its targets came to.
///
/// - `recordings.call_id` may be NULL: a deletion receipt or an audit checkpoint records no
///   call (SQLite rebuilds the table for it, keeping every row).
/// - `recordings.kind`: `set` (a call's recording), `deletion-receipt`, `audit-checkpoint`.
/// - `recordings.deletion_receipt`: for a deleted set, the id of the receipt sealed for it
///   (set in the transaction that commits the receipt).
/// - `deletions`: one row per (set, target) the deletion pass worked on; target `''` is the
///   recorder's local spool. `pending` (with the last error) until the target confirmed
///   that none of the set's files is left, then `confirmed` with where it lay and what was
///   deleted.
const V4: &str = r#"
{SQLITE}
PRAGMA defer_foreign_keys = ON;
CREATE TABLE recordings_before_v4 AS SELECT * FROM recordings;
DROP TABLE recordings;
CREATE TABLE recordings (
    set_id          TEXT    PRIMARY KEY,
    call_id         {INT} REFERENCES calls (id),
    configuration   TEXT    NOT NULL,
    started_at      {INT} NOT NULL,
    ended_at        {INT} NOT NULL,
    channels        TEXT    NOT NULL,
    cert_fingerprint TEXT   NOT NULL,
    flags           TEXT    NOT NULL DEFAULT '[]',
    chain_seq       {INT} NOT NULL UNIQUE REFERENCES chain (seq),
    location        TEXT,
    sealed_at       {INT} NOT NULL,
    deleted_at      {INT},
    expires_at      {INT},
    kind            TEXT    NOT NULL DEFAULT 'set' CHECK (kind IN ('set', 'deletion-receipt', 'audit-checkpoint')),
    deletion_receipt TEXT
);
INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, cert_fingerprint,
                        flags, chain_seq, location, sealed_at, deleted_at, expires_at)
    SELECT set_id, call_id, configuration, started_at, ended_at, channels, cert_fingerprint,
           flags, chain_seq, location, sealed_at, deleted_at, expires_at FROM recordings_before_v4;
DROP TABLE recordings_before_v4;
CREATE INDEX recordings_started_at ON recordings (started_at);
CREATE INDEX recordings_call_id ON recordings (call_id);
CREATE INDEX recordings_expires_at ON recordings (expires_at);
{END}
{POSTGRES}
ALTER TABLE recordings ALTER COLUMN call_id DROP NOT NULL;
ALTER TABLE recordings ADD COLUMN kind TEXT NOT NULL DEFAULT 'set'
    CHECK (kind IN ('set', 'deletion-receipt', 'audit-checkpoint'));
ALTER TABLE recordings ADD COLUMN deletion_receipt TEXT;
{END}

ALTER TABLE uploads ADD COLUMN remote_dir TEXT;

CREATE TABLE deletions (
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    target          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'confirmed')),
    attempts        {INT} NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at {INT},
    location        TEXT,
    removed         {INT},
    already_absent  {INT},
    confirmed_at    {INT},
    PRIMARY KEY (set_id, target)
);
CREATE INDEX deletions_state ON deletions (state, set_id);
"#;

/// Search by number at scale (issue 14's benchmark: a journal of a million sets).
///
/// A number search matches a party whose digits equal the searched ones, or where one ends
/// with the other and the shorter has at least 7 digits ([`crate::SUFFIX_MIN_DIGITS`]). Either
/// way both share their last 7 digits, so an index on each party's last 7 digits finds the
/// few candidates that the exact rule is then applied to; before, every call was scanned.
/// The same expression in both dialects (`substr` from `length - 6`: the whole string when
/// shorter), which the search must spell identically for the index to serve it.
const V5: &str = r#"
CREATE INDEX calls_caller_tail ON calls (substr(caller_digits, length(caller_digits) - 6));
CREATE INDEX calls_callee_tail ON calls (substr(callee_digits, length(callee_digits) - 6));
"#;

/// The optional second factor of an operator (issue 14, `totp.rs`): one row per operator
/// who has one. `secret` is the RFC 6238 shared secret, base32 without padding, readable
/// to whoever can read the journal (as the rest of it); `last_step` is the time step
/// (seconds since 1970 / 30) of the last code accepted, NULL before the first, so that a
/// code is good once.
const V6: &str = r#"
CREATE TABLE operator_totp (
    operator        TEXT    PRIMARY KEY REFERENCES operators (name),
    secret          TEXT    NOT NULL,
    last_step       {INT},
    enrolled_at     {INT} NOT NULL,
    enrolled_by     TEXT    NOT NULL
);
"#;

/// RFC 3161 time-stamp tokens (issue 15, `timestamps.rs`): one row per set the uploader
/// asked a token for. `stored_at` NULL: the set is untimestamped (`--flag untimestamped`);
/// `gen_time` is the TSA's time as the token writes it (`YYYYMMDDhhmmss[.f]Z`), `tsa` the
/// signer's common name, `last_error` why the last query failed. No reference to
/// `recordings`: deletion receipts are time-stamped too. `IF NOT EXISTS`: harmless, and it
/// lets tests that step the version back below an earlier migration run this one again.
const V7: &str = r#"
CREATE TABLE IF NOT EXISTS timestamps (
    set_id          TEXT    PRIMARY KEY,
    pending_since   {INT} NOT NULL,
    stored_at       {INT},
    gen_time        TEXT,
    tsa             TEXT,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS timestamps_missing ON timestamps (set_id) WHERE stored_at IS NULL;
"#;

/// Search by any part of a number (issue 14): `call_number_parts` holds, for every call,
/// the distinct [`crate::number_parts`] of its caller's and callee's digits — from each
/// position that leaves at least 3 digits, the next 16 — written with the call. A search
/// for 3 or more digits is then one range scan of its primary key (`part >= q AND part <
/// q || ':'`, since ':' follows '9'), which yields exactly the calls whose digits contain
/// `q` (`q` longer than 16: its first 16, the rest confirmed on the call). Plain B-tree
/// text comparison on both backends (PostgreSQL's column is `COLLATE "C"`, so that the
/// database's locale cannot reorder digits and ':'), nothing that needs a superuser such
/// as pg_trgm. Calls written before this migration are filled in by it.
const V8: &str = r#"
CREATE TABLE call_number_parts (
    part            TEXT {POSTGRES}COLLATE "C"{END} NOT NULL,
    call_id         {INT} NOT NULL REFERENCES calls (id),
    PRIMARY KEY (part, call_id)
){SQLITE} WITHOUT ROWID{END};
WITH RECURSIVE parties (id, d) AS (
    SELECT id, caller_digits FROM calls UNION SELECT id, callee_digits FROM calls
), pos (n) AS (
    SELECT 1 UNION ALL SELECT n + 1 FROM pos WHERE n < (SELECT max(length(d)) FROM parties)
)
INSERT INTO call_number_parts (part, call_id)
    SELECT DISTINCT substr(d, n, 16), id FROM parties JOIN pos ON n <= length(d) - 2;
"#;

/// The decision log (issue 15, item 3; `decision_log.rs`): one row per call not recorded
/// (`kind` `declined`) or that failed to record (`failed`), written when it happens;
/// `entry` is the published line ([`cr_types::decision_log::DecisionLogEntry`], JSON, its
/// `entry` number being `id`). `sealed_in` names the `decision-log` set that holds it, set
/// in the transaction that commits that set's chain link, so an entry is sealed exactly
/// once; NULL until then. `recordings.kind` also takes `decision-log` (SQLite cannot change
/// a CHECK: the table is rebuilt as schema 4 did, its rows and references kept).
const V9: &str = r#"
{SQLITE}
PRAGMA defer_foreign_keys = ON;
CREATE TABLE recordings_before_v9 AS SELECT * FROM recordings;
DROP TABLE recordings;
CREATE TABLE recordings (
    set_id          TEXT    PRIMARY KEY,
    call_id         {INT} REFERENCES calls (id),
    configuration   TEXT    NOT NULL,
    started_at      {INT} NOT NULL,
    ended_at        {INT} NOT NULL,
    channels        TEXT    NOT NULL,
    cert_fingerprint TEXT   NOT NULL,
    flags           TEXT    NOT NULL DEFAULT '[]',
    chain_seq       {INT} NOT NULL UNIQUE REFERENCES chain (seq),
    location        TEXT,
    sealed_at       {INT} NOT NULL,
    deleted_at      {INT},
    expires_at      {INT},
    kind            TEXT    NOT NULL DEFAULT 'set' CHECK (kind IN ('set', 'deletion-receipt', 'audit-checkpoint', 'decision-log')),
    deletion_receipt TEXT
);
INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, cert_fingerprint,
                        flags, chain_seq, location, sealed_at, deleted_at, expires_at, kind, deletion_receipt)
    SELECT set_id, call_id, configuration, started_at, ended_at, channels, cert_fingerprint,
           flags, chain_seq, location, sealed_at, deleted_at, expires_at, kind, deletion_receipt FROM recordings_before_v9;
DROP TABLE recordings_before_v9;
CREATE INDEX recordings_started_at ON recordings (started_at);
CREATE INDEX recordings_call_id ON recordings (call_id);
CREATE INDEX recordings_expires_at ON recordings (expires_at);
{END}
{POSTGRES}
ALTER TABLE recordings DROP CONSTRAINT recordings_kind_check;
ALTER TABLE recordings ADD CONSTRAINT recordings_kind_check
    CHECK (kind IN ('set', 'deletion-receipt', 'audit-checkpoint', 'decision-log'));
{END}
CREATE TABLE decision_log (
    id              {SERIAL},
    at              {INT}   NOT NULL,
    node            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    entry           TEXT    NOT NULL,
    sealed_in       TEXT
);
CREATE INDEX decision_log_unsealed ON decision_log (id) WHERE sealed_in IS NULL;
"#;

/// Quality at sealing (issue 15; `quality.rs`): one row per sealed set measured, with the
/// reasons it is flagged `quality` (a JSON list, `[]` when it is not), and one per leg with
/// the counts its figures are derived from (the percentages are computed on reading, as
/// in the set metadata). Written in the transaction that commits the set's chain link,
/// before its `recordings` row: the references are checked at commit.
const V10: &str = r#"
CREATE TABLE quality_sets (
    set_id          TEXT    PRIMARY KEY REFERENCES recordings (set_id) DEFERRABLE INITIALLY DEFERRED,
    reasons         TEXT    NOT NULL DEFAULT '[]',
    one_sided       {BOOL} NOT NULL {BOOL_CHECK:one_sided}
);
CREATE TABLE quality_legs (
    set_id          TEXT    NOT NULL REFERENCES quality_sets (set_id) DEFERRABLE INITIALLY DEFERRED,
    side            TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    packets_expected {INT} NOT NULL,
    packets_received {INT} NOT NULL,
    longest_gap_ms  {INT} NOT NULL,
    samples         {INT} NOT NULL,
    silent_samples  {INT} NOT NULL,
    PRIMARY KEY (set_id, side)
);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand_per_dialect() {
        let t = "id {ROWID}, n {INT}, b {BOOL} NOT NULL {BOOL_CHECK:b}, e {SERIAL} WHERE b = {TRUE} {OTHER}";
        assert_eq!(
            ddl(t, Dialect::Sqlite),
            "id INTEGER PRIMARY KEY, n INTEGER, b INTEGER NOT NULL CHECK (b IN (0, 1)), e INTEGER PRIMARY KEY AUTOINCREMENT WHERE b = 1 {OTHER}"
        );
        assert_eq!(
            ddl(t, Dialect::Postgres),
            "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n BIGINT, b BOOLEAN NOT NULL , e BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY WHERE b = TRUE {OTHER}"
        );
    }

    // Guards against: schema 4 rebuilding `recordings` on SQLite and losing, or unlinking,
    // the rows that refer to it — above all legal holds (hold_sets) and requests.
    #[test]
    fn schema_4_keeps_every_row_that_refers_to_a_recording() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v3.sqlite");
        {
            let c = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            c.execute_batch("PRAGMA foreign_keys = ON; BEGIN;").unwrap_or_else(|e| panic!("{e}"));
            for m in &MIGRATIONS[..3] {
                c.execute_batch(&ddl(m, Dialect::Sqlite)).unwrap_or_else(|e| panic!("{e}"));
            }
            c.execute_batch(
                "INSERT INTO calls (id, pbx_call_id, direction, caller, callee, caller_digits, callee_digits, started_at, record, reason) \
                     VALUES (1, 'p1', 'incoming', '201', '300', '201', '300', 1000, 1, 'r');
                 INSERT INTO chain VALUES (1, 's1', '0000', 'aaaa', 1000);
                 INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, cert_fingerprint, chain_seq, sealed_at, expires_at) \
                     VALUES ('s1', 1, 'desk', 1000, 2000, 'stereo', 'ff', 1, 2000, 99000);
                 INSERT INTO recording_files VALUES ('s1', 's1.wav', 44, 'bb');
                 INSERT INTO uploads (set_id, target, state, queued_at) VALUES ('s1', 'nas', 'pending', 2000);
                 INSERT INTO holds (id, case_name, reason, party_exact, placed_by, placed_at) VALUES (1, 'SEC-7', 'inquiry', 0, 'sup1', 3000);
                 INSERT INTO hold_sets VALUES (1, 's1');
                 INSERT INTO requests (kind, set_id, reason, requested_by, requested_at) VALUES ('delete', 's1', 'private', 'sup1', 3000);
                 PRAGMA user_version = 3;
                 COMMIT;",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let j = crate::Journal::open_sqlite(&path, &crate::OpenOptions::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(j.schema_version().ok(), Some(super::SCHEMA_VERSION));
        assert_eq!(j.hold_of("s1").ok().flatten().as_deref(), Some("SEC-7"), "the hold still covers the set");
        let rec = j.recording("s1").ok().flatten().unwrap_or_else(|| panic!("the set is kept"));
        assert_eq!((rec.files.len(), rec.uploads.len(), rec.expires_at.map(|t| t.timestamp_millis())), (1, 1, Some(99000)));
        drop(j);
        let c = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(-1);
        assert_eq!(count("SELECT count(*) FROM requests WHERE set_id = 's1'"), 1);
        assert_eq!(count("SELECT count(*) FROM pragma_foreign_key_check"), 0, "every reference still resolves");
        assert_eq!(count("SELECT count(*) FROM recordings WHERE kind = 'set' AND deletion_receipt IS NULL"), 1);
        // The rebuilt table still enforces its references.
        c.execute_batch("PRAGMA foreign_keys = ON").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.execute("INSERT INTO hold_sets VALUES (1, 'no-such-set')", []).is_err());
    }

    /// A SQLite journal at `path` with the migrations before `migration` applied (whatever
    /// number it has once other migrations are appended), `rows` inserted, and its version
    /// set so that opening it runs `migration` and every later one.
    fn journal_before(path: &std::path::Path, migration: &str, rows: &str) {
        let before = MIGRATIONS.iter().position(|m| *m == migration).unwrap_or_else(|| panic!("not a migration"));
        let c = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("{e}"));
        c.execute_batch("PRAGMA foreign_keys = ON; BEGIN;").unwrap_or_else(|e| panic!("{e}"));
        for m in &MIGRATIONS[..before] {
            c.execute_batch(&ddl(m, Dialect::Sqlite)).unwrap_or_else(|e| panic!("{e}"));
        }
        c.execute_batch(&format!("{rows}\nPRAGMA user_version = {before}; COMMIT;")).unwrap_or_else(|e| panic!("{e}"));
    }

    // Guards against: schema 6 losing or locking out the operators of an existing journal.
    #[test]
    fn schema_6_adds_second_factors_to_existing_operators() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v5.sqlite");
        let hash = crate::operators::hash_password("correct horse battery").unwrap_or_else(|e| panic!("{e}"));
        journal_before(
            &path,
            V6,
            &format!("INSERT INTO operators (name, role, password_hash, created_at, created_by) VALUES ('root', 'admin', '{hash}', 1000, 'setup');"),
        );
        let j = crate::Journal::open_sqlite(&path, &crate::OpenOptions::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(j.schema_version().ok(), Some(SCHEMA_VERSION));
        let now = chrono::Utc::now();
        assert!(j.authenticate("root", "correct horse battery", now).is_ok(), "the operator signs in as before");
        assert_eq!(j.has_totp("root").ok(), Some(false), "without a second factor until enrolled");
        assert!(j.enroll_totp("root", "root", now).is_ok());
        assert_eq!(j.has_totp("root").ok(), Some(true));
    }

    // Guards against: schema 8 leaving the calls of an existing journal out of the search by
    // any part of a number (its backfill must store what a new call stores).
    #[test]
    fn schema_8_indexes_the_numbers_of_existing_calls() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v6.sqlite");
        let parties = [("4930999888", "300"), ("201", "201"), ("", "12"), ("123456789012345678901", "99999")];
        let rows: String = parties
            .iter()
            .enumerate()
            .map(|(i, (a, b))| {
                format!(
                    "INSERT INTO calls (id, pbx_call_id, direction, caller, callee, caller_digits, callee_digits, started_at, record, reason) \
                     VALUES ({}, 'p{i}', 'incoming', '+{a}', '{b}', '{a}', '{b}', 1000, 1, 'r');\n",
                    i + 1
                )
            })
            .collect();
        journal_before(&path, V8, &rows);
        drop(crate::Journal::open_sqlite(&path, &crate::OpenOptions::new()).unwrap_or_else(|e| panic!("{e}")));
        let c = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut st = c.prepare("SELECT call_id, part FROM call_number_parts ORDER BY call_id, part").unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut want: Vec<(i64, String)> = Vec::new();
        for (i, (a, b)) in parties.iter().enumerate() {
            let id = i64::try_from(i + 1).unwrap_or_else(|e| panic!("{e}"));
            let parts: std::collections::BTreeSet<&str> = crate::number_parts(a).chain(crate::number_parts(b)).collect();
            want.extend(parts.into_iter().map(|p| (id, p.to_owned())));
        }
        assert_eq!(got, want);
    }

    // Guards against: the decision log's migration (schema 9, which rebuilds `recordings`
    // on SQLite) failing on a journal that already holds calls.
    #[test]
    fn schema_9_adds_an_empty_decision_log() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v8.sqlite");
        journal_before(
            &path,
            V9,
            "INSERT INTO calls (id, pbx_call_id, direction, caller, callee, caller_digits, callee_digits, started_at, record, reason) \
             VALUES (1, 'p1', 'incoming', '+4930999888', '300', '4930999888', '300', 1000, 1, 'r');",
        );
        let j = crate::Journal::open_sqlite(&path, &crate::OpenOptions::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(j.schema_version().ok(), Some(SCHEMA_VERSION));
        assert_eq!(j.unsealed_decisions(10).map(|v| v.len()).ok(), Some(0));
    }

    #[test]
    fn dialect_blocks_keep_only_their_backend() {
        let t = "a {SQLITE}s {INT}{END}b {POSTGRES}p {INT}; x{END} c {INT}";
        assert_eq!(ddl(t, Dialect::Sqlite), "a s INTEGERb  c INTEGER");
        assert_eq!(ddl(t, Dialect::Postgres), "a b p BIGINT; x c BIGINT");
    }
}
