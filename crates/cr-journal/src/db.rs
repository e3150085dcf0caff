//! The small database abstraction every journal operation is written against: a
//! connection ([`Conn`]) that executes statements and returns rows of a few value types,
//! and the one SQL dialect the operations are written in.
//!
//! Statements use SQLite's numbered placeholders (`?1`, `?2`, ...) and two dialect
//! tokens, `{TRUE}` (a stored boolean that is true) and `{FOR UPDATE}` (lock the rows
//! read until the transaction ends). Each backend translates them in one place:
//! SQLite keeps the placeholders and writes `1` and nothing; PostgreSQL writes
//! `$N::TYPE` (the type taken from the bound [`Value`]), `TRUE` and ` FOR UPDATE`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::error::BoxError;
use crate::model::{Direction, UploadState};

/// A value bound to a placeholder. The `Option`s are SQL NULL with a known type (PostgreSQL
/// needs the type of every parameter).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Bool(bool),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref())
    }
}

impl From<DateTime<Utc>> for Value<'_> {
    fn from(t: DateTime<Utc>) -> Self {
        Value::Int(Some(t.timestamp_millis()))
    }
}

impl From<Option<DateTime<Utc>>> for Value<'_> {
    fn from(t: Option<DateTime<Utc>>) -> Self {
        Value::Int(t.map(|t| t.timestamp_millis()))
    }
}

/// The parameter list of a statement: `params![a, b, c]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*] as &[$crate::db::Value<'_>] };
}
pub(crate) use params;

/// One column of a row read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    /// PostgreSQL's BOOLEAN (SQLite stores booleans as integers).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Bool(bool),
    /// A value of another type (a real number, a blob, text that is not UTF-8), which no
    /// getter accepts.
    Other(String),
}

/// A stored value this program cannot read (becomes [`JournalError::Corrupt`](crate::JournalError::Corrupt)).
#[derive(Debug)]
pub(crate) struct Bad {
    pub(crate) what: &'static str,
    pub(crate) value: String,
}

fn bad(what: &'static str, value: impl std::fmt::Debug) -> Bad {
    Bad {
        what,
        value: format!("{value:?}"),
    }
}

/// A row read back, with typed getters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> &Cell {
        self.0.get(i).unwrap_or(&Cell::Null)
    }

    pub(crate) fn opt_i64(&self, i: usize) -> Result<Option<i64>, Bad> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            other => Err(bad("integer", other)),
        }
    }

    pub(crate) fn i64(&self, i: usize) -> Result<i64, Bad> {
        self.opt_i64(i)?.ok_or_else(|| bad("integer", Cell::Null))
    }

    pub(crate) fn u64(&self, i: usize) -> Result<u64, Bad> {
        let v = self.i64(i)?;
        u64::try_from(v).map_err(|_| bad("count", v))
    }

    pub(crate) fn u32(&self, i: usize) -> Result<u32, Bad> {
        let v = self.i64(i)?;
        u32::try_from(v).map_err(|_| bad("count", v))
    }

    /// SQLite stores booleans as 0/1, PostgreSQL as BOOLEAN.
    pub(crate) fn bool(&self, i: usize) -> Result<bool, Bad> {
        match self.cell(i) {
            Cell::Bool(b) => Ok(*b),
            Cell::Int(v) => Ok(*v != 0),
            other => Err(bad("boolean", other)),
        }
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, Bad> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s.clone())),
            other => Err(bad("text", other)),
        }
    }

    pub(crate) fn text(&self, i: usize) -> Result<String, Bad> {
        self.opt_text(i)?.ok_or_else(|| bad("text", Cell::Null))
    }

    /// Times are stored as milliseconds since 1970-01-01 UTC.
    pub(crate) fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, Bad> {
        match self.opt_i64(i)? {
            None => Ok(None),
            Some(v) => DateTime::from_timestamp_millis(v)
                .map(Some)
                .ok_or_else(|| bad("time", v)),
        }
    }

    pub(crate) fn time(&self, i: usize) -> Result<DateTime<Utc>, Bad> {
        self.opt_time(i)?.ok_or_else(|| bad("time", Cell::Null))
    }

    pub(crate) fn direction(&self, i: usize) -> Result<Direction, Bad> {
        let s = self.text(i)?;
        match Direction::parse(&s) {
            Some(d) => Ok(d),
            None => Err(Bad { what: "direction", value: s }),
        }
    }

    pub(crate) fn state(&self, i: usize) -> Result<UploadState, Bad> {
        let s = self.text(i)?;
        match UploadState::parse(&s) {
            Some(u) => Ok(u),
            None => Err(Bad { what: "upload state", value: s }),
        }
    }

    /// Lists are stored as JSON arrays of strings.
    pub(crate) fn list(&self, i: usize) -> Result<Vec<String>, Bad> {
        let s = self.text(i)?;
        serde_json::from_str(&s).map_err(|_| Bad { what: "list", value: s })
    }

    pub(crate) fn json(&self, i: usize) -> Result<serde_json::Value, Bad> {
        let s = self.text(i)?;
        serde_json::from_str(&s).map_err(|_| Bad {
            what: "details",
            value: s,
        })
    }
}

/// What a backend reports when a statement fails.
#[derive(Debug)]
pub(crate) enum DbError {
    /// Another connection held a lock longer than the busy timeout.
    Busy,
    /// Anything else.
    Failed(BoxError),
}

/// The kinds of transaction the operations open; each backend says how it starts one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxKind {
    /// A consistent snapshot for several reads.
    Read,
    /// Several writes that stand or fall together.
    Write,
    /// A write that hands out the next chain link: concurrent ones wait for each other.
    Chain,
    /// The schema migration: concurrent openers wait for each other.
    Migrate,
}

/// The SQL dialects; what differs between them is written in [`schema`](crate::schema)
/// (DDL) and in [`translate`] (statements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// One database connection. Every journal operation is written once against this trait;
/// a backend implements only these methods.
pub(crate) trait Conn: Send {
    /// Runs statements without parameters or results (`COMMIT`, DDL).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// Runs one statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, DbError>;
    /// Runs one statement; returns its rows.
    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError>;
    /// Starts a transaction of the given kind, taking the locks that kind needs. On an
    /// error the caller rolls back.
    fn begin(&mut self, kind: TxKind) -> Result<(), DbError>;
    /// Inside the migration transaction: the schema version, `None` when the database
    /// holds no callrec journal and `create` is false. A new journal starts at 0.
    fn migration_version(&mut self, create: bool) -> Result<Option<i64>, DbError>;
    /// The schema version, outside a transaction.
    fn schema_version(&mut self) -> Result<i64, DbError>;
    /// Inside the migration transaction: records the schema version.
    fn set_schema_version(&mut self, version: i64) -> Result<(), DbError>;
    /// Which SQL dialect the backend speaks (for the schema's type names).
    fn dialect(&self) -> Dialect;
    /// Inside a write transaction: waits for other writers of the same `key` (a
    /// membership). A backend whose write transactions exclude each other does nothing.
    fn lock_key(&mut self, key: &str) -> Result<(), DbError>;
}

/// The SQL of a statement for a backend: placeholders rewritten by `placeholder(n, value)`
/// (`n` counts from 1), `{TRUE}` and `{FOR UPDATE}` replaced. Quoted strings are kept as
/// they are.
pub(crate) fn translate<'s>(
    sql: &'s str,
    params: &[Value<'_>],
    true_lit: &str,
    for_update: &str,
    placeholder: Option<fn(usize, Option<&Value<'_>>) -> String>,
) -> Cow<'s, str> {
    if !sql.contains('{') && (placeholder.is_none() || !sql.contains('?')) {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    let mut quoted = false;
    while let Some(c) = rest.chars().next() {
        if quoted {
            out.push(c);
            quoted = c != '\'';
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '\'' {
            quoted = true;
        } else if let Some(r) = rest.strip_prefix("{TRUE}") {
            out.push_str(true_lit);
            rest = r;
            continue;
        } else if let Some(r) = rest.strip_prefix("{FOR UPDATE}") {
            out.push_str(for_update);
            rest = r;
            continue;
        } else if let (Some(ph), '?') = (placeholder, c) {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(n) = rest[1..1 + digits].parse::<usize>() {
                out.push_str(&ph(n, n.checked_sub(1).and_then(|i| params.get(i))));
                rest = &rest[1 + digits..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pg(n: usize, v: Option<&Value<'_>>) -> String {
        let t = match v {
            Some(Value::Int(_)) => "BIGINT",
            Some(Value::Bool(_)) => "BOOLEAN",
            _ => "TEXT",
        };
        format!("${n}::{t}")
    }

    #[test]
    fn placeholders_and_tokens_are_translated_outside_strings() {
        let p = params![1i64, "x", true];
        let sql = "SELECT '?1 {TRUE}' || ?2 FROM t WHERE a = ?1 AND b = {TRUE} AND c = ?3 {FOR UPDATE}";
        assert_eq!(
            translate(sql, p, "TRUE", " FOR UPDATE", Some(pg)),
            "SELECT '?1 {TRUE}' || $2::TEXT FROM t WHERE a = $1::BIGINT AND b = TRUE AND c = $3::BOOLEAN  FOR UPDATE"
        );
        assert_eq!(
            translate(sql, p, "1", "", None),
            "SELECT '?1 {TRUE}' || ?2 FROM t WHERE a = ?1 AND b = 1 AND c = ?3 "
        );
        assert!(matches!(translate("SELECT ?1", p, "1", "", None), Cow::Borrowed(_)));
    }

    #[test]
    fn getters_refuse_what_they_cannot_read() {
        let r = Row(vec![Cell::Text("sideways".into()), Cell::Int(-1), Cell::Null]);
        assert_eq!(r.direction(0).unwrap_err().what, "direction");
        assert_eq!(r.u64(1).unwrap_err().what, "count");
        assert!(r.i64(2).is_err());
        assert_eq!(r.opt_time(2).unwrap(), None);
        assert!(r.list(0).is_err());
    }
}
