//! The PostgreSQL backend (feature `postgres`), for several recorder nodes sharing one
//! journal. The same tables as SQLite (times as BIGINT milliseconds, hashes as hex TEXT,
//! lists as JSON TEXT), schema version in table `callrec_schema`, migrations under an
//! advisory lock. Sealing takes `LOCK TABLE chain IN EXCLUSIVE MODE` for the reservation, so
//! nodes hand out sequence numbers one after the other; readers are not blocked.

use std::sync::{Mutex, MutexGuard};
use std::thread::ThreadId;

use chrono::{DateTime, Utc};
use postgres::types::FromSql;
use postgres::{Client, NoTls, Row};

use crate::OpenOptions;
use crate::error::JournalError;
use crate::model::{
    ActiveCall, AuditEvent, AuditKind, CallId, CallRecord, ChainEntry, ChainLink, Delivery,
    Direction, FileEntry, GENESIS_SHA256, Membership, NewCall, NewRecording, RecordingInfo,
    SearchHit, SearchQuery, Status, TargetBacklog, Upload, UploadError, UploadState,
};
use crate::number::{SUFFIX_MIN_DIGITS, normalize_number};
use crate::sqlite::{check_set_id, check_sha256};
use crate::store::{Reservation, Store, check_new_call, diversions_json};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
/// Key of the advisory lock held while migrating ("callrec" in ASCII).
const MIGRATION_LOCK: i64 = 0x0063_616c_6c72_6563;

const V1: &str = r#"
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

pub(crate) struct PgStore {
    client: Mutex<PgClient>,
    name: String,
    reserver: Mutex<Option<ThreadId>>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

type R<T> = Result<T, JournalError>;

/// The connection; closing it blocks too (`Drop` goes through [`blocking`]).
struct PgClient(Option<Client>);

impl std::ops::Deref for PgClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0
            .as_ref()
            .expect("the client is only taken when PgClient is dropped")
    }
}

impl std::ops::DerefMut for PgClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.0
            .as_mut()
            .expect("the client is only taken when PgClient is dropped")
    }
}

impl Drop for PgClient {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            blocking(|| drop(client));
        }
    }
}

/// Runs `f`, which blocks on the `postgres` client. That client drives a tokio runtime of its
/// own and panics when it blocks on a thread that is inside another runtime ("Cannot start a
/// runtime from within a runtime") — as in an async task of cr-recorder. On a multi-threaded
/// tokio runtime `f` therefore runs through `block_in_place`, which hands the thread's other
/// tasks to another worker while `f` blocks. Outside a runtime (a thread of its own,
/// `spawn_blocking`) `f` just runs. A current-thread runtime cannot let a task block: use the
/// journal from `spawn_blocking` there.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl PgStore {
    pub(crate) fn open(url: &str, opts: &OpenOptions) -> R<Self> {
        blocking(|| {
            let name = redact(url);
            let mut config: postgres::Config =
                url.parse()
                    .map_err(|e: postgres::Error| JournalError::BadUrl {
                        url: name.clone(),
                        reason: e.to_string(),
                    })?;
            if let Some(pw) = &opts.password {
                config.password(pw);
            }
            let mut client = config.connect(NoTls).map_err(|e| JournalError::Open {
                journal: name.clone(),
                source: e.into(),
            })?;
            let timeout_ms = opts.busy_timeout.as_millis().max(1);
            client
                .batch_execute(&format!("SET lock_timeout = {timeout_ms}"))
                .map_err(|e| JournalError::Open {
                    journal: name.clone(),
                    source: e.into(),
                })?;
            let store = PgStore {
                client: Mutex::new(PgClient(Some(client))),
                name,
                reserver: Mutex::new(None),
            };
            store.migrate(opts.create)?;
            Ok(store)
        })
    }

    fn err(&self, op: &'static str) -> impl Fn(postgres::Error) -> JournalError + '_ {
        move |e| {
            if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                JournalError::Busy {
                    journal: self.name.clone(),
                    op,
                }
            } else {
                JournalError::Db {
                    journal: self.name.clone(),
                    op,
                    source: e.into(),
                }
            }
        }
    }

    fn corrupt(&self, what: &'static str, value: String) -> JournalError {
        JournalError::Corrupt {
            journal: self.name.clone(),
            what,
            value,
        }
    }

    fn missing(&self, what: String) -> JournalError {
        JournalError::Missing {
            journal: self.name.clone(),
            what,
        }
    }

    fn lock(&self) -> R<MutexGuard<'_, PgClient>> {
        let me = std::thread::current().id();
        if *self.reserver.lock().unwrap_or_else(|p| p.into_inner()) == Some(me) {
            return Err(JournalError::ReservationOpen {
                journal: self.name.clone(),
            });
        }
        Ok(self.client.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn get<'a, T: FromSql<'a>>(&self, row: &'a Row, idx: usize, op: &'static str) -> R<T> {
        row.try_get(idx).map_err(self.err(op))
    }

    fn time(&self, row: &Row, idx: usize, op: &'static str) -> R<DateTime<Utc>> {
        let v: i64 = self.get(row, idx, op)?;
        DateTime::from_timestamp_millis(v).ok_or_else(|| self.corrupt("time", v.to_string()))
    }

    fn opt_time(&self, row: &Row, idx: usize, op: &'static str) -> R<Option<DateTime<Utc>>> {
        match self.get::<Option<i64>>(row, idx, op)? {
            None => Ok(None),
            Some(v) => DateTime::from_timestamp_millis(v)
                .map(Some)
                .ok_or_else(|| self.corrupt("time", v.to_string())),
        }
    }

    fn u64(&self, row: &Row, idx: usize, op: &'static str) -> R<u64> {
        let v: i64 = self.get(row, idx, op)?;
        u64::try_from(v).map_err(|_| self.corrupt("count", v.to_string()))
    }

    fn u32(&self, row: &Row, idx: usize, op: &'static str) -> R<u32> {
        let v: i64 = self.get(row, idx, op)?;
        u32::try_from(v).map_err(|_| self.corrupt("count", v.to_string()))
    }

    fn direction(&self, row: &Row, idx: usize, op: &'static str) -> R<Direction> {
        let s: String = self.get(row, idx, op)?;
        Direction::parse(&s).ok_or_else(|| self.corrupt("direction", s))
    }

    fn state(&self, row: &Row, idx: usize, op: &'static str) -> R<UploadState> {
        let s: String = self.get(row, idx, op)?;
        UploadState::parse(&s).ok_or_else(|| self.corrupt("upload state", s))
    }

    fn list(&self, row: &Row, idx: usize, op: &'static str) -> R<Vec<String>> {
        let s: String = self.get(row, idx, op)?;
        serde_json::from_str(&s).map_err(|_| self.corrupt("list", s))
    }

    fn call_row(&self, r: &Row) -> R<CallRecord> {
        let op = "read a call";
        Ok(CallRecord {
            id: CallId(self.get(r, 0, op)?),
            pbx_call_id: self.get(r, 1, op)?,
            direction: self.direction(r, 2, op)?,
            caller: self.get(r, 3, op)?,
            callee: self.get(r, 4, op)?,
            diversions: self.list(r, 5, op)?,
            started_at: self.time(r, 6, op)?,
            ended_at: self.opt_time(r, 7, op)?,
            record: self.get(r, 8, op)?,
            configuration: self.get(r, 9, op)?,
            reason: self.get(r, 10, op)?,
        })
    }

    fn upload_row(&self, r: &Row) -> R<Upload> {
        let op = "read an upload";
        Ok(Upload {
            set_id: self.get(r, 0, op)?,
            target: self.get(r, 1, op)?,
            state: self.state(r, 2, op)?,
            attempts: self.u32(r, 3, op)?,
            last_error: self.get(r, 4, op)?,
            last_attempt_at: self.opt_time(r, 5, op)?,
            remote_path: self.get(r, 6, op)?,
            queued_at: self.time(r, 7, op)?,
            done_at: self.opt_time(r, 8, op)?,
        })
    }

    fn chain_row(&self, r: &Row) -> R<ChainEntry> {
        let op = "read the chain";
        Ok(ChainEntry {
            seq: self.u64(r, 0, op)?,
            set_id: self.get(r, 1, op)?,
            prev_sha256: self.get(r, 2, op)?,
            sha256: self.get(r, 3, op)?,
            committed_at: self.time(r, 4, op)?,
        })
    }

    fn migrate(&self, create: bool) -> R<()> {
        let mut client = self.lock()?;
        let mut tx = client
            .transaction()
            .map_err(self.err("start the schema migration"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(self.err("lock the schema migration"))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS callrec_schema (version BIGINT NOT NULL)")
            .map_err(self.err("read the schema version"))?;
        let found: i64 = match tx
            .query_opt("SELECT version FROM callrec_schema", &[])
            .map_err(self.err("read the schema version"))?
        {
            Some(r) => self.get(&r, 0, "read the schema version")?,
            None => {
                if !create {
                    return Err(JournalError::NotFound {
                        path: self.name.clone(),
                    });
                }
                tx.execute("INSERT INTO callrec_schema (version) VALUES (0)", &[])
                    .map_err(self.err("record the schema version"))?;
                0
            }
        };
        if found > SCHEMA_VERSION {
            return Err(JournalError::SchemaTooNew {
                journal: self.name.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        for sql in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
            tx.batch_execute(sql)
                .map_err(self.err("migrate the schema"))?;
        }
        tx.execute("UPDATE callrec_schema SET version = $1", &[&SCHEMA_VERSION])
            .map_err(self.err("record the schema version"))?;
        tx.commit().map_err(self.err("commit the schema migration"))
    }
}

fn to_i64(v: u64, what: &'static str) -> R<i64> {
    i64::try_from(v).map_err(|_| JournalError::Invalid {
        what,
        value: v.to_string(),
        reason: "too large".to_owned(),
    })
}

const CALL_COLUMNS: &str = "id, pbx_call_id, direction, caller, callee, diversions, started_at, \
                            ended_at, record, configuration, reason";
const UPLOAD_COLUMNS: &str =
    "set_id, target, state, attempts, last_error, last_attempt_at, remote_path, queued_at, done_at";
const CHAIN_COLUMNS: &str = "seq, set_id, prev_sha256, sha256, committed_at";

fn insert_audit(
    c: &mut impl postgres::GenericClient,
    kind: &AuditKind,
    at: DateTime<Utc>,
    actor: Option<&str>,
    set_id: Option<&str>,
    details: &serde_json::Value,
) -> Result<i64, postgres::Error> {
    let row = c.query_one(
        "INSERT INTO audit_events (at, kind, actor, set_id, details) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[&ms(at), &kind.as_str(), &actor, &set_id, &details.to_string()],
    )?;
    row.try_get(0)
}

impl Store for PgStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema_version(&self) -> R<i64> {
        blocking(|| {
            let mut c = self.lock()?;
            let r = c
                .query_one("SELECT version FROM callrec_schema", &[])
                .map_err(self.err("read the schema version"))?;
            self.get(&r, 0, "read the schema version")
        })
    }

    fn record_calls(&self, calls: &[NewCall], end_declined: bool) -> R<Vec<CallId>> {
        blocking(|| {
            for call in calls {
                check_new_call(call)?;
            }
            let op = "record a call";
            let mut c = self.lock()?;
            let mut tx = c.transaction().map_err(self.err(op))?;
            let mut ids = Vec::with_capacity(calls.len());
            for call in calls {
                let ended = (end_declined && !call.record).then(|| ms(call.started_at));
                let r = tx
                .query_one(
                    "INSERT INTO calls (pbx_call_id, direction, caller, callee, caller_digits, callee_digits, \
                     diversions, started_at, ended_at, record, configuration, reason) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                    &[
                        &call.pbx_call_id,
                        &call.direction.as_str(),
                        &call.caller,
                        &call.callee,
                        &normalize_number(&call.caller),
                        &normalize_number(&call.callee),
                        &diversions_json(call),
                        &ms(call.started_at),
                        &ended,
                        &call.record,
                        &call.configuration,
                        &call.reason,
                    ],
                )
                .map_err(self.err(op))?;
                ids.push(CallId(self.get(&r, 0, op)?));
            }
            tx.commit().map_err(self.err(op))?;
            Ok(ids)
        })
    }

    fn end_call(&self, id: CallId, at: DateTime<Utc>) -> R<()> {
        blocking(|| {
            let mut c = self.lock()?;
            let n = c
                .execute(
                    "UPDATE calls SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
                    &[&ms(at), &id.0],
                )
                .map_err(self.err("end a call"))?;
            if n == 0 {
                let exists = c
                    .query_opt("SELECT id FROM calls WHERE id = $1", &[&id.0])
                    .map_err(self.err("look up a call"))?;
                if exists.is_none() {
                    return Err(self.missing(format!("call {id}")));
                }
            }
            Ok(())
        })
    }

    fn call(&self, id: CallId) -> R<Option<CallRecord>> {
        blocking(|| {
            let mut c = self.lock()?;
            let r = c
                .query_opt(
                    &format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1"),
                    &[&id.0],
                )
                .map_err(self.err("read a call"))?;
            r.map(|r| self.call_row(&r)).transpose()
        })
    }

    fn open_calls(&self) -> R<Vec<CallRecord>> {
        blocking(|| {
            let mut c = self.lock()?;
            let rows = c
            .query(
                &format!("SELECT {CALL_COLUMNS} FROM calls WHERE ended_at IS NULL AND record ORDER BY started_at, id"),
                &[],
            )
            .map_err(self.err("list open calls"))?;
            rows.iter().map(|r| self.call_row(r)).collect()
        })
    }

    fn reserve_link<'a>(&'a self, set_id: &str, at: DateTime<Utc>) -> R<Box<dyn Reservation + 'a>> {
        blocking(|| {
            check_set_id(set_id)?;
            let mut client = self.lock()?;
            client
                .batch_execute("BEGIN")
                .map_err(self.err("reserve a chain link"))?;
            let mut res = PgReservation {
                store: self,
                client,
                link: ChainLink {
                    seq: 0,
                    prev_sha256: String::new(),
                },
                set_id: set_id.to_owned(),
                at,
                open: true,
            };
            *self.reserver.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::thread::current().id());
            res.client
                .batch_execute("LOCK TABLE chain IN EXCLUSIVE MODE")
                .map_err(self.err("reserve a chain link"))?;
            if let Some(r) = res
                .client
                .query_opt("SELECT seq FROM chain WHERE set_id = $1", &[&set_id])
                .map_err(self.err("reserve a chain link"))?
            {
                let seq: i64 = self.get(&r, 0, "reserve a chain link")?;
                return Err(JournalError::Invalid {
                    what: "set id",
                    value: set_id.to_owned(),
                    reason: format!("this set is already sealed as sequence number {seq}"),
                });
            }
            let head = res
                .client
                .query_opt(
                    "SELECT seq, sha256 FROM chain ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .map_err(self.err("read the chain head"))?;
            res.link = match head {
                Some(r) => ChainLink {
                    seq: self.u64(&r, 0, "read the chain head")? + 1,
                    prev_sha256: self.get(&r, 1, "read the chain head")?,
                },
                None => ChainLink {
                    seq: 1,
                    prev_sha256: GENESIS_SHA256.to_owned(),
                },
            };
            Ok(Box::new(res) as Box<dyn Reservation + 'a>)
        })
    }

    fn chain_head(&self) -> R<Option<ChainEntry>> {
        blocking(|| {
            let mut c = self.lock()?;
            let r = c
                .query_opt(
                    &format!("SELECT {CHAIN_COLUMNS} FROM chain ORDER BY seq DESC LIMIT 1"),
                    &[],
                )
                .map_err(self.err("read the chain head"))?;
            r.map(|r| self.chain_row(&r)).transpose()
        })
    }

    fn chain(&self, from_seq: u64, limit: u32) -> R<Vec<ChainEntry>> {
        blocking(|| {
            let mut c = self.lock()?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {CHAIN_COLUMNS} FROM chain WHERE seq >= $1 ORDER BY seq LIMIT $2"
                    ),
                    &[&to_i64(from_seq, "sequence number")?, &i64::from(limit)],
                )
                .map_err(self.err("read the chain"))?;
            rows.iter().map(|r| self.chain_row(r)).collect()
        })
    }

    fn set_of_pbx_call(&self, pbx_call_id: &str) -> R<Option<String>> {
        blocking(|| {
            let op = "look up a call id";
            let mut c = self.lock()?;
            let row = c
                .query_opt(
                    "SELECT r.set_id FROM recordings r JOIN calls c ON c.id = r.call_id \
                 WHERE c.pbx_call_id = $1 ORDER BY r.set_id LIMIT 1",
                    &[&pbx_call_id],
                )
                .map_err(self.err(op))?;
            row.map(|r| self.get(&r, 0, op)).transpose()
        })
    }

    fn recording(&self, set_id: &str) -> R<Option<RecordingInfo>> {
        blocking(|| {
            let op = "read a recording";
            let mut c = self.lock()?;
            let mut tx = c
                .build_transaction()
                .read_only(true)
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()
                .map_err(self.err(op))?;
            let Some(r) = tx
            .query_opt(
                "SELECT r.set_id, r.call_id, r.configuration, r.started_at, r.ended_at, r.channels, \
                 r.cert_fingerprint, r.flags, r.location, r.sealed_at, r.deleted_at, \
                 c.seq, c.set_id, c.prev_sha256, c.sha256, c.committed_at \
                 FROM recordings r JOIN chain c ON c.seq = r.chain_seq WHERE r.set_id = $1",
                &[&set_id],
            )
            .map_err(self.err(op))?
        else {
            return Ok(None);
        };
            let mut info = RecordingInfo {
                set_id: self.get(&r, 0, op)?,
                call: CallId(self.get(&r, 1, op)?),
                configuration: self.get(&r, 2, op)?,
                started_at: self.time(&r, 3, op)?,
                ended_at: self.time(&r, 4, op)?,
                channels: self.get(&r, 5, op)?,
                cert_fingerprint: self.get(&r, 6, op)?,
                flags: self.list(&r, 7, op)?,
                location: self.get(&r, 8, op)?,
                sealed_at: self.time(&r, 9, op)?,
                deleted_at: self.opt_time(&r, 10, op)?,
                chain: ChainEntry {
                    seq: self.u64(&r, 11, op)?,
                    set_id: self.get(&r, 12, op)?,
                    prev_sha256: self.get(&r, 13, op)?,
                    sha256: self.get(&r, 14, op)?,
                    committed_at: self.time(&r, 15, op)?,
                },
                files: Vec::new(),
                uploads: Vec::new(),
            };
            for r in tx
            .query(
                "SELECT name, size, sha256 FROM recording_files WHERE set_id = $1 ORDER BY name",
                &[&set_id],
            )
            .map_err(self.err(op))?
        {
            info.files.push(FileEntry {
                name: self.get(&r, 0, op)?,
                size: self.u64(&r, 1, op)?,
                sha256: self.get(&r, 2, op)?,
            });
        }
            for r in tx
                .query(
                    &format!(
                        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE set_id = $1 ORDER BY target"
                    ),
                    &[&set_id],
                )
                .map_err(self.err(op))?
            {
                info.uploads.push(self.upload_row(&r)?);
            }
            tx.commit().map_err(self.err(op))?;
            Ok(Some(info))
        })
    }

    fn pending_uploads(&self, target: Option<&str>) -> R<Vec<Upload>> {
        blocking(|| {
            let mut c = self.lock()?;
            let rows = c
            .query(
                &format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE state = 'pending' AND ($1::TEXT IS NULL OR target = $1) \
                     ORDER BY queued_at, set_id, target"
                ),
                &[&target],
            )
            .map_err(self.err("list pending uploads"))?;
            rows.iter().map(|r| self.upload_row(r)).collect()
        })
    }

    fn queue_upload(&self, set_id: &str, target: &str, at: DateTime<Utc>) -> R<()> {
        blocking(|| {
            let op = "queue an upload";
            let mut c = self.lock()?;
            let mut tx = c.transaction().map_err(self.err(op))?;
            if tx
                .query_opt(
                    "SELECT set_id FROM recordings WHERE set_id = $1",
                    &[&set_id],
                )
                .map_err(self.err(op))?
                .is_none()
            {
                return Err(self.missing(format!("recording set {set_id:?}")));
            }
            tx.execute(
            "INSERT INTO uploads (set_id, target, state, queued_at) VALUES ($1, $2, 'pending', $3) \
             ON CONFLICT (set_id, target) DO UPDATE SET state = 'pending' WHERE uploads.state = 'failed'",
            &[&set_id, &target, &ms(at)],
        )
        .map_err(self.err(op))?;
            tx.commit().map_err(self.err(op))
        })
    }

    fn upload_attempt_failed(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
        give_up: bool,
    ) -> R<()> {
        blocking(|| {
            let mut c = self.lock()?;
            let n = c
            .execute(
                "UPDATE uploads SET attempts = attempts + 1, last_error = $3, last_attempt_at = $4, \
                 state = CASE WHEN $5::BOOLEAN THEN 'failed' ELSE state END \
                 WHERE set_id = $1 AND target = $2 AND state != 'done'",
                &[&set_id, &target, &error, &ms(at), &give_up],
            )
            .map_err(self.err("record a failed upload"))?;
            if n == 0 {
                return Err(self.missing(format!(
                    "undelivered upload of set {set_id:?} to target {target:?}"
                )));
            }
            Ok(())
        })
    }

    fn upload_done(
        &self,
        set_id: &str,
        target: &str,
        remote_path: &str,
        at: DateTime<Utc>,
    ) -> R<u64> {
        blocking(|| {
            let op = "record a delivery";
            let mut c = self.lock()?;
            let mut tx = c.transaction().map_err(self.err(op))?;
            let n = tx
            .execute(
                "UPDATE uploads SET state = 'done', attempts = attempts + 1, last_attempt_at = $3, \
                 remote_path = $4, done_at = $3 WHERE set_id = $1 AND target = $2 AND state != 'done'",
                &[&set_id, &target, &ms(at), &remote_path],
            )
            .map_err(self.err(op))?;
            if n == 0 {
                return Err(self.missing(format!(
                    "undelivered upload of set {set_id:?} to target {target:?}"
                )));
            }
            insert_audit(
                &mut tx,
                &AuditKind::SetDelivered,
                at,
                None,
                Some(set_id),
                &serde_json::json!({"target": target, "remote_path": remote_path}),
            )
            .map_err(self.err(op))?;
            let r = tx
                .query_one(
                    "SELECT count(*) FROM uploads WHERE set_id = $1 AND state != 'done'",
                    &[&set_id],
                )
                .map_err(self.err(op))?;
            let remaining = self.u64(&r, 0, op)?;
            tx.commit().map_err(self.err(op))?;
            Ok(remaining)
        })
    }

    fn set_location(&self, set_id: &str, location: &str) -> R<()> {
        blocking(|| {
            let mut c = self.lock()?;
            let n = c
                .execute(
                    "UPDATE recordings SET location = $2 WHERE set_id = $1",
                    &[&set_id, &location],
                )
                .map_err(self.err("update a set's location"))?;
            if n == 0 {
                return Err(self.missing(format!("recording set {set_id:?}")));
            }
            Ok(())
        })
    }

    fn set_deleted(&self, set_id: &str, at: DateTime<Utc>, actor: &str, reason: &str) -> R<()> {
        blocking(|| {
            let op = "record a deletion";
            let mut c = self.lock()?;
            let mut tx = c.transaction().map_err(self.err(op))?;
            let Some(r) = tx
                .query_opt(
                    "SELECT location FROM recordings WHERE set_id = $1 FOR UPDATE",
                    &[&set_id],
                )
                .map_err(self.err(op))?
            else {
                return Err(self.missing(format!("recording set {set_id:?}")));
            };
            let old: Option<String> = self.get(&r, 0, op)?;
            tx.execute(
            "UPDATE recordings SET location = NULL, deleted_at = coalesce(deleted_at, $2) WHERE set_id = $1",
            &[&set_id, &ms(at)],
        )
        .map_err(self.err(op))?;
            insert_audit(
                &mut tx,
                &AuditKind::SetDeleted,
                at,
                Some(actor),
                Some(set_id),
                &serde_json::json!({"reason": reason, "location": old}),
            )
            .map_err(self.err(op))?;
            tx.commit().map_err(self.err(op))
        })
    }

    fn set_membership(
        &self,
        group: &str,
        user: &str,
        active: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> R<Option<bool>> {
        blocking(|| {
            let op = "change a membership";
            let mut c = self.lock()?;
            let mut tx = c.transaction().map_err(self.err(op))?;
            // Serializes concurrent changes of the same membership so `previous` is exact.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1::TEXT || '/' || $2::TEXT))",
                &[&group, &user],
            )
            .map_err(self.err(op))?;
            let previous: Option<bool> = match tx
                .query_opt(
                    "SELECT active FROM memberships WHERE group_id = $1 AND user_id = $2",
                    &[&group, &user],
                )
                .map_err(self.err(op))?
            {
                Some(r) => Some(self.get(&r, 0, op)?),
                None => None,
            };
            tx.execute(
            "INSERT INTO memberships (group_id, user_id, active, changed_at, changed_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (group_id, user_id) DO UPDATE SET active = $3, changed_at = $4, changed_by = $5",
            &[&group, &user, &active, &ms(at), &actor],
        )
        .map_err(self.err(op))?;
            insert_audit(
            &mut tx,
            &AuditKind::MembershipChanged,
            at,
            Some(actor),
            None,
            &serde_json::json!({"group": group, "user": user, "active": active, "previous": previous}),
        )
        .map_err(self.err(op))?;
            tx.commit().map_err(self.err(op))?;
            Ok(previous)
        })
    }

    fn memberships(&self) -> R<Vec<Membership>> {
        blocking(|| {
            let op = "read memberships";
            let mut c = self.lock()?;
            let rows = c
            .query(
                "SELECT group_id, user_id, active, changed_at, changed_by FROM memberships ORDER BY group_id, user_id",
                &[],
            )
            .map_err(self.err(op))?;
            rows.iter()
                .map(|r| {
                    Ok(Membership {
                        group: self.get(r, 0, op)?,
                        user: self.get(r, 1, op)?,
                        active: self.get(r, 2, op)?,
                        changed_at: self.time(r, 3, op)?,
                        changed_by: self.get(r, 4, op)?,
                    })
                })
                .collect()
        })
    }

    fn membership_stamp(&self) -> R<i64> {
        blocking(|| {
            let mut c = self.lock()?;
            let r = c
            .query_one("SELECT coalesce(max(id), 0)::BIGINT FROM audit_events WHERE kind = 'membership_changed'", &[])
            .map_err(self.err("read the membership stamp"))?;
            self.get(&r, 0, "read the membership stamp")
        })
    }

    fn audit(
        &self,
        kind: &AuditKind,
        at: DateTime<Utc>,
        actor: Option<&str>,
        set_id: Option<&str>,
        details: &serde_json::Value,
    ) -> R<i64> {
        blocking(|| {
            let mut c = self.lock()?;
            insert_audit(&mut **c, kind, at, actor, set_id, details)
                .map_err(self.err("write an audit event"))
        })
    }

    fn audit_events(&self, after_id: i64, limit: u32) -> R<Vec<AuditEvent>> {
        blocking(|| {
            let op = "read audit events";
            let mut c = self.lock()?;
            let rows = c
            .query(
                "SELECT id, at, kind, actor, set_id, details FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after_id, &i64::from(limit)],
            )
            .map_err(self.err(op))?;
            rows.iter()
                .map(|r| {
                    let details: String = self.get(r, 5, op)?;
                    Ok(AuditEvent {
                        id: self.get(r, 0, op)?,
                        at: self.time(r, 1, op)?,
                        kind: AuditKind::parse(&self.get::<String>(r, 2, op)?),
                        actor: self.get(r, 3, op)?,
                        set_id: self.get(r, 4, op)?,
                        details: serde_json::from_str(&details)
                            .map_err(|_| self.corrupt("details", details.clone()))?,
                    })
                })
                .collect()
        })
    }

    fn status(&self, now: DateTime<Utc>, error_limit: u32) -> R<Status> {
        blocking(|| {
            let op = "read the status";
            let mut c = self.lock()?;
            let mut tx = c
                .build_transaction()
                .read_only(true)
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()
                .map_err(self.err(op))?;
            let mut active_calls = Vec::new();
            for r in tx
            .query(
                "SELECT id, pbx_call_id, direction, caller, callee, configuration, started_at FROM calls \
                 WHERE ended_at IS NULL AND record ORDER BY started_at, id",
                &[],
            )
            .map_err(self.err(op))?
        {
            let started_at = self.time(&r, 6, op)?;
            active_calls.push(ActiveCall {
                id: CallId(self.get(&r, 0, op)?),
                pbx_call_id: self.get(&r, 1, op)?,
                direction: self.direction(&r, 2, op)?,
                caller: self.get(&r, 3, op)?,
                callee: self.get(&r, 4, op)?,
                configuration: self.get(&r, 5, op)?,
                started_at,
                age_secs: (now - started_at).num_seconds(),
            });
        }
            let mut backlog = Vec::new();
            for r in tx
            .query(
                "SELECT target, count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'failed'), \
                 min(queued_at) FILTER (WHERE state != 'done') FROM uploads GROUP BY target ORDER BY target",
                &[],
            )
            .map_err(self.err(op))?
        {
            let oldest = self.opt_time(&r, 3, op)?;
            backlog.push(TargetBacklog {
                target: self.get(&r, 0, op)?,
                pending: self.u64(&r, 1, op)?,
                failed: self.u64(&r, 2, op)?,
                oldest_queued_at: oldest,
                oldest_age_secs: oldest.map(|t| (now - t).num_seconds()),
            });
        }
            let mut last_errors = Vec::new();
            for r in tx
            .query(
                "SELECT set_id, target, state, attempts, last_error, last_attempt_at FROM uploads \
                 WHERE state != 'done' AND last_error IS NOT NULL \
                 ORDER BY last_attempt_at DESC NULLS LAST, set_id, target LIMIT $1",
                &[&i64::from(error_limit)],
            )
            .map_err(self.err(op))?
        {
            last_errors.push(UploadError {
                set_id: self.get(&r, 0, op)?,
                target: self.get(&r, 1, op)?,
                state: self.state(&r, 2, op)?,
                attempts: self.u32(&r, 3, op)?,
                error: self.get(&r, 4, op)?,
                at: self.opt_time(&r, 5, op)?,
            });
        }
            let r = tx
                .query_one("SELECT count(*) FROM recordings", &[])
                .map_err(self.err(op))?;
            let recordings = self.u64(&r, 0, op)?;
            let chain_head = match tx
                .query_opt(
                    &format!("SELECT {CHAIN_COLUMNS} FROM chain ORDER BY seq DESC LIMIT 1"),
                    &[],
                )
                .map_err(self.err(op))?
            {
                Some(r) => Some(self.chain_row(&r)?),
                None => None,
            };
            tx.commit().map_err(self.err(op))?;
            Ok(Status {
                active_calls,
                backlog,
                last_errors,
                recordings,
                chain_head,
            })
        })
    }

    fn search(&self, q: &SearchQuery) -> R<Vec<SearchHit>> {
        blocking(|| {
            let op = "search recordings";
            let digits = match &q.number {
                None => None,
                Some(n) => {
                    let d = normalize_number(n);
                    if d.is_empty() {
                        return Err(JournalError::Invalid {
                            what: "number",
                            value: n.clone(),
                            reason: "it holds no digits other than leading zeros".to_owned(),
                        });
                    }
                    Some(d)
                }
            };
            let limit: Option<i64> = q.limit.map(i64::from);
            let min = i64::try_from(SUFFIX_MIN_DIGITS).unwrap_or(7);
            let mut c = self.lock()?;
            let mut tx = c
                .build_transaction()
                .read_only(true)
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()
                .map_err(self.err(op))?;
            let rows = tx
            .query(
                "SELECT r.set_id, r.configuration, c.direction, c.caller, c.callee, r.started_at, r.ended_at, \
                 r.channels, r.flags, r.chain_seq, r.location, r.deleted_at \
                 FROM recordings r JOIN calls c ON c.id = r.call_id \
                 WHERE ($1::BIGINT IS NULL OR r.started_at >= $1) AND ($2::BIGINT IS NULL OR r.started_at < $2) \
                 AND ($3::TEXT IS NULL OR c.caller_digits = $3::TEXT OR c.callee_digits = $3::TEXT \
                   OR (NOT $4::BOOLEAN AND ( \
                      (length($3::TEXT) >= $5::BIGINT AND (c.caller_digits LIKE '%' || $3::TEXT \
                                                       OR c.callee_digits LIKE '%' || $3::TEXT)) \
                   OR (length(c.caller_digits) >= $5::BIGINT AND $3::TEXT LIKE '%' || c.caller_digits) \
                   OR (length(c.callee_digits) >= $5::BIGINT AND $3::TEXT LIKE '%' || c.callee_digits)))) \
                 ORDER BY r.started_at, r.set_id LIMIT $6::BIGINT",
                &[&q.from.map(ms), &q.to.map(ms), &digits, &q.exact, &min, &limit],
            )
            .map_err(self.err(op))?;
            let mut hits = Vec::with_capacity(rows.len());
            for r in &rows {
                let started_at = self.time(r, 5, op)?;
                let ended_at = self.time(r, 6, op)?;
                hits.push(SearchHit {
                    set_id: self.get(r, 0, op)?,
                    configuration: self.get(r, 1, op)?,
                    direction: self.direction(r, 2, op)?,
                    caller: self.get(r, 3, op)?,
                    callee: self.get(r, 4, op)?,
                    started_at,
                    ended_at,
                    duration_ms: (ended_at - started_at).num_milliseconds(),
                    channels: self.get(r, 7, op)?,
                    flags: self.list(r, 8, op)?,
                    chain_seq: self.u64(r, 9, op)?,
                    location: self.get(r, 10, op)?,
                    deleted_at: self.opt_time(r, 11, op)?,
                    deliveries: Vec::new(),
                });
            }
            for hit in &mut hits {
                for r in tx
                .query(
                    "SELECT target, state, remote_path, done_at FROM uploads WHERE set_id = $1 ORDER BY target",
                    &[&hit.set_id],
                )
                .map_err(self.err(op))?
            {
                hit.deliveries.push(Delivery {
                    target: self.get(&r, 0, op)?,
                    state: self.state(&r, 1, op)?,
                    remote_path: self.get(&r, 2, op)?,
                    done_at: self.opt_time(&r, 3, op)?,
                });
            }
            }
            tx.commit().map_err(self.err(op))?;
            Ok(hits)
        })
    }
}

struct PgReservation<'a> {
    store: &'a PgStore,
    client: MutexGuard<'a, PgClient>,
    link: ChainLink,
    set_id: String,
    at: DateTime<Utc>,
    open: bool,
}

impl PgReservation<'_> {
    fn insert_link(&mut self, sha256: &str) -> R<ChainEntry> {
        let seq = to_i64(self.link.seq, "sequence number")?;
        self.client
            .execute(
                "INSERT INTO chain (seq, set_id, prev_sha256, sha256, committed_at) VALUES ($1, $2, $3, $4, $5)",
                &[&seq, &self.set_id, &self.link.prev_sha256, &sha256, &ms(self.at)],
            )
            .map_err(self.store.err("commit a chain link"))?;
        Ok(ChainEntry {
            seq: self.link.seq,
            set_id: self.set_id.clone(),
            prev_sha256: self.link.prev_sha256.clone(),
            sha256: sha256.to_owned(),
            committed_at: self.at,
        })
    }

    fn finish(&mut self) -> R<()> {
        self.client
            .batch_execute("COMMIT")
            .map_err(self.store.err("commit a chain link"))?;
        self.open = false;
        Ok(())
    }
}

impl Reservation for PgReservation<'_> {
    fn link(&self) -> &ChainLink {
        &self.link
    }

    fn commit_link(mut self: Box<Self>, checksum_sha256: &str) -> R<ChainEntry> {
        blocking(|| {
            let sha = check_sha256("checksum file SHA-256", checksum_sha256)?;
            let entry = self.insert_link(&sha)?;
            let (at, set_id) = (self.at, self.set_id.clone());
            insert_audit(
            &mut **self.client,
            &AuditKind::SetSealed,
            at,
            None,
            Some(&set_id),
            &serde_json::json!({"seq": entry.seq, "prev_sha256": entry.prev_sha256, "sha256": entry.sha256}),
        )
        .map_err(self.store.err("commit a chain link"))?;
            self.finish()?;
            Ok(entry)
        })
    }

    fn commit(mut self: Box<Self>, checksum_sha256: &str, rec: &NewRecording) -> R<ChainEntry> {
        blocking(|| {
            let sha = check_sha256("checksum file SHA-256", checksum_sha256)?;
            if rec.set_id != self.set_id {
                return Err(JournalError::Invalid {
                    what: "set id",
                    value: rec.set_id.clone(),
                    reason: format!("the chain link was reserved for set {:?}", self.set_id),
                });
            }
            let mut files = Vec::with_capacity(rec.files.len());
            for f in &rec.files {
                files.push((
                    f.name.clone(),
                    to_i64(f.size, "file size")?,
                    check_sha256("file SHA-256", &f.sha256)?,
                ));
            }
            let store = self.store;
            let err = store.err("record a sealed set");
            if self
                .client
                .query_opt("SELECT id FROM calls WHERE id = $1", &[&rec.call.0])
                .map_err(&err)?
                .is_none()
            {
                return Err(store.missing(format!(
                    "call {} (record the call before sealing its set)",
                    rec.call
                )));
            }
            let entry = self.insert_link(&sha)?;
            let flags = serde_json::Value::from(rec.flags.clone()).to_string();
            let at = ms(self.at);
            let seq = to_i64(entry.seq, "sequence number")?;
            self.client
            .execute(
                "INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, \
                 cert_fingerprint, flags, chain_seq, location, sealed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &rec.set_id,
                    &rec.call.0,
                    &rec.configuration,
                    &ms(rec.started_at),
                    &ms(rec.ended_at),
                    &rec.channels,
                    &rec.cert_fingerprint,
                    &flags,
                    &seq,
                    &rec.location,
                    &at,
                ],
            )
            .map_err(&err)?;
            for (name, size, sha) in &files {
                self.client
                .execute(
                    "INSERT INTO recording_files (set_id, name, size, sha256) VALUES ($1, $2, $3, $4)",
                    &[&rec.set_id, name, size, sha],
                )
                .map_err(&err)?;
            }
            for t in &rec.targets {
                self.client
                .execute(
                    "INSERT INTO uploads (set_id, target, state, queued_at) VALUES ($1, $2, 'pending', $3) \
                     ON CONFLICT DO NOTHING",
                    &[&rec.set_id, t, &at],
                )
                .map_err(&err)?;
            }
            let (at_t, set_id) = (self.at, self.set_id.clone());
            insert_audit(
                &mut **self.client,
                &AuditKind::SetSealed,
                at_t,
                None,
                Some(&set_id),
                &crate::store::sealed_details(&entry, rec),
            )
            .map_err(&err)?;
            self.finish()?;
            Ok(entry)
        })
    }
}

impl Drop for PgReservation<'_> {
    fn drop(&mut self) {
        blocking(|| {
            if self.open {
                let _ = self.client.batch_execute("ROLLBACK");
            }
            *self
                .store
                .reserver
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
        })
    }
}
