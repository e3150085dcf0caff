//! The schema version 1 exactly as the code before the single SQL core wrote it (the
//! SQLite and the PostgreSQL DDL, copied from `schema.rs` and `pg.rs` of that commit),
//! and rows as that code wrote them: the fixture of a journal written by the previous
//! code, which the current code must open, read and extend.
#![allow(dead_code)]

/// `schema.rs` V1 before the single SQL core (SQLite).
pub const SQLITE_V1: &str = r#"
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

/// `pg.rs` V1 before the single SQL core (PostgreSQL).
pub const POSTGRES_V1: &str = r#"
CREATE TABLE calls (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pbx_call_id     TEXT    NOT NULL,
    direction       TEXT    NOT NULL CHECK (direction IN ('incoming', 'outgoing', 'internal')),
    caller          TEXT    NOT NULL,
    callee          TEXT    NOT NULL,
    caller_digits   TEXT    NOT NULL,
    callee_digits   TEXT    NOT NULL,
    diversions      TEXT    NOT NULL DEFAULT '[]',
    started_at      BIGINT  NOT NULL,
    ended_at        BIGINT,
    record          BOOLEAN NOT NULL,
    configuration   TEXT,
    reason          TEXT    NOT NULL
);
CREATE INDEX calls_active ON calls (started_at) WHERE ended_at IS NULL AND record;
CREATE INDEX calls_pbx_call_id ON calls (pbx_call_id);
CREATE INDEX calls_caller_digits ON calls (caller_digits);
CREATE INDEX calls_callee_digits ON calls (callee_digits);
CREATE TABLE chain (
    seq             BIGINT  PRIMARY KEY CHECK (seq >= 1),
    set_id          TEXT    NOT NULL UNIQUE,
    prev_sha256     TEXT    NOT NULL,
    sha256          TEXT    NOT NULL,
    committed_at    BIGINT  NOT NULL
);
CREATE TABLE recordings (
    set_id          TEXT    PRIMARY KEY,
    call_id         BIGINT  NOT NULL REFERENCES calls (id),
    configuration   TEXT    NOT NULL,
    started_at      BIGINT  NOT NULL,
    ended_at        BIGINT  NOT NULL,
    channels        TEXT    NOT NULL,
    cert_fingerprint TEXT   NOT NULL,
    flags           TEXT    NOT NULL DEFAULT '[]',
    chain_seq       BIGINT  NOT NULL UNIQUE REFERENCES chain (seq),
    location        TEXT,
    sealed_at       BIGINT  NOT NULL,
    deleted_at      BIGINT
);
CREATE INDEX recordings_started_at ON recordings (started_at);
CREATE INDEX recordings_call_id ON recordings (call_id);
CREATE TABLE recording_files (
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    name            TEXT    NOT NULL,
    size            BIGINT  NOT NULL CHECK (size >= 0),
    sha256          TEXT    NOT NULL,
    PRIMARY KEY (set_id, name)
);
CREATE TABLE uploads (
    set_id          TEXT    NOT NULL REFERENCES recordings (set_id),
    target          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at BIGINT,
    remote_path     TEXT,
    queued_at       BIGINT  NOT NULL,
    done_at         BIGINT,
    PRIMARY KEY (set_id, target)
);
CREATE INDEX uploads_target_state ON uploads (target, state, queued_at);
CREATE TABLE memberships (
    group_id        TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    active          BOOLEAN NOT NULL,
    changed_at      BIGINT  NOT NULL,
    changed_by      TEXT    NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE TABLE audit_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    actor           TEXT,
    set_id          TEXT,
    details         TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
CREATE INDEX audit_events_set_id ON audit_events (set_id);
"#;

/// One sealed, delivered set of a recorded call, a membership change and their audit
/// events, as the previous code stored them; `{TRUE}` is the backend's true (`1` / `TRUE`).
pub const ROWS: &str = r#"
INSERT INTO calls (pbx_call_id, direction, caller, callee, caller_digits, callee_digits, diversions,
    started_at, ended_at, record, configuration, reason)
    VALUES ('old-call', 'incoming', '+49 30 999888', '300', '4930999888', '300', '["301"]',
    1795683600000, 1795683660000, {TRUE}, 'desk', 'group desk');
INSERT INTO chain (seq, set_id, prev_sha256, sha256, committed_at)
    VALUES (1, 'old-set', '0000000000000000000000000000000000000000000000000000000000000000',
    'abababababababababababababababababababababababababababababababab', 1795683660000);
INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, cert_fingerprint,
    flags, chain_seq, location, sealed_at)
    VALUES ('old-set', 1, 'desk', 1795683600000, 1795683660000, 'stereo',
    'efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef', '["recovered"]', 1,
    '/spool/old-set', 1795683660000);
INSERT INTO recording_files (set_id, name, size, sha256)
    VALUES ('old-set', 'old-set.wav', 160044, 'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd');
INSERT INTO uploads (set_id, target, state, attempts, last_attempt_at, remote_path, queued_at, done_at)
    VALUES ('old-set', 'nas', 'done', 1, 1795683670000, 'rec/old-set', 1795683660000, 1795683670000);
INSERT INTO memberships (group_id, user_id, active, changed_at, changed_by)
    VALUES ('trading', 'bob', {TRUE}, 1795683605000, 'crctl:root');
INSERT INTO audit_events (at, kind, actor, set_id, details)
    VALUES (1795683605000, 'membership_changed', 'crctl:root', NULL,
    '{"group":"trading","user":"bob","active":true,"previous":null}');
INSERT INTO audit_events (at, kind, actor, set_id, details)
    VALUES (1795683660000, 'set_sealed', NULL, 'old-set', '{"seq":1}');
"#;

/// Checks that a journal holding [`ROWS`] reads back as the previous code wrote it, and
/// that the next set links to the old head.
pub fn check_and_extend(j: &cr_journal::Journal) {
    use super::{recording, sha, t};
    assert_eq!(j.schema_version().unwrap(), 10, "migrated to the current schema");
    let rec = j.recording("old-set").unwrap().expect("the old set is found");
    assert_eq!(rec.expires_at, None, "a set sealed before retention existed has no expiry");
    assert_eq!((rec.chain.seq, rec.configuration.as_str()), (1, "desk"));
    assert!(rec.is_recovered());
    assert_eq!((rec.started_at, rec.ended_at), (t(0), t(60)));
    assert_eq!(rec.files[0].size, 160_044);
    assert_eq!(rec.uploads[0].remote_path.as_deref(), Some("rec/old-set"));
    let call = j.call(rec.call).unwrap().unwrap();
    assert!(call.record);
    assert_eq!(call.diversions, ["301"]);
    let hits = j
        .search(&cr_journal::SearchQuery {
            number: Some("030 999888".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].duration_ms, 60_000);
    let m = j.memberships().unwrap();
    assert_eq!((m[0].group.as_str(), m[0].active), ("trading", true));
    assert_eq!(j.membership_stamp().unwrap(), 1);
    assert_eq!(j.status(t(100), 5).unwrap().recordings, 1);
    let res = j.reserve_link("new-set", t(120)).unwrap();
    assert_eq!(res.link().seq, 2);
    assert_eq!(res.link().prev_sha256, "ab".repeat(32));
    res.commit(&sha(2), &recording("new-set", rec.call, t(60), t(120), &["nas"]))
        .unwrap();
    assert_eq!(j.audit_events(0, 10).unwrap().len(), 3);
    // The events of schema 1 were linked into the audit chain at the migration, in id
    // order; the first one's hash recomputed with sha256sum from the rule.
    let check = j.verify_audit(|_| {}).unwrap();
    assert_eq!((check.events, check.problems.len()), (3, 0), "{:?}", check.problems);
    let first = format!(
        r#"[1,1795683605000,"membership_changed","crctl:root",null,"{}","{}"]"#,
        r#"{\"group\":\"trading\",\"user\":\"bob\",\"active\":true,\"previous\":null}"#,
        "0".repeat(64)
    );
    let trail = j.audit_trail(&cr_journal::AuditQuery::default()).unwrap();
    assert_eq!(trail[0].sha256.as_deref(), Some(super::trail::sha256sum(&first).as_str()));
    assert_eq!(j.pending_uploads(None).unwrap().len(), 1);
}
