//! The SQLite schema, as numbered migrations. `PRAGMA user_version` holds the number of
//! migrations applied; a migration is never edited once released, only new ones appended.
//!
//! Times are INTEGER milliseconds since 1970-01-01 UTC (read them with
//! `datetime(x / 1000, 'unixepoch')`); SHA-256 values are lower-case hex; lists are JSON
//! arrays.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1];

/// The schema version this program writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
CREATE TABLE calls (
    id              INTEGER PRIMARY KEY,
    pbx_call_id     TEXT    NOT NULL,
    direction       TEXT    NOT NULL CHECK (direction IN ('incoming', 'outgoing', 'internal')),
    caller          TEXT    NOT NULL,
    callee          TEXT    NOT NULL,
    caller_digits   TEXT    NOT NULL,
    callee_digits   TEXT    NOT NULL,
    diversions      TEXT    NOT NULL DEFAULT '[]',
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    record          INTEGER NOT NULL CHECK (record IN (0, 1)),
    configuration   TEXT,
    reason          TEXT    NOT NULL
);
CREATE INDEX calls_active ON calls (started_at) WHERE ended_at IS NULL AND record = 1;
CREATE INDEX calls_pbx_call_id ON calls (pbx_call_id);
CREATE INDEX calls_caller_digits ON calls (caller_digits);
CREATE INDEX calls_callee_digits ON calls (callee_digits);

CREATE TABLE chain (
    seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
    set_id          TEXT    NOT NULL UNIQUE,
    prev_sha256     TEXT    NOT NULL,
    sha256          TEXT    NOT NULL,
    committed_at    INTEGER NOT NULL
);

CREATE TABLE recordings (
    set_id          TEXT    PRIMARY KEY,
    call_id         INTEGER NOT NULL REFERENCES calls (id),
    configuration   TEXT    NOT NULL,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER NOT NULL,
    channels        TEXT    NOT NULL,
    cert_fingerprint TEXT   NOT NULL,
    flags           TEXT    NOT NULL DEFAULT '[]',
    chain_seq       INTEGER NOT NULL UNIQUE REFERENCES chain (seq),
    location        TEXT,
    sealed_at       INTEGER NOT NULL,
    deleted_at      INTEGER
);
CREATE INDEX recordings_started_at ON recordings (started_at);
CREATE INDEX recordings_call_id ON recordings (call_id);

CREATE TABLE recording_files (
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    name            TEXT    NOT NULL,
    size            INTEGER NOT NULL CHECK (size >= 0),
    sha256          TEXT    NOT NULL,
    PRIMARY KEY (set_id, name)
);

CREATE TABLE uploads (
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    target          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at INTEGER,
    remote_path     TEXT,
    queued_at       INTEGER NOT NULL,
    done_at         INTEGER,
    PRIMARY KEY (set_id, target)
);
CREATE INDEX uploads_target_state ON uploads (target, state, queued_at);

CREATE TABLE memberships (
    group_id        TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    active          INTEGER NOT NULL CHECK (active IN (0, 1)),
    changed_at      INTEGER NOT NULL,
    changed_by      TEXT    NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    actor           TEXT,
    set_id          TEXT,
    details         TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
CREATE INDEX audit_events_set_id ON audit_events (set_id);
"#;
