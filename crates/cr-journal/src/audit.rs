//! The audit trail as a hash chain: every event carries the SHA-256 of the one before it,
//! so that editing, inserting or deleting a row in the middle is caught by
//! [`Journal::verify_audit`]; the chain's head is sealed into the recording chain from
//! time to time (`audit-checkpoint` sets) so that a rewritten tail is caught too.
//!
//! An event's hash is the SHA-256 of the compact JSON array
//! `[id, at, kind, actor, set_id, details, prev_sha256]`, where `at` is the stored time
//! (milliseconds since 1970 UTC), `actor` and `set_id` are strings or `null`, and
//! `details` is the stored JSON text as a string. The first event's `prev_sha256` is 64
//! zeros. An auditor can recompute it with any SQL client and `sha256sum`
//! (docs/journal.md shows how).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Journal;
use crate::db::{Row, TxKind, params};
use crate::error::JournalError;
use crate::model::{AuditEvent, AuditKind, GENESIS_SHA256};
use crate::store::Session;

/// The newest audit event: what an `audit-checkpoint` set seals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditHead {
    /// The event's id.
    pub id: i64,
    /// Its hash (the chain up to and including it).
    pub sha256: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// What [`Journal::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditCheck {
    /// Events read.
    pub events: u64,
    /// The newest event, if any.
    pub head: Option<AuditHead>,
    /// Every event whose stored hash or link does not match, oldest first.
    pub problems: Vec<AuditProblem>,
}

/// One broken place of the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditProblem {
    /// The event's id.
    pub id: i64,
    /// What does not match.
    pub what: String,
}

/// The hash of one event (see the module documentation).
fn event_hash(
    id: i64,
    at_ms: i64,
    kind: &str,
    actor: Option<&str>,
    set_id: Option<&str>,
    details: &str,
    prev: &str,
) -> String {
    let text = serde_json::json!([id, at_ms, kind, actor, set_id, details, prev]).to_string();
    cr_types::sha256_hex(text.as_bytes())
}

/// Writes an audit event in the session's transaction, linked to the one before; returns
/// its id. Writers wait for each other (the write transaction on SQLite, a lock on
/// PostgreSQL), so two events never link to the same predecessor.
pub(crate) fn insert_audit(
    s: &mut Session<'_>,
    op: &'static str,
    kind: &AuditKind,
    at: DateTime<Utc>,
    actor: Option<&str>,
    set_id: Option<&str>,
    details: &serde_json::Value,
) -> Result<i64, JournalError> {
    s.lock_key(op, "callrec audit chain")?;
    let prev = s
        .query_opt(
            op,
            "SELECT sha256 FROM audit_events ORDER BY id DESC LIMIT 1",
            params![],
            |r| r.opt_text(0),
        )?
        .flatten()
        .unwrap_or_else(|| GENESIS_SHA256.to_owned());
    let details = details.to_string();
    let id = s.query_one(
        op,
        "INSERT INTO audit_events (at, kind, actor, set_id, details, prev_sha256) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![at, kind.as_str(), actor, set_id, details.as_str(), prev.as_str()],
        |r| r.i64(0),
    )?;
    let sha = event_hash(id, at.timestamp_millis(), kind.as_str(), actor, set_id, &details, &prev);
    s.execute(op, "UPDATE audit_events SET sha256 = ?2 WHERE id = ?1", params![id, sha.as_str()])?;
    Ok(id)
}

/// One stored event as hashed.
struct Stored {
    id: i64,
    at_ms: i64,
    kind: String,
    actor: Option<String>,
    set_id: Option<String>,
    details: String,
    prev: Option<String>,
    sha: Option<String>,
}

const STORED_COLUMNS: &str = "id, at, kind, actor, set_id, details, prev_sha256, sha256";

/// An event from the columns `id, at, kind, actor, set_id, details` (in that order).
fn event_row(r: &Row) -> Result<AuditEvent, crate::db::Bad> {
    Ok(AuditEvent {
        id: r.i64(0)?,
        at: r.time(1)?,
        kind: AuditKind::parse(&r.text(2)?),
        actor: r.opt_text(3)?,
        set_id: r.opt_text(4)?,
        details: r.json(5)?,
    })
}

fn stored_row(r: &Row) -> Result<Stored, crate::db::Bad> {
    Ok(Stored {
        id: r.i64(0)?,
        at_ms: r.i64(1)?,
        kind: r.text(2)?,
        actor: r.opt_text(3)?,
        set_id: r.opt_text(4)?,
        details: r.text(5)?,
        prev: r.opt_text(6)?,
        sha: r.opt_text(7)?,
    })
}

impl Stored {
    fn hash_with(&self, prev: &str) -> String {
        event_hash(self.id, self.at_ms, &self.kind, self.actor.as_deref(), self.set_id.as_deref(), &self.details, prev)
    }
}

const BATCH: i64 = 1000;

/// Links the events written before the chain existed (schema 1), in id order, during the
/// migration to schema 2.
pub(crate) fn backfill(s: &mut Session<'_>) -> Result<(), JournalError> {
    let op = "link the audit events of schema 1";
    let mut prev = GENESIS_SHA256.to_owned();
    let mut after = 0i64;
    loop {
        let rows = s.query(
            op,
            &format!("SELECT {STORED_COLUMNS} FROM audit_events WHERE id > ?1 ORDER BY id LIMIT ?2"),
            params![after, BATCH],
            stored_row,
        )?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last.id;
        for row in &rows {
            let sha = row.hash_with(&prev);
            s.execute(
                op,
                "UPDATE audit_events SET prev_sha256 = ?2, sha256 = ?3 WHERE id = ?1",
                params![row.id, prev.as_str(), sha.as_str()],
            )?;
            prev = sha;
        }
    }
}

/// Which events [`Journal::audit_trail`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only events with an id above this one.
    pub after_id: i64,
    /// At most this many (0: no limit).
    pub limit: u32,
}

/// An audit event with its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChainedEvent {
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous event's hash as stored in this one.
    pub prev_sha256: Option<String>,
    /// This event's stored hash.
    pub sha256: Option<String>,
}

/// Where the audit trail stands against the last audit checkpoint sealed into the chain
/// ([`Journal::audit_since_checkpoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinceCheckpoint {
    /// When the last checkpoint was sealed (its `audit_checkpoint` event); `None`: never.
    pub last_at: Option<DateTime<Utc>>,
    /// Events after it, not counting the checkpoints' own events and the deliveries of
    /// checkpoint sets (which a checkpoint would only cause again).
    pub events: u64,
}

impl Journal {
    /// How many audit events a new checkpoint would cover that the last did not: the
    /// deletion pass seals one when there are some, and at least daily.
    pub fn audit_since_checkpoint(&self) -> Result<SinceCheckpoint, JournalError> {
        let op = "read the audit trail since the last checkpoint";
        let mut s = self.store.begin(TxKind::Read, op)?;
        let last = s.query_opt(
            op,
            "SELECT id, at FROM audit_events WHERE kind = 'audit_checkpoint' ORDER BY id DESC LIMIT 1",
            params![],
            |r| Ok((r.i64(0)?, r.time(1)?)),
        )?;
        let after = last.map_or(0, |(id, _)| id);
        let events = s.query_one(
            op,
            "SELECT count(*) FROM audit_events WHERE id > ?1 AND kind != 'audit_checkpoint' \
             AND (set_id IS NULL OR set_id NOT IN (SELECT set_id FROM recordings WHERE kind = 'audit-checkpoint'))",
            params![after],
            |r| r.u64(0),
        )?;
        s.commit(op)?;
        Ok(SinceCheckpoint { last_at: last.map(|(_, at)| at), events })
    }

    /// Wrong sign-ins (`login_failed`) for the name `name` at or after `since` and after its
    /// last successful sign-in to the console (`signed_in`): what a lock-out counts.
    pub fn login_failures_since(&self, name: &str, since: DateTime<Utc>) -> Result<u64, JournalError> {
        self.store.conn()?.query_one(
            "count wrong sign-ins",
            "SELECT count(*) FROM audit_events WHERE kind = 'login_failed' AND actor = ?1 AND at >= ?2 \
             AND id > coalesce((SELECT max(id) FROM audit_events WHERE kind = 'signed_in' AND actor = ?1), 0)",
            params![name, since],
            |r| r.u64(0),
        )
    }

    /// The newest audit event's id and hash (`None`: no event yet).
    pub fn audit_head(&self) -> Result<Option<AuditHead>, JournalError> {
        let rows = self.store.conn()?.query(
            "read the audit chain's head",
            "SELECT id, sha256, at FROM audit_events ORDER BY id DESC LIMIT 1",
            params![],
            |r| Ok((r.i64(0)?, r.opt_text(1)?, r.time(2)?)),
        )?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some((id, Some(sha256), at)) => Ok(Some(AuditHead { id, sha256, at })),
            Some((id, None, _)) => Err(JournalError::Corrupt {
                journal: self.store.name().to_owned(),
                what: "audit event hash",
                value: format!("event {id} has none"),
            }),
        }
    }

    /// Audit events in id order, with their chain columns.
    pub fn audit_trail(&self, q: &AuditQuery) -> Result<Vec<ChainedEvent>, JournalError> {
        let limit = if q.limit == 0 { i64::MAX } else { i64::from(q.limit) };
        self.store.conn()?.query(
            "read the audit trail",
            "SELECT id, at, kind, actor, set_id, details, prev_sha256, sha256 FROM audit_events \
             WHERE id > ?1 AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at < ?3) ORDER BY id LIMIT ?4",
            params![q.after_id, q.from, q.to, limit],
            |r| {
                Ok(ChainedEvent {
                    event: event_row(r)?,
                    prev_sha256: r.opt_text(6)?,
                    sha256: r.opt_text(7)?,
                })
            },
        )
    }

    /// Recomputes every event's hash from its stored content and checks each link to the
    /// one before. `progress` is called with the number of events checked so far.
    pub fn verify_audit(&self, mut progress: impl FnMut(u64)) -> Result<AuditCheck, JournalError> {
        let op = "verify the audit chain";
        let mut check = AuditCheck { events: 0, head: None, problems: Vec::new() };
        let mut prev = GENESIS_SHA256.to_owned();
        let mut after = 0i64;
        loop {
            let rows = self.store.begin(TxKind::Read, op)?.query(
                op,
                &format!("SELECT {STORED_COLUMNS} FROM audit_events WHERE id > ?1 ORDER BY id LIMIT ?2"),
                params![after, BATCH],
                stored_row,
            )?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in &rows {
                check.events += 1;
                let expected = row.hash_with(row.prev.as_deref().unwrap_or(""));
                if row.prev.as_deref() != Some(prev.as_str()) {
                    check.problems.push(AuditProblem {
                        id: row.id,
                        what: "its link does not name the event before it (an event was removed, inserted or changed before it)".to_owned(),
                    });
                }
                if row.sha.as_deref() != Some(expected.as_str()) {
                    check.problems.push(AuditProblem {
                        id: row.id,
                        what: "its content does not match its hash (the row was changed)".to_owned(),
                    });
                }
                prev = row.sha.clone().unwrap_or_default();
                check.head = Some(AuditHead {
                    id: row.id,
                    sha256: prev.clone(),
                    at: DateTime::from_timestamp_millis(row.at_ms).unwrap_or_default(),
                });
            }
            progress(check.events);
        }
        Ok(check)
    }
}

/// One page of the audit trail for [`Journal::audit_page`]: newest first, filtered, paged
/// by id (keyset paging, so that a page costs the same wherever it is in the trail).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events by this actor (exact name).
    pub actor: Option<String>,
    /// Only events of this kind.
    pub kind: Option<AuditKind>,
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub to: Option<DateTime<Utc>>,
    /// Where the page starts: older than an id (the next page) or newer than one (the
    /// previous page); `None`: the newest events.
    pub from_id: Option<PageStart>,
    /// Events a page (at least 1; a larger value is capped at [`AUDIT_PAGE_MAX`]).
    pub page_size: u32,
}

/// The largest page [`Journal::audit_page`] returns.
pub const AUDIT_PAGE_MAX: u32 = 1000;

/// Where a page of [`Journal::audit_page`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// The events just older than this id (a "next" link).
    Before(i64),
    /// The events just newer than this id (a "previous" link).
    After(i64),
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditPage {
    /// The events, newest first.
    pub events: Vec<AuditEvent>,
    /// Older matching events exist (beyond the last one here).
    pub more_older: bool,
    /// Newer matching events exist (beyond the first one here).
    pub more_newer: bool,
}

impl Journal {
    /// A page of the audit trail matching `f`, newest first. The filtering and paging are
    /// done by the database: only the conditions given are in the `WHERE` clause, ordered by
    /// id (the `(kind, id)` index serves a kind filter).
    pub fn audit_page(&self, f: &AuditFilter) -> Result<AuditPage, JournalError> {
        use crate::db::Value;
        let size = f.page_size.clamp(1, AUDIT_PAGE_MAX);
        let kind = f.kind.as_ref().map(AuditKind::as_str);
        let mut conds: Vec<String> = Vec::new();
        let mut values: Vec<Value<'_>> = Vec::new();
        for (cond, v) in [
            ("actor = ?", f.actor.as_deref().map(Value::from)),
            ("kind = ?", kind.map(Value::from)),
            ("at >= ?", f.from.map(Value::from)),
            ("at < ?", f.to.map(Value::from)),
        ] {
            if let Some(v) = v {
                values.push(v);
                conds.push(cond.replace('?', &format!("?{}", values.len())));
            }
        }
        let filter = |extra: &str| {
            let all: Vec<&str> = conds.iter().map(String::as_str).chain((!extra.is_empty()).then_some(extra)).collect();
            if all.is_empty() { String::new() } else { format!("WHERE {}", all.join(" AND ")) }
        };
        let n = values.len();
        let (page_cond, other_cond, order, start) = match f.from_id {
            None => (String::new(), None, "DESC", None),
            Some(PageStart::Before(id)) => (format!("id < ?{}", n + 1), Some(format!("id >= ?{}", n + 1)), "DESC", Some(id)),
            Some(PageStart::After(id)) => (format!("id > ?{}", n + 1), Some(format!("id <= ?{}", n + 1)), "ASC", Some(id)),
        };
        let mut page_values = values.clone();
        if let Some(id) = start {
            page_values.push(id.into());
        }
        page_values.push(i64::from(size + 1).into());
        let limit = page_values.len();
        let mut conn = self.store.conn()?;
        let mut events = conn.query(
            "read a page of the audit trail",
            &format!("SELECT id, at, kind, actor, set_id, details FROM audit_events {} ORDER BY id {order} LIMIT ?{limit}", filter(&page_cond)),
            &page_values,
            event_row,
        )?;
        let beyond = events.len() > size as usize;
        events.truncate(size as usize);
        // Whether matching events lie on the side the page was reached from.
        let behind = match (&other_cond, start) {
            (Some(c), Some(id)) => {
                let mut v = values.clone();
                v.push(id.into());
                !conn.query("look past a page of the audit trail", &format!("SELECT id FROM audit_events {} LIMIT 1", filter(c)), &v, |r| r.i64(0))?.is_empty()
            }
            _ => false,
        };
        let (more_older, more_newer) = if order == "ASC" {
            events.reverse();
            (behind, beyond)
        } else {
            (beyond, behind)
        };
        Ok(AuditPage { events, more_older, more_newer })
    }
}
