//! The PostgreSQL backend (feature `postgres`), for several recorder nodes sharing one
//! journal. The same tables as SQLite (times as BIGINT milliseconds, hashes as hex TEXT,
//! lists as JSON TEXT), schema version in table `callrec_schema`, migrations under an
//! advisory lock. Sealing takes `LOCK TABLE chain IN EXCLUSIVE MODE` for the reservation, so
//! nodes hand out sequence numbers one after the other; readers are not blocked. Only
//! connecting, the schema version, the kinds of transaction, the statement translation and
//! the error mapping are here; the operations are written once over [`Conn`].

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

use crate::OpenOptions;
use crate::db::{Cell, Conn, DbError, Dialect, Row, TxKind, Value, translate};
use crate::error::JournalError;
use crate::store::SqlStore;

/// Key of the advisory lock held while migrating ("callrec" in ASCII).
const MIGRATION_LOCK: i64 = 0x0063_616c_6c72_6563;

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

/// Connects to and migrates a PostgreSQL journal.
pub(crate) fn open(url: &str, opts: &OpenOptions) -> Result<SqlStore, JournalError> {
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
    let open_err = |e: postgres::Error| JournalError::Open {
        journal: name.clone(),
        source: e.into(),
    };
    let timeout_ms = opts.busy_timeout.as_millis().max(1);
    let client = blocking(|| {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&format!("SET lock_timeout = {timeout_ms}"))?;
        Ok(client)
    })
    .map_err(open_err)?;
    SqlStore::open(Box::new(PgConn(Some(client))), name, opts.create)
}

/// The connection adapter: every call on the client goes through [`PgConn::run`].
struct PgConn(Option<Client>);

impl PgConn {
    /// Runs `f` on the client, off the async threads (see [`blocking`]), and maps its error.
    fn run<T>(&mut self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Result<T, DbError> {
        let client = self
            .0
            .as_mut()
            .ok_or_else(|| DbError::Failed("the connection is closed".into()))?;
        blocking(|| f(client)).map_err(|e| {
            if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                DbError::Busy
            } else {
                DbError::Failed(e.into())
            }
        })
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing the connection blocks too.
        if let Some(client) = self.0.take() {
            blocking(|| drop(client));
        }
    }
}

/// `?N` becomes `$N` cast to the type of the bound value, so that the server knows every
/// parameter's type (also in `?1 IS NULL`).
fn placeholder(n: usize, v: Option<&Value<'_>>) -> String {
    let ty = match v {
        Some(Value::Int(_)) => "BIGINT",
        Some(Value::Bool(_)) => "BOOLEAN",
        Some(Value::Text(_)) | None => "TEXT",
    };
    format!("${n}::{ty}")
}

fn sql<'s>(text: &'s str, params: &[Value<'_>]) -> std::borrow::Cow<'s, str> {
    translate(text, params, "TRUE", " FOR UPDATE", Some(placeholder))
}

fn bind<'v>(params: &'v [Value<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|v| match v {
            Value::Int(i) => i as &(dyn ToSql + Sync),
            Value::Text(s) => s as &(dyn ToSql + Sync),
            Value::Bool(b) => b as &(dyn ToSql + Sync),
        })
        .collect()
}

fn cells(row: &postgres::Row) -> Result<Row, postgres::Error> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let cell = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?.map(|v| Cell::Int(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?.map(|v| Cell::Int(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?.map(Cell::Bool)
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
            row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
        } else {
            Some(Cell::Other(format!("a value of type {ty}")))
        };
        out.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(out))
}

impl Conn for PgConn {
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.run(|c| c.batch_execute(sql))
    }

    fn execute(&mut self, text: &str, params: &[Value<'_>]) -> Result<u64, DbError> {
        let text = sql(text, params);
        self.run(|c| c.execute(text.as_ref(), &bind(params)))
    }

    fn query(&mut self, text: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError> {
        let text = sql(text, params);
        self.run(|c| c.query(text.as_ref(), &bind(params))?.iter().map(cells).collect())
    }

    fn begin(&mut self, kind: TxKind) -> Result<(), DbError> {
        let migrate = format!("BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK})");
        self.batch(match kind {
            TxKind::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            TxKind::Write => "BEGIN",
            TxKind::Chain => "BEGIN; LOCK TABLE chain IN EXCLUSIVE MODE",
            TxKind::Migrate => &migrate,
        })
    }

    fn migration_version(&mut self, create: bool) -> Result<Option<i64>, DbError> {
        self.batch("CREATE TABLE IF NOT EXISTS callrec_schema (version BIGINT NOT NULL)")?;
        let found = self.run(|c| {
            c.query_opt("SELECT version FROM callrec_schema", &[])?
                .map(|r| r.try_get::<_, i64>(0))
                .transpose()
        })?;
        match found {
            Some(v) => Ok(Some(v)),
            None if !create => Ok(None),
            None => {
                self.batch("INSERT INTO callrec_schema (version) VALUES (0)")?;
                Ok(Some(0))
            }
        }
    }

    fn schema_version(&mut self) -> Result<i64, DbError> {
        self.run(|c| c.query_one("SELECT version FROM callrec_schema", &[])?.try_get(0))
    }

    fn set_schema_version(&mut self, version: i64) -> Result<(), DbError> {
        self.run(|c| c.execute("UPDATE callrec_schema SET version = $1", &[&version]))
            .map(drop)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn lock_key(&mut self, key: &str) -> Result<(), DbError> {
        self.run(|c| c.execute("SELECT pg_advisory_xact_lock(hashtext($1::TEXT))", &[&key]))
            .map(drop)
    }
}
