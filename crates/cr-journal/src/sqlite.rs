//! The SQLite backend: one connection per [`Journal`](crate::Journal) handle, WAL mode,
//! a busy timeout, every write that spans several statements in a `BEGIN IMMEDIATE`
//! transaction (so that it takes the write lock up front and waits for it, instead of
//! failing with `SQLITE_BUSY` when it upgrades from reading to writing).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, params,
};

use crate::OpenOptions;
use crate::error::{BoxError, JournalError};
use crate::model::{
    ActiveCall, AuditEvent, AuditKind, CallId, CallRecord, ChainEntry, ChainLink, Delivery,
    Direction, FileEntry, GENESIS_SHA256, Membership, NewCall, NewRecording, RecordingInfo,
    SearchHit, SearchQuery, Status, TargetBacklog, Upload, UploadError, UploadState,
};
use crate::number::{SUFFIX_MIN_DIGITS, normalize_number};
use crate::schema::{MIGRATIONS, SCHEMA_VERSION};
use crate::store::{Reservation, Store, check_new_call, diversions_json};

pub(crate) struct SqliteStore {
    conn: Mutex<Connection>,
    name: String,
    /// The thread that holds an open chain reservation on this handle, if any.
    reserver: Mutex<Option<ThreadId>>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let v: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(v).ok_or(rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

fn opt_time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<i64>>(idx)? {
        None => Ok(None),
        Some(v) => DateTime::from_timestamp_millis(v)
            .map(Some)
            .ok_or(rusqlite::Error::IntegralValueOutOfRange(idx, v)),
    }
}

fn u64_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

fn u32_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<u32> {
    let v: i64 = row.get(idx)?;
    u32::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

fn conversion(idx: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        rusqlite::types::Type::Text,
        format!("stored {what} {value:?} is not valid").into(),
    )
}

fn direction_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Direction> {
    let s: String = row.get(idx)?;
    Direction::parse(&s).ok_or_else(|| conversion(idx, "direction", &s))
}

fn state_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<UploadState> {
    let s: String = row.get(idx)?;
    UploadState::parse(&s).ok_or_else(|| conversion(idx, "upload state", &s))
}

fn list_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|_| conversion(idx, "list", &s))
}

fn to_i64(v: u64, what: &'static str) -> Result<i64, JournalError> {
    i64::try_from(v).map_err(|_| JournalError::Invalid {
        what,
        value: v.to_string(),
        reason: "too large".to_owned(),
    })
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked)
    )
}

/// Checks a SHA-256 hex string and returns it in lower case.
pub(crate) fn check_sha256(what: &'static str, v: &str) -> Result<String, JournalError> {
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(JournalError::Invalid {
            what,
            value: v.to_owned(),
            reason: "a SHA-256 is 64 hexadecimal digits".to_owned(),
        })
    }
}

/// A set id must be usable as a file name on every target.
pub(crate) fn check_set_id(v: &str) -> Result<(), JournalError> {
    if cr_types::set_id::is_valid(v) {
        Ok(())
    } else {
        Err(JournalError::Invalid {
            what: "set id",
            value: v.to_owned(),
            reason: cr_types::set_id::RULE.to_owned(),
        })
    }
}

const CALL_COLUMNS: &str = "id, pbx_call_id, direction, caller, callee, diversions, started_at, \
                            ended_at, record, configuration, reason";

fn call_from_row(row: &Row<'_>) -> rusqlite::Result<CallRecord> {
    Ok(CallRecord {
        id: CallId(row.get(0)?),
        pbx_call_id: row.get(1)?,
        direction: direction_at(row, 2)?,
        caller: row.get(3)?,
        callee: row.get(4)?,
        diversions: list_at(row, 5)?,
        started_at: time_at(row, 6)?,
        ended_at: opt_time_at(row, 7)?,
        record: row.get::<_, i64>(8)? != 0,
        configuration: row.get(9)?,
        reason: row.get(10)?,
    })
}

const UPLOAD_COLUMNS: &str =
    "set_id, target, state, attempts, last_error, last_attempt_at, remote_path, queued_at, done_at";

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        set_id: row.get(0)?,
        target: row.get(1)?,
        state: state_at(row, 2)?,
        attempts: u32_at(row, 3)?,
        last_error: row.get(4)?,
        last_attempt_at: opt_time_at(row, 5)?,
        remote_path: row.get(6)?,
        queued_at: time_at(row, 7)?,
        done_at: opt_time_at(row, 8)?,
    })
}

fn chain_from_row(row: &Row<'_>) -> rusqlite::Result<ChainEntry> {
    Ok(ChainEntry {
        seq: u64_at(row, 0)?,
        set_id: row.get(1)?,
        prev_sha256: row.get(2)?,
        sha256: row.get(3)?,
        committed_at: time_at(row, 4)?,
    })
}

fn insert_audit(
    conn: &Connection,
    kind: &AuditKind,
    at: DateTime<Utc>,
    actor: Option<&str>,
    set_id: Option<&str>,
    details: &serde_json::Value,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO audit_events (at, kind, actor, set_id, details) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![ms(at), kind.as_str(), actor, set_id, details.to_string()],
    )?;
    Ok(conn.last_insert_rowid())
}

impl SqliteStore {
    pub(crate) fn open(path: Option<&Path>, opts: &OpenOptions) -> Result<Self, JournalError> {
        let name = path.map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let open_err = |e: BoxError| JournalError::Open {
            journal: name.clone(),
            source: e,
        };
        let conn = match path {
            Some(p) => {
                if !opts.create && !p.exists() {
                    return Err(JournalError::NotFound { path: name });
                }
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
                    && !dir.is_dir()
                {
                    return Err(open_err(
                        format!("the directory {} does not exist", dir.display()).into(),
                    ));
                }
                let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                if opts.create {
                    flags |= OpenFlags::SQLITE_OPEN_CREATE;
                    // The journal holds phone numbers: create it readable by its owner
                    // only (SQLite gives its -wal and -shm files the same mode).
                    use std::os::unix::fs::OpenOptionsExt;
                    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(p) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(open_err(e.into())),
                    }
                }
                Connection::open_with_flags(p, flags).map_err(|e| open_err(e.into()))?
            }
            None => Connection::open_in_memory().map_err(|e| open_err(e.into()))?,
        };
        conn.busy_timeout(opts.busy_timeout)
            .map_err(|e| open_err(e.into()))?;
        // Switching to WAL needs a moment of exclusive access; a concurrent first open by
        // another process can make it report busy without waiting, so retry.
        let attempts = (opts.busy_timeout.as_millis() / 20).max(1);
        let mut mode = String::new();
        for i in 0..attempts {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
                Ok(m) => {
                    mode = m;
                    break;
                }
                Err(e) if is_busy(&e) && i + 1 < attempts => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) if is_busy(&e) => {
                    return Err(JournalError::Busy {
                        journal: name,
                        op: "switch to WAL mode",
                    });
                }
                Err(e) => return Err(open_err(e.into())),
            }
        }
        if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(
                format!("the database refused WAL mode (it stays in {mode:?})").into(),
            ));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| open_err(e.into()))?;
        let store = SqliteStore {
            conn: Mutex::new(conn),
            name,
            reserver: Mutex::new(None),
        };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        move |e| {
            if is_busy(&e) {
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

    fn missing(&self, what: String) -> JournalError {
        JournalError::Missing {
            journal: self.name.clone(),
            what,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, JournalError> {
        let me = std::thread::current().id();
        if *self.reserver.lock().unwrap_or_else(|p| p.into_inner()) == Some(me) {
            return Err(JournalError::ReservationOpen {
                journal: self.name.clone(),
            });
        }
        // A panic while the lock was held leaves the connection usable: any open
        // transaction was rolled back by its guard.
        Ok(self.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn migrate(&self) -> Result<(), JournalError> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("start the schema migration"))?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err("read the schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(JournalError::SchemaTooNew {
                journal: self.name.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        let done = usize::try_from(found).unwrap_or(0);
        for sql in MIGRATIONS.iter().skip(done) {
            tx.execute_batch(sql)
                .map_err(self.err("migrate the schema"))?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(self.err("record the schema version"))?;
        tx.commit().map_err(self.err("commit the schema migration"))
    }
}

impl Store for SqliteStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema_version(&self) -> Result<i64, JournalError> {
        let conn = self.lock()?;
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err("read the schema version"))
    }

    fn record_calls(&self, calls: &[NewCall], end_declined: bool) -> Result<Vec<CallId>, JournalError> {
        for call in calls {
            check_new_call(call)?;
        }
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("record a call"))?;
        let mut ids = Vec::with_capacity(calls.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO calls (pbx_call_id, direction, caller, callee, caller_digits, callee_digits, \
                     diversions, started_at, ended_at, record, configuration, reason) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(self.err("record a call"))?;
            for call in calls {
                let ended = (end_declined && !call.record).then(|| ms(call.started_at));
                insert
                    .execute(params![
                        call.pbx_call_id,
                        call.direction.as_str(),
                        call.caller,
                        call.callee,
                        normalize_number(&call.caller),
                        normalize_number(&call.callee),
                        diversions_json(call),
                        ms(call.started_at),
                        ended,
                        i64::from(call.record),
                        call.configuration,
                        call.reason
                    ])
                    .map_err(self.err("record a call"))?;
                ids.push(CallId(tx.last_insert_rowid()));
            }
        }
        tx.commit().map_err(self.err("record a call"))?;
        Ok(ids)
    }

    fn end_call(&self, id: CallId, at: DateTime<Utc>) -> Result<(), JournalError> {
        let conn = self.lock()?;
        let n = conn
            .execute(
                "UPDATE calls SET ended_at = ?1 WHERE id = ?2 AND ended_at IS NULL",
                params![ms(at), id.0],
            )
            .map_err(self.err("end a call"))?;
        if n == 0 {
            let exists: Option<i64> = conn
                .query_row("SELECT id FROM calls WHERE id = ?1", [id.0], |r| r.get(0))
                .optional()
                .map_err(self.err("look up a call"))?;
            if exists.is_none() {
                return Err(self.missing(format!("call {id}")));
            }
        }
        Ok(())
    }

    fn call(&self, id: CallId) -> Result<Option<CallRecord>, JournalError> {
        let conn = self.lock()?;
        conn.query_row(
            &format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1"),
            [id.0],
            call_from_row,
        )
        .optional()
        .map_err(self.err("read a call"))
    }

    fn open_calls(&self) -> Result<Vec<CallRecord>, JournalError> {
        let conn = self.lock()?;
        let mut st = conn
            .prepare(&format!(
                "SELECT {CALL_COLUMNS} FROM calls WHERE ended_at IS NULL AND record = 1 ORDER BY started_at, id"
            ))
            .map_err(self.err("list open calls"))?;
        let rows = st
            .query_map([], call_from_row)
            .map_err(self.err("list open calls"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("list open calls"))
    }

    fn reserve_link<'a>(
        &'a self,
        set_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Box<dyn Reservation + 'a>, JournalError> {
        check_set_id(set_id)?;
        let conn = self.lock()?;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(self.err("reserve a chain link"))?;
        // From here the guard below rolls back on every early return.
        let mut res = SqliteReservation {
            store: self,
            conn,
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
        let taken: Option<i64> = res
            .conn
            .query_row("SELECT seq FROM chain WHERE set_id = ?1", [set_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err("reserve a chain link"))?;
        if let Some(seq) = taken {
            return Err(JournalError::Invalid {
                what: "set id",
                value: set_id.to_owned(),
                reason: format!("this set is already sealed as sequence number {seq}"),
            });
        }
        let head: Option<(u64, String)> = res
            .conn
            .query_row(
                "SELECT seq, sha256 FROM chain ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((u64_at(r, 0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err("read the chain head"))?;
        res.link = match head {
            Some((seq, sha)) => ChainLink {
                seq: seq + 1,
                prev_sha256: sha,
            },
            None => ChainLink {
                seq: 1,
                prev_sha256: GENESIS_SHA256.to_owned(),
            },
        };
        Ok(Box::new(res))
    }

    fn chain_head(&self) -> Result<Option<ChainEntry>, JournalError> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT seq, set_id, prev_sha256, sha256, committed_at FROM chain ORDER BY seq DESC LIMIT 1",
            [],
            chain_from_row,
        )
        .optional()
        .map_err(self.err("read the chain head"))
    }

    fn chain(&self, from_seq: u64, limit: u32) -> Result<Vec<ChainEntry>, JournalError> {
        let conn = self.lock()?;
        let mut st = conn
            .prepare(
                "SELECT seq, set_id, prev_sha256, sha256, committed_at FROM chain \
                 WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(self.err("read the chain"))?;
        let rows = st
            .query_map(
                params![to_i64(from_seq, "sequence number")?, i64::from(limit)],
                chain_from_row,
            )
            .map_err(self.err("read the chain"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("read the chain"))
    }

    fn set_of_pbx_call(&self, pbx_call_id: &str) -> Result<Option<String>, JournalError> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT r.set_id FROM recordings r JOIN calls c ON c.id = r.call_id \
             WHERE c.pbx_call_id = ?1 ORDER BY r.set_id LIMIT 1",
            [pbx_call_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(self.err("look up a call id"))
    }

    fn recording(&self, set_id: &str) -> Result<Option<RecordingInfo>, JournalError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(self.err("read a recording"))?;
        let head = tx
            .query_row(
                "SELECT r.set_id, r.call_id, r.configuration, r.started_at, r.ended_at, r.channels, \
                 r.cert_fingerprint, r.flags, r.location, r.sealed_at, r.deleted_at, \
                 c.seq, c.set_id, c.prev_sha256, c.sha256, c.committed_at \
                 FROM recordings r JOIN chain c ON c.seq = r.chain_seq WHERE r.set_id = ?1",
                [set_id],
                |r| {
                    Ok(RecordingInfo {
                        set_id: r.get(0)?,
                        call: CallId(r.get(1)?),
                        configuration: r.get(2)?,
                        started_at: time_at(r, 3)?,
                        ended_at: time_at(r, 4)?,
                        channels: r.get(5)?,
                        cert_fingerprint: r.get(6)?,
                        flags: list_at(r, 7)?,
                        location: r.get(8)?,
                        sealed_at: time_at(r, 9)?,
                        deleted_at: opt_time_at(r, 10)?,
                        chain: ChainEntry {
                            seq: u64_at(r, 11)?,
                            set_id: r.get(12)?,
                            prev_sha256: r.get(13)?,
                            sha256: r.get(14)?,
                            committed_at: time_at(r, 15)?,
                        },
                        files: Vec::new(),
                        uploads: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(self.err("read a recording"))?;
        let Some(mut info) = head else {
            return Ok(None);
        };
        {
            let mut st = tx
                .prepare("SELECT name, size, sha256 FROM recording_files WHERE set_id = ?1 ORDER BY name")
                .map_err(self.err("read a recording's files"))?;
            let rows = st
                .query_map([set_id], |r| {
                    Ok(FileEntry {
                        name: r.get(0)?,
                        size: u64_at(r, 1)?,
                        sha256: r.get(2)?,
                    })
                })
                .map_err(self.err("read a recording's files"))?;
            info.files = rows
                .collect::<Result<_, _>>()
                .map_err(self.err("read a recording's files"))?;
            let mut st = tx
                .prepare(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE set_id = ?1 ORDER BY target"
                ))
                .map_err(self.err("read a recording's uploads"))?;
            let rows = st
                .query_map([set_id], upload_from_row)
                .map_err(self.err("read a recording's uploads"))?;
            info.uploads = rows
                .collect::<Result<_, _>>()
                .map_err(self.err("read a recording's uploads"))?;
        }
        tx.commit().map_err(self.err("read a recording"))?;
        Ok(Some(info))
    }

    fn pending_uploads(&self, target: Option<&str>) -> Result<Vec<Upload>, JournalError> {
        let conn = self.lock()?;
        let mut st = conn
            .prepare(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE state = 'pending' AND (?1 IS NULL OR target = ?1) \
                 ORDER BY queued_at, set_id, target"
            ))
            .map_err(self.err("list pending uploads"))?;
        let rows = st
            .query_map([target], upload_from_row)
            .map_err(self.err("list pending uploads"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("list pending uploads"))
    }

    fn queue_upload(
        &self,
        set_id: &str,
        target: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("queue an upload"))?;
        let exists: Option<String> = tx
            .query_row(
                "SELECT set_id FROM recordings WHERE set_id = ?1",
                [set_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("queue an upload"))?;
        if exists.is_none() {
            return Err(self.missing(format!("recording set {set_id:?}")));
        }
        tx.execute(
            "INSERT INTO uploads (set_id, target, state, queued_at) VALUES (?1, ?2, 'pending', ?3) \
             ON CONFLICT (set_id, target) DO UPDATE SET state = 'pending' WHERE state = 'failed'",
            params![set_id, target, ms(at)],
        )
        .map_err(self.err("queue an upload"))?;
        tx.commit().map_err(self.err("queue an upload"))
    }

    fn upload_attempt_failed(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<(), JournalError> {
        let conn = self.lock()?;
        let n = conn
            .execute(
                "UPDATE uploads SET attempts = attempts + 1, last_error = ?3, last_attempt_at = ?4, \
                 state = CASE WHEN ?5 THEN 'failed' ELSE state END \
                 WHERE set_id = ?1 AND target = ?2 AND state != 'done'",
                params![set_id, target, error, ms(at), give_up],
            )
            .map_err(self.err("record a failed upload"))?;
        if n == 0 {
            return Err(self.missing(format!(
                "undelivered upload of set {set_id:?} to target {target:?}"
            )));
        }
        Ok(())
    }

    fn upload_done(
        &self,
        set_id: &str,
        target: &str,
        remote_path: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, JournalError> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("record a delivery"))?;
        let n = tx
            .execute(
                "UPDATE uploads SET state = 'done', attempts = attempts + 1, last_attempt_at = ?3, \
                 remote_path = ?4, done_at = ?3 WHERE set_id = ?1 AND target = ?2 AND state != 'done'",
                params![set_id, target, ms(at), remote_path],
            )
            .map_err(self.err("record a delivery"))?;
        if n == 0 {
            return Err(self.missing(format!(
                "undelivered upload of set {set_id:?} to target {target:?}"
            )));
        }
        insert_audit(
            &tx,
            &AuditKind::SetDelivered,
            at,
            None,
            Some(set_id),
            &serde_json::json!({"target": target, "remote_path": remote_path}),
        )
        .map_err(self.err("record a delivery"))?;
        let remaining: i64 = tx
            .query_row(
                "SELECT count(*) FROM uploads WHERE set_id = ?1 AND state != 'done'",
                [set_id],
                |r| r.get(0),
            )
            .map_err(self.err("record a delivery"))?;
        tx.commit().map_err(self.err("record a delivery"))?;
        Ok(u64::try_from(remaining).unwrap_or(0))
    }

    fn set_location(&self, set_id: &str, location: &str) -> Result<(), JournalError> {
        let conn = self.lock()?;
        let n = conn
            .execute(
                "UPDATE recordings SET location = ?2 WHERE set_id = ?1",
                params![set_id, location],
            )
            .map_err(self.err("update a set's location"))?;
        if n == 0 {
            return Err(self.missing(format!("recording set {set_id:?}")));
        }
        Ok(())
    }

    fn set_deleted(
        &self,
        set_id: &str,
        at: DateTime<Utc>,
        actor: &str,
        reason: &str,
    ) -> Result<(), JournalError> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("record a deletion"))?;
        let old: Option<Option<String>> = tx
            .query_row(
                "SELECT location FROM recordings WHERE set_id = ?1",
                [set_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("record a deletion"))?;
        let Some(old) = old else {
            return Err(self.missing(format!("recording set {set_id:?}")));
        };
        tx.execute(
            "UPDATE recordings SET location = NULL, deleted_at = coalesce(deleted_at, ?2) WHERE set_id = ?1",
            params![set_id, ms(at)],
        )
        .map_err(self.err("record a deletion"))?;
        insert_audit(
            &tx,
            &AuditKind::SetDeleted,
            at,
            Some(actor),
            Some(set_id),
            &serde_json::json!({"reason": reason, "location": old}),
        )
        .map_err(self.err("record a deletion"))?;
        tx.commit().map_err(self.err("record a deletion"))
    }

    fn set_membership(
        &self,
        group: &str,
        user: &str,
        active: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<bool>, JournalError> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("change a membership"))?;
        let previous: Option<bool> = tx
            .query_row(
                "SELECT active FROM memberships WHERE group_id = ?1 AND user_id = ?2",
                [group, user],
                |r| Ok(r.get::<_, i64>(0)? != 0),
            )
            .optional()
            .map_err(self.err("change a membership"))?;
        tx.execute(
            "INSERT INTO memberships (group_id, user_id, active, changed_at, changed_by) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (group_id, user_id) DO UPDATE SET active = ?3, changed_at = ?4, changed_by = ?5",
            params![group, user, active, ms(at), actor],
        )
        .map_err(self.err("change a membership"))?;
        insert_audit(
            &tx,
            &AuditKind::MembershipChanged,
            at,
            Some(actor),
            None,
            &serde_json::json!({"group": group, "user": user, "active": active, "previous": previous}),
        )
        .map_err(self.err("change a membership"))?;
        tx.commit().map_err(self.err("change a membership"))?;
        Ok(previous)
    }

    fn memberships(&self) -> Result<Vec<Membership>, JournalError> {
        let conn = self.lock()?;
        let mut st = conn
            .prepare(
                "SELECT group_id, user_id, active, changed_at, changed_by FROM memberships ORDER BY group_id, user_id",
            )
            .map_err(self.err("read memberships"))?;
        let rows = st
            .query_map([], |r| {
                Ok(Membership {
                    group: r.get(0)?,
                    user: r.get(1)?,
                    active: r.get::<_, i64>(2)? != 0,
                    changed_at: time_at(r, 3)?,
                    changed_by: r.get(4)?,
                })
            })
            .map_err(self.err("read memberships"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("read memberships"))
    }

    fn membership_stamp(&self) -> Result<i64, JournalError> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT coalesce(max(id), 0) FROM audit_events WHERE kind = 'membership_changed'",
            [],
            |r| r.get(0),
        )
        .map_err(self.err("read the membership stamp"))
    }

    fn audit(
        &self,
        kind: &AuditKind,
        at: DateTime<Utc>,
        actor: Option<&str>,
        set_id: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<i64, JournalError> {
        let conn = self.lock()?;
        insert_audit(&conn, kind, at, actor, set_id, details)
            .map_err(self.err("write an audit event"))
    }

    fn audit_events(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>, JournalError> {
        let conn = self.lock()?;
        let mut st = conn
            .prepare(
                "SELECT id, at, kind, actor, set_id, details FROM audit_events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(self.err("read audit events"))?;
        let rows = st
            .query_map(params![after_id, i64::from(limit)], |r| {
                let details: String = r.get(5)?;
                Ok(AuditEvent {
                    id: r.get(0)?,
                    at: time_at(r, 1)?,
                    kind: AuditKind::parse(&r.get::<_, String>(2)?),
                    actor: r.get(3)?,
                    set_id: r.get(4)?,
                    details: serde_json::from_str(&details)
                        .map_err(|_| conversion(5, "details", &details))?,
                })
            })
            .map_err(self.err("read audit events"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("read audit events"))
    }

    fn status(&self, now: DateTime<Utc>, error_limit: u32) -> Result<Status, JournalError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(self.err("read the status"))?;
        let active_calls = {
            let mut st = tx
                .prepare(
                    "SELECT id, pbx_call_id, direction, caller, callee, configuration, started_at FROM calls \
                     WHERE ended_at IS NULL AND record = 1 ORDER BY started_at, id",
                )
                .map_err(self.err("list active calls"))?;
            let rows = st
                .query_map([], |r| {
                    let started_at = time_at(r, 6)?;
                    Ok(ActiveCall {
                        id: CallId(r.get(0)?),
                        pbx_call_id: r.get(1)?,
                        direction: direction_at(r, 2)?,
                        caller: r.get(3)?,
                        callee: r.get(4)?,
                        configuration: r.get(5)?,
                        started_at,
                        age_secs: (now - started_at).num_seconds(),
                    })
                })
                .map_err(self.err("list active calls"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(self.err("list active calls"))?
        };
        let backlog = {
            let mut st = tx
                .prepare(
                    "SELECT target, \
                     coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'failed'), 0), \
                     min(CASE WHEN state != 'done' THEN queued_at END) \
                     FROM uploads GROUP BY target ORDER BY target",
                )
                .map_err(self.err("count the backlog"))?;
            let rows = st
                .query_map([], |r| {
                    let oldest = opt_time_at(r, 3)?;
                    Ok(TargetBacklog {
                        target: r.get(0)?,
                        pending: u64_at(r, 1)?,
                        failed: u64_at(r, 2)?,
                        oldest_queued_at: oldest,
                        oldest_age_secs: oldest.map(|t| (now - t).num_seconds()),
                    })
                })
                .map_err(self.err("count the backlog"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(self.err("count the backlog"))?
        };
        let last_errors = {
            let mut st = tx
                .prepare(
                    "SELECT set_id, target, state, attempts, last_error, last_attempt_at FROM uploads \
                     WHERE state != 'done' AND last_error IS NOT NULL \
                     ORDER BY last_attempt_at DESC, set_id, target LIMIT ?1",
                )
                .map_err(self.err("list the last errors"))?;
            let rows = st
                .query_map([i64::from(error_limit)], |r| {
                    Ok(UploadError {
                        set_id: r.get(0)?,
                        target: r.get(1)?,
                        state: state_at(r, 2)?,
                        attempts: u32_at(r, 3)?,
                        error: r.get(4)?,
                        at: opt_time_at(r, 5)?,
                    })
                })
                .map_err(self.err("list the last errors"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(self.err("list the last errors"))?
        };
        let recordings = tx
            .query_row("SELECT count(*) FROM recordings", [], |r| u64_at(r, 0))
            .map_err(self.err("count recordings"))?;
        let chain_head = tx
            .query_row(
                "SELECT seq, set_id, prev_sha256, sha256, committed_at FROM chain ORDER BY seq DESC LIMIT 1",
                [],
                chain_from_row,
            )
            .optional()
            .map_err(self.err("read the chain head"))?;
        tx.commit().map_err(self.err("read the status"))?;
        Ok(Status {
            active_calls,
            backlog,
            last_errors,
            recordings,
            chain_head,
        })
    }

    fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, JournalError> {
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
        let limit = q.limit.map_or(-1, i64::from);
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(self.err("search recordings"))?;
        let mut hits = {
            let mut st = tx
                .prepare(
                    "SELECT r.set_id, r.configuration, c.direction, c.caller, c.callee, r.started_at, r.ended_at, \
                     r.channels, r.flags, r.chain_seq, r.location, r.deleted_at \
                     FROM recordings r JOIN calls c ON c.id = r.call_id \
                     WHERE (?1 IS NULL OR r.started_at >= ?1) AND (?2 IS NULL OR r.started_at < ?2) \
                     AND (?3 IS NULL OR c.caller_digits = ?3 OR c.callee_digits = ?3 OR (?4 = 0 AND ( \
                          (length(?3) >= ?5 AND (c.caller_digits LIKE '%' || ?3 OR c.callee_digits LIKE '%' || ?3)) \
                       OR (length(c.caller_digits) >= ?5 AND ?3 LIKE '%' || c.caller_digits) \
                       OR (length(c.callee_digits) >= ?5 AND ?3 LIKE '%' || c.callee_digits)))) \
                     ORDER BY r.started_at, r.set_id LIMIT ?6",
                )
                .map_err(self.err("search recordings"))?;
            let rows = st
                .query_map(
                    params![
                        q.from.map(ms),
                        q.to.map(ms),
                        digits,
                        q.exact,
                        i64::try_from(SUFFIX_MIN_DIGITS).unwrap_or(7),
                        limit
                    ],
                    |r| {
                        let started_at = time_at(r, 5)?;
                        let ended_at = time_at(r, 6)?;
                        Ok(SearchHit {
                            set_id: r.get(0)?,
                            configuration: r.get(1)?,
                            direction: direction_at(r, 2)?,
                            caller: r.get(3)?,
                            callee: r.get(4)?,
                            started_at,
                            ended_at,
                            duration_ms: (ended_at - started_at).num_milliseconds(),
                            channels: r.get(7)?,
                            flags: list_at(r, 8)?,
                            chain_seq: u64_at(r, 9)?,
                            location: r.get(10)?,
                            deleted_at: opt_time_at(r, 11)?,
                            deliveries: Vec::new(),
                        })
                    },
                )
                .map_err(self.err("search recordings"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(self.err("search recordings"))?
        };
        {
            let mut st = tx
                .prepare("SELECT target, state, remote_path, done_at FROM uploads WHERE set_id = ?1 ORDER BY target")
                .map_err(self.err("read deliveries"))?;
            for hit in &mut hits {
                let rows = st
                    .query_map([&hit.set_id], |r| {
                        Ok(Delivery {
                            target: r.get(0)?,
                            state: state_at(r, 1)?,
                            remote_path: r.get(2)?,
                            done_at: opt_time_at(r, 3)?,
                        })
                    })
                    .map_err(self.err("read deliveries"))?;
                hit.deliveries = rows
                    .collect::<Result<_, _>>()
                    .map_err(self.err("read deliveries"))?;
            }
        }
        tx.commit().map_err(self.err("search recordings"))?;
        Ok(hits)
    }
}

/// An open `BEGIN IMMEDIATE` transaction holding the next chain link.
struct SqliteReservation<'a> {
    store: &'a SqliteStore,
    conn: MutexGuard<'a, Connection>,
    link: ChainLink,
    set_id: String,
    at: DateTime<Utc>,
    open: bool,
}

impl SqliteReservation<'_> {
    fn insert_link(&self, sha256: &str) -> Result<ChainEntry, JournalError> {
        let err = self.store.err("commit a chain link");
        self.conn
            .execute(
                "INSERT INTO chain (seq, set_id, prev_sha256, sha256, committed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    to_i64(self.link.seq, "sequence number")?,
                    self.set_id,
                    self.link.prev_sha256,
                    sha256,
                    ms(self.at)
                ],
            )
            .map_err(&err)?;
        Ok(ChainEntry {
            seq: self.link.seq,
            set_id: self.set_id.clone(),
            prev_sha256: self.link.prev_sha256.clone(),
            sha256: sha256.to_owned(),
            committed_at: self.at,
        })
    }

    fn finish(&mut self) -> Result<(), JournalError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(self.store.err("commit a chain link"))?;
        self.open = false;
        Ok(())
    }
}

impl Reservation for SqliteReservation<'_> {
    fn link(&self) -> &ChainLink {
        &self.link
    }

    fn commit_link(mut self: Box<Self>, checksum_sha256: &str) -> Result<ChainEntry, JournalError> {
        let sha = check_sha256("checksum file SHA-256", checksum_sha256)?;
        let entry = self.insert_link(&sha)?;
        insert_audit(
            &self.conn,
            &AuditKind::SetSealed,
            self.at,
            None,
            Some(&self.set_id),
            &serde_json::json!({"seq": entry.seq, "prev_sha256": entry.prev_sha256, "sha256": entry.sha256}),
        )
        .map_err(self.store.err("commit a chain link"))?;
        self.finish()?;
        Ok(entry)
    }

    fn commit(
        mut self: Box<Self>,
        checksum_sha256: &str,
        rec: &NewRecording,
    ) -> Result<ChainEntry, JournalError> {
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
                f.name.as_str(),
                to_i64(f.size, "file size")?,
                check_sha256("file SHA-256", &f.sha256)?,
            ));
        }
        let err = self.store.err("record a sealed set");
        let call: Option<i64> = self
            .conn
            .query_row("SELECT id FROM calls WHERE id = ?1", [rec.call.0], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&err)?;
        if call.is_none() {
            return Err(self.store.missing(format!(
                "call {} (record the call before sealing its set)",
                rec.call
            )));
        }
        let entry = self.insert_link(&sha)?;
        let flags = serde_json::Value::from(rec.flags.clone()).to_string();
        self.conn
            .execute(
                "INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, \
                 cert_fingerprint, flags, chain_seq, location, sealed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    rec.set_id,
                    rec.call.0,
                    rec.configuration,
                    ms(rec.started_at),
                    ms(rec.ended_at),
                    rec.channels,
                    rec.cert_fingerprint,
                    flags,
                    to_i64(entry.seq, "sequence number")?,
                    rec.location,
                    ms(self.at)
                ],
            )
            .map_err(&err)?;
        for (name, size, sha) in &files {
            self.conn
                .execute(
                    "INSERT INTO recording_files (set_id, name, size, sha256) VALUES (?1, ?2, ?3, ?4)",
                    params![rec.set_id, name, size, sha],
                )
                .map_err(&err)?;
        }
        for t in &rec.targets {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO uploads (set_id, target, state, queued_at) VALUES (?1, ?2, 'pending', ?3)",
                    params![rec.set_id, t, ms(self.at)],
                )
                .map_err(&err)?;
        }
        insert_audit(
            &self.conn,
            &AuditKind::SetSealed,
            self.at,
            None,
            Some(&self.set_id),
            &crate::store::sealed_details(&entry, rec),
        )
        .map_err(&err)?;
        self.finish()?;
        Ok(entry)
    }
}

impl Drop for SqliteReservation<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing of the reservation survives: the number is free again.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        *self
            .store
            .reserver
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }
}
