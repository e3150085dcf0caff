//! The SQLite backend: one connection per [`Journal`](crate::Journal) handle, WAL mode,
//! a busy timeout, every write that spans several statements in a `BEGIN IMMEDIATE`
//! transaction (so that it takes the write lock up front and waits for it, instead of
//! failing with `SQLITE_BUSY` when it upgrades from reading to writing). Only connecting,
//! the schema version (`PRAGMA user_version`), the kinds of transaction and the error
//! mapping are here; the operations are written once over [`Conn`].

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::OpenOptions;
use crate::db::{Cell, Conn, DbError, Dialect, Row, TxKind, Value, translate};
use crate::error::{BoxError, JournalError};
use crate::store::SqlStore;

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked)
    )
}

/// Opens (creating when asked) and migrates an SQLite journal; `None`: in memory.
pub(crate) fn open(path: Option<&Path>, opts: &OpenOptions) -> Result<SqlStore, JournalError> {
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
    conn.set_prepared_statement_cache_capacity(64);
    SqlStore::open(Box::new(SqliteConn(conn)), name, true)
}

/// The connection adapter.
struct SqliteConn(Connection);

fn db_err(e: rusqlite::Error) -> DbError {
    if is_busy(&e) {
        DbError::Busy
    } else {
        DbError::Failed(e.into())
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Value::Int(Some(v)) => ToSqlOutput::from(v),
            Value::Text(Some(s)) => ToSqlOutput::from(s),
            Value::Bool(b) => ToSqlOutput::from(i64::from(b)),
            Value::Int(None) | Value::Text(None) => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

/// The statement for SQLite: placeholders stay, `{TRUE}` is 1, there is no `FOR UPDATE`
/// (a write transaction holds the whole database).
fn sql<'s>(sql: &'s str, params: &[Value<'_>]) -> std::borrow::Cow<'s, str> {
    translate(sql, params, "1", "", None)
}

impl Conn for SqliteConn {
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.0.execute_batch(sql).map_err(db_err)
    }

    fn execute(&mut self, text: &str, params: &[Value<'_>]) -> Result<u64, DbError> {
        let mut st = self.0.prepare_cached(&sql(text, params)).map_err(db_err)?;
        let n = st
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(db_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, text: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError> {
        let mut st = self.0.prepare_cached(&sql(text, params)).map_err(db_err)?;
        let width = st.column_count();
        let mut rows = st
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db_err)? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(match r.get_ref(i).map_err(db_err)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Text(t) => match std::str::from_utf8(t) {
                        Ok(t) => Cell::Text(t.to_owned()),
                        Err(_) => Cell::Other(String::from_utf8_lossy(t).into_owned()),
                    },
                    ValueRef::Real(v) => Cell::Other(v.to_string()),
                    ValueRef::Blob(b) => Cell::Other(format!("a blob of {} bytes", b.len())),
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    fn begin(&mut self, kind: TxKind) -> Result<(), DbError> {
        // Every writing kind takes the write lock up front: the chain and the migration
        // wait for each other through it.
        self.batch(match kind {
            TxKind::Read => "BEGIN",
            TxKind::Write | TxKind::Chain | TxKind::Migrate => "BEGIN IMMEDIATE",
        })
    }

    fn migration_version(&mut self, _create: bool) -> Result<Option<i64>, DbError> {
        // A missing file was refused (or created) when opening.
        self.schema_version().map(Some)
    }

    fn schema_version(&mut self) -> Result<i64, DbError> {
        self.0
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_err)
    }

    fn set_schema_version(&mut self, version: i64) -> Result<(), DbError> {
        self.0
            .pragma_update(None, "user_version", version)
            .map_err(db_err)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn lock_key(&mut self, _key: &str) -> Result<(), DbError> {
        // `BEGIN IMMEDIATE` already excludes every other writer.
        Ok(())
    }
}
