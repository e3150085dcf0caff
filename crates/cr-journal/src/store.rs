//! [`SqlStore`]: one connection of any backend behind a mutex, the transaction guard, the
//! schema migration and the error mapping that every operation shares. The operations
//! themselves are in `ops.rs`, `chain.rs` and `queries.rs`, each written once.
//!
//! To add an operation: a public method of [`Journal`](crate::Journal) in the file of its
//! idea (`ops.rs`, `chain.rs`, `queries.rs`, or a new one), that takes
//! [`SqlStore::conn`] (one statement) or [`SqlStore::begin`] (several, in a transaction),
//! runs its SQL (`?N` placeholders, see [`db`](crate::db)) with [`Session::execute`] /
//! [`Session::query`], reads rows with the [`Row`] getters and commits. It runs on every
//! backend as written; a table it needs is a new migration in [`schema`](crate::schema).

use std::sync::{Mutex, MutexGuard};
use std::thread::ThreadId;

use crate::error::JournalError;
use crate::db::{Bad, Conn, DbError, Row, TxKind, Value};
use crate::model::NewCall;
use crate::schema::{MIGRATIONS, SCHEMA_VERSION, ddl};

/// The journal's storage: one connection, its name for messages, and the thread holding
/// an open chain reservation (so that the same thread gets an error instead of a deadlock).
pub(crate) struct SqlStore {
    conn: Mutex<Box<dyn Conn>>,
    name: String,
    reserver: Mutex<Option<ThreadId>>,
}

/// The connection, locked for one operation; inside [`SqlStore::begin`] a transaction that
/// is rolled back unless committed.
pub(crate) struct Session<'a> {
    conn: MutexGuard<'a, Box<dyn Conn>>,
    name: &'a str,
    in_tx: bool,
}

impl SqlStore {
    /// Wraps a connection and brings its schema up to date.
    pub(crate) fn open(conn: Box<dyn Conn>, name: String, create: bool) -> Result<Self, JournalError> {
        let store = SqlStore {
            conn: Mutex::new(conn),
            name,
            reserver: Mutex::new(None),
        };
        store.migrate(create)?;
        Ok(store)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The connection, for statements that need no transaction.
    pub(crate) fn conn(&self) -> Result<Session<'_>, JournalError> {
        let me = std::thread::current().id();
        if *self.reserver.lock().unwrap_or_else(|p| p.into_inner()) == Some(me) {
            return Err(JournalError::ReservationOpen {
                journal: self.name.clone(),
            });
        }
        // A panic while the lock was held leaves the connection usable: any open
        // transaction was rolled back by the session's guard.
        Ok(Session {
            conn: self.conn.lock().unwrap_or_else(|p| p.into_inner()),
            name: &self.name,
            in_tx: false,
        })
    }

    /// A transaction of `kind`; dropped without [`Session::commit`] it rolls back.
    pub(crate) fn begin(&self, kind: TxKind, op: &'static str) -> Result<Session<'_>, JournalError> {
        let mut s = self.conn()?;
        s.in_tx = true;
        s.conn.begin(kind).map_err(|e| s.err(op, e))?;
        Ok(s)
    }

    /// Marks the current thread as holding a chain reservation until [`Self::release`].
    pub(crate) fn hold(&self) {
        *self.reserver.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::thread::current().id());
    }

    pub(crate) fn release(&self) {
        *self.reserver.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) fn missing(&self, what: String) -> JournalError {
        JournalError::Missing {
            journal: self.name.clone(),
            what,
        }
    }

    fn migrate(&self, create: bool) -> Result<(), JournalError> {
        let mut s = self.begin(TxKind::Migrate, "start the schema migration")?;
        let found = s
            .conn
            .migration_version(create)
            .map_err(|e| s.err("read the schema version", e))?;
        let Some(found) = found else {
            return Err(JournalError::NotFound {
                path: self.name.clone(),
            });
        };
        if found > SCHEMA_VERSION {
            return Err(JournalError::SchemaTooNew {
                journal: self.name.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        let dialect = s.conn.dialect();
        for (i, template) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            s.conn
                .batch(&ddl(template, dialect))
                .map_err(|e| s.err("migrate the schema", e))?;
            // Schema 2 links the audit events written before it into the hash chain.
            if i == 1 {
                crate::audit::backfill(&mut s)?;
            }
        }
        s.conn
            .set_schema_version(SCHEMA_VERSION)
            .map_err(|e| s.err("record the schema version", e))?;
        s.commit("commit the schema migration")
    }

    pub(crate) fn schema_version(&self) -> Result<i64, JournalError> {
        let mut s = self.conn()?;
        s.conn
            .schema_version()
            .map_err(|e| s.err("read the schema version", e))
    }
}

impl Session<'_> {
    pub(crate) fn err(&self, op: &'static str, e: DbError) -> JournalError {
        match e {
            DbError::Busy => JournalError::Busy {
                journal: self.name.to_owned(),
                op,
            },
            DbError::Failed(source) => JournalError::Db {
                journal: self.name.to_owned(),
                op,
                source,
            },
        }
    }

    fn corrupt(&self, b: Bad) -> JournalError {
        JournalError::Corrupt {
            journal: self.name.to_owned(),
            what: b.what,
            value: b.value,
        }
    }

    /// Runs one statement; returns the number of rows changed.
    pub(crate) fn execute(
        &mut self,
        op: &'static str,
        sql: &str,
        params: &[Value<'_>],
    ) -> Result<u64, JournalError> {
        self.conn.execute(sql, params).map_err(|e| self.err(op, e))
    }

    /// Runs a query and reads every row with `read`.
    pub(crate) fn query<T>(
        &mut self,
        op: &'static str,
        sql: &str,
        params: &[Value<'_>],
        read: impl Fn(&Row) -> Result<T, Bad>,
    ) -> Result<Vec<T>, JournalError> {
        let rows = self.conn.query(sql, params).map_err(|e| self.err(op, e))?;
        rows.iter()
            .map(|r| read(r).map_err(|b| self.corrupt(b)))
            .collect()
    }

    /// The first row of a query that returns at most one (a key, `LIMIT 1`), if any.
    pub(crate) fn query_opt<T>(
        &mut self,
        op: &'static str,
        sql: &str,
        params: &[Value<'_>],
        read: impl Fn(&Row) -> Result<T, Bad>,
    ) -> Result<Option<T>, JournalError> {
        Ok(self.query(op, sql, params, read)?.into_iter().next())
    }

    /// The first row of a query that always returns one (an aggregate, `RETURNING`).
    pub(crate) fn query_one<T>(
        &mut self,
        op: &'static str,
        sql: &str,
        params: &[Value<'_>],
        read: impl Fn(&Row) -> Result<T, Bad>,
    ) -> Result<T, JournalError> {
        self.query_opt(op, sql, params, read)?
            .ok_or_else(|| self.err(op, DbError::Failed("the statement returned no row".into())))
    }

    /// See [`Conn::lock_key`].
    pub(crate) fn lock_key(&mut self, op: &'static str, key: &str) -> Result<(), JournalError> {
        self.conn.lock_key(key).map_err(|e| self.err(op, e))
    }

    /// Commits the transaction.
    pub(crate) fn commit(&mut self, op: &'static str) -> Result<(), JournalError> {
        self.conn.batch("COMMIT").map_err(|e| self.err(op, e))?;
        self.in_tx = false;
        Ok(())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.in_tx {
            // Nothing of an unfinished transaction survives.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

/// Converts a count or sequence number for storage.
pub(crate) fn to_i64(v: u64, what: &'static str) -> Result<i64, JournalError> {
    i64::try_from(v).map_err(|_| JournalError::Invalid {
        what,
        value: v.to_string(),
        reason: "too large".to_owned(),
    })
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

/// What is checked of a call before storing it.
pub(crate) fn check_new_call(call: &NewCall) -> Result<(), JournalError> {
    if call.record && call.configuration.is_none() {
        return Err(JournalError::Invalid {
            what: "call decision",
            value: call.pbx_call_id.clone(),
            reason: "a recorded call must name its configuration".to_owned(),
        });
    }
    Ok(())
}
