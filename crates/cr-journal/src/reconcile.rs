//! What reconciliation against the PBX's call records reads (`crctl reconcile`, crate
//! cr-reconcile): the sealed sets of a time range with their calls, page by page, and the
//! history of membership changes made at run time (audit events `membership_changed`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{TxKind, params};
use crate::error::JournalError;
use crate::model::Direction;
use crate::Journal;

/// A sealed recording set with the call it recorded, as reconciliation matches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedCall {
    /// The set's id.
    pub set_id: String,
    /// The PBX's (or SIPREC dialog's) call id the recorder stored.
    pub pbx_call_id: String,
    /// Direction of the call.
    pub direction: Direction,
    /// Calling number as reported.
    pub caller: String,
    /// Called number as reported.
    pub callee: String,
    /// When the recording started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Flags of the set (e.g. `recovered`).
    pub flags: Vec<String>,
    /// When the set was deleted (retention or four eyes), if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One membership change made at run time, from the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MembershipChange {
    /// When it took effect.
    pub at: DateTime<Utc>,
    /// Group id.
    pub group: String,
    /// User id.
    pub user: String,
    /// Logged in (true) or out (false) from then on.
    pub active: bool,
}

impl Journal {
    /// Up to `limit` sealed sets of calls (not deletion receipts or checkpoints) whose
    /// recording started in `[from, to)`, ordered by start and set id, after the set
    /// `after` (its start and id, from the last row of the previous page).
    pub fn recorded_calls(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: u32,
    ) -> Result<Vec<RecordedCall>, JournalError> {
        let op = "read recorded calls";
        let (after_at, after_id) = match after {
            Some((t, id)) => (Some(t), Some(id)),
            None => (None, None),
        };
        // Bare ranges where a bound is given, so that the start-time index serves them.
        let from_sql = if from.is_some() { "r.started_at >= ?1" } else { "CAST(?1 AS BIGINT) IS NULL" };
        let to_sql = if to.is_some() { "r.started_at < ?2" } else { "CAST(?2 AS BIGINT) IS NULL" };
        let after_sql = if after_at.is_some() {
            "(r.started_at > ?3 OR (r.started_at = ?3 AND r.set_id > ?4))"
        } else {
            "(CAST(?3 AS BIGINT) IS NULL AND CAST(?4 AS TEXT) IS NULL)"
        };
        let mut s = self.store.begin(TxKind::Read, op)?;
        let rows = s.query(
            op,
            &format!(
                "SELECT r.set_id, c.pbx_call_id, c.direction, c.caller, c.callee, r.started_at, r.ended_at, r.flags, r.deleted_at \
                 FROM recordings r JOIN calls c ON c.id = r.call_id \
                 WHERE r.kind = 'set' AND {from_sql} AND {to_sql} AND {after_sql} \
                 ORDER BY r.started_at, r.set_id LIMIT ?5"
            ),
            params![from, to, after_at, after_id, i64::from(limit.max(1))],
            |r| {
                Ok(RecordedCall {
                    set_id: r.text(0)?,
                    pbx_call_id: r.text(1)?,
                    direction: r.direction(2)?,
                    caller: r.text(3)?,
                    callee: r.text(4)?,
                    started_at: r.time(5)?,
                    ended_at: r.time(6)?,
                    flags: r.list(7)?,
                    deleted_at: r.opt_time(8)?,
                })
            },
        )?;
        s.commit(op)?;
        Ok(rows)
    }

    /// Every membership change made at run time ([`set_membership`](Self::set_membership)),
    /// oldest first: the audit events `membership_changed`. An event whose details cannot
    /// be read is an error naming its id.
    pub fn membership_history(&self) -> Result<Vec<MembershipChange>, JournalError> {
        let op = "read the membership history";
        let rows = self.store.conn()?.query(
            op,
            "SELECT id, at, details FROM audit_events WHERE kind = 'membership_changed' ORDER BY id",
            params![],
            |r| Ok((r.i64(0)?, r.time(1)?, r.text(2)?)),
        )?;
        rows.into_iter()
            .map(|(id, at, details)| {
                #[derive(serde::Deserialize)]
                struct D {
                    group: String,
                    user: String,
                    active: bool,
                }
                // The details are written by `set_membership` alone; the value named is the
                // event's id, never its content.
                let d: D = serde_json::from_str(&details).map_err(|_| JournalError::Corrupt {
                    journal: self.store.name().to_owned(),
                    what: "details of a membership_changed audit event",
                    value: format!("event {id}"),
                })?;
                Ok(MembershipChange { at, group: d.group, user: d.user, active: d.active })
            })
            .collect()
    }
}
