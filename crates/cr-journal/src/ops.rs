//! [`Journal`]'s operations on calls, uploads, set locations, memberships and audit
//! events, each written once for every backend (see `store.rs` for how to add one).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::db::{Row, TxKind, params};
use crate::error::JournalError;
use crate::model::{AuditEvent, AuditKind, CallId, CallRecord, Membership, NewCall, Upload};
use crate::number::{normalize_number, number_parts};
use crate::Journal;
use crate::store::check_new_call;
pub(crate) use crate::audit::insert_audit;

pub(crate) const CALL_COLUMNS: &str = "id, pbx_call_id, direction, caller, callee, diversions, \
                                       started_at, ended_at, record, configuration, reason";

pub(crate) fn call_row(r: &Row) -> Result<CallRecord, crate::db::Bad> {
    Ok(CallRecord {
        id: CallId(r.i64(0)?),
        pbx_call_id: r.text(1)?,
        direction: r.direction(2)?,
        caller: r.text(3)?,
        callee: r.text(4)?,
        diversions: r.list(5)?,
        started_at: r.time(6)?,
        ended_at: r.opt_time(7)?,
        record: r.bool(8)?,
        configuration: r.opt_text(9)?,
        reason: r.text(10)?,
    })
}

pub(crate) const UPLOAD_COLUMNS: &str = "set_id, target, state, attempts, last_error, \
                                         last_attempt_at, remote_path, queued_at, done_at, remote_dir";

pub(crate) fn upload_row(r: &Row) -> Result<Upload, crate::db::Bad> {
    Ok(Upload {
        set_id: r.text(0)?,
        target: r.text(1)?,
        state: r.state(2)?,
        attempts: r.u32(3)?,
        last_error: r.opt_text(4)?,
        last_attempt_at: r.opt_time(5)?,
        remote_path: r.opt_text(6)?,
        queued_at: r.time(7)?,
        done_at: r.opt_time(8)?,
        remote_dir: r.opt_text(9)?.and_then(|t| serde_json::from_str(&t).ok()),
    })
}

fn undelivered(set_id: &str, target: &str) -> String {
    format!("undelivered upload of set {set_id:?} to target {target:?}")
}

impl Journal {
    /// Records a call and the decision about it — recorded or not. The caller's and
    /// callee's digits are stored normalized for [`search`](Self::search).
    pub fn record_call(&self, call: &NewCall) -> Result<CallId, JournalError> {
        let ids = self.insert_calls(std::slice::from_ref(call), false)?;
        ids.first().copied().ok_or_else(|| JournalError::Invalid {
            what: "call",
            value: call.pbx_call_id.clone(),
            reason: "the store returned no id".to_owned(),
        })
    }

    /// Records several calls as [`record_call`](Self::record_call) does, in one
    /// transaction: one disk sync for all, so a recorder that many calls reach at once
    /// decides them at the disk's pace per batch, not per call. A call not recorded is
    /// ended at its start. The ids come in the order of `calls`; on an error none is kept.
    pub fn record_calls(&self, calls: &[NewCall]) -> Result<Vec<CallId>, JournalError> {
        self.insert_calls(calls, true)
    }

    /// All in one transaction; `end_declined`: calls not recorded get `ended_at = started_at`.
    fn insert_calls(
        &self,
        calls: &[NewCall],
        end_declined: bool,
    ) -> Result<Vec<CallId>, JournalError> {
        self.insert_calls_with(calls, end_declined, &[])
    }

    /// [`insert_calls`](Self::insert_calls) with decision-log `entries` in the same
    /// transaction.
    pub(crate) fn insert_calls_with(
        &self,
        calls: &[NewCall],
        end_declined: bool,
        entries: &[cr_types::decision_log::DecisionLogEntry],
    ) -> Result<Vec<CallId>, JournalError> {
        for call in calls {
            check_new_call(call)?;
        }
        let op = "record a call";
        let mut s = self.store.begin(TxKind::Write, op)?;
        let mut ids = Vec::with_capacity(calls.len());
        for call in calls {
            let ended = (end_declined && !call.record).then_some(call.started_at);
            let diversions = serde_json::Value::from(call.diversions.clone()).to_string();
            let (caller_digits, callee_digits) =
                (normalize_number(&call.caller), normalize_number(&call.callee));
            let id = s.query_one(
                op,
                "INSERT INTO calls (pbx_call_id, direction, caller, callee, caller_digits, callee_digits, \
                 diversions, started_at, ended_at, record, configuration, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
                params![
                    &call.pbx_call_id,
                    call.direction.as_str(),
                    &call.caller,
                    &call.callee,
                    &caller_digits,
                    &callee_digits,
                    &diversions,
                    call.started_at,
                    ended,
                    call.record,
                    &call.configuration,
                    &call.reason,
                ],
                |r| r.i64(0),
            )?;
            // What a search by any part of a number looks up (schema 8).
            let parts: BTreeSet<&str> = number_parts(&caller_digits).chain(number_parts(&callee_digits)).collect();
            for part in parts {
                s.execute(op, "INSERT INTO call_number_parts (part, call_id) VALUES (?1, ?2)", params![part, id])?;
            }
            ids.push(CallId(id));
        }
        crate::decision_log::insert_entries(&mut s, entries)?;
        s.commit(op)?;
        Ok(ids)
    }

    /// Marks a call ended. Ending an ended call keeps the first end time.
    pub fn end_call(&self, id: CallId, at: DateTime<Utc>) -> Result<(), JournalError> {
        let mut s = self.store.conn()?;
        let n = s.execute(
            "end a call",
            "UPDATE calls SET ended_at = ?1 WHERE id = ?2 AND ended_at IS NULL",
            params![at, id.0],
        )?;
        if n == 0
            && s.query_opt("look up a call", "SELECT id FROM calls WHERE id = ?1", params![id.0], |r| r.i64(0))?
                .is_none()
        {
            return Err(self.store.missing(format!("call {id}")));
        }
        Ok(())
    }

    /// One call.
    pub fn call(&self, id: CallId) -> Result<Option<CallRecord>, JournalError> {
        self.store.conn()?.query_opt(
            "read a call",
            &format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1"),
            params![id.0],
            call_row,
        )
    }

    /// Recorded calls that started and have not ended (after a crash: the calls whose legs
    /// the recorder must recover), oldest first.
    pub fn open_calls(&self) -> Result<Vec<CallRecord>, JournalError> {
        self.store.conn()?.query(
            "list open calls",
            &format!(
                "SELECT {CALL_COLUMNS} FROM calls WHERE ended_at IS NULL AND record = {{TRUE}} \
                 ORDER BY started_at, id"
            ),
            params![],
            call_row,
        )
    }

    /// Uploads in state `pending`, oldest first, of one target or of all.
    pub fn pending_uploads(&self, target: Option<&str>) -> Result<Vec<Upload>, JournalError> {
        self.store.conn()?.query(
            "list pending uploads",
            &format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE state = 'pending' AND (?1 IS NULL OR target = ?1) \
                 ORDER BY queued_at, set_id, target"
            ),
            params![target],
            upload_row,
        )
    }

    /// Queues a delivery of a sealed set to a target (again): a new upload, or a `failed`
    /// one back to `pending`. A `pending` or `done` upload stays as it is.
    pub fn queue_upload(
        &self,
        set_id: &str,
        target: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let op = "queue an upload";
        let mut s = self.store.begin(TxKind::Write, op)?;
        if s.query_opt(op, "SELECT set_id FROM recordings WHERE set_id = ?1", params![set_id], |r| r.text(0))?
            .is_none()
        {
            return Err(self.store.missing(format!("recording set {set_id:?}")));
        }
        s.execute(
            op,
            "INSERT INTO uploads (set_id, target, state, queued_at) VALUES (?1, ?2, 'pending', ?3) \
             ON CONFLICT (set_id, target) DO UPDATE SET state = 'pending' WHERE uploads.state = 'failed'",
            params![set_id, target, at],
        )?;
        s.commit(op)
    }

    /// Records a failed attempt; the upload stays `pending` and is tried again.
    pub fn upload_failed(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.attempt_failed(set_id, target, error, at, false)
    }

    /// Records a failed attempt after which the uploader gives up: state `failed`, shown
    /// by `crctl status` until an operator queues it again.
    pub fn upload_given_up(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.attempt_failed(set_id, target, error, at, true)
    }

    fn attempt_failed(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<(), JournalError> {
        let n = self.store.conn()?.execute(
            "record a failed upload",
            "UPDATE uploads SET attempts = attempts + 1, last_error = ?3, last_attempt_at = ?4, \
             state = CASE WHEN ?5 THEN 'failed' ELSE state END \
             WHERE set_id = ?1 AND target = ?2 AND state != 'done'",
            params![set_id, target, error, at, give_up],
        )?;
        if n == 0 {
            return Err(self.store.missing(undelivered(set_id, target)));
        }
        Ok(())
    }

    /// Records a delivery (state `done`, the remote path, audit event `set_delivered`) and
    /// returns how many targets of the set are still undelivered: at 0 the local copy may
    /// be deleted.
    pub fn upload_done(
        &self,
        set_id: &str,
        target: &str,
        remote_path: &str,
        dir: &[String],
        at: DateTime<Utc>,
    ) -> Result<u64, JournalError> {
        let op = "record a delivery";
        let dir_json = serde_json::to_string(dir).unwrap_or_else(|_| "[]".to_owned());
        let mut s = self.store.begin(TxKind::Write, op)?;
        let n = s.execute(
            op,
            "UPDATE uploads SET state = 'done', attempts = attempts + 1, last_attempt_at = ?3, \
             remote_path = ?4, remote_dir = ?5, done_at = ?3 WHERE set_id = ?1 AND target = ?2 AND state != 'done'",
            params![set_id, target, at, remote_path, dir_json.as_str()],
        )?;
        if n == 0 {
            return Err(self.store.missing(undelivered(set_id, target)));
        }
        insert_audit(
            &mut s,
            op,
            &AuditKind::SetDelivered,
            at,
            None,
            Some(set_id),
            &serde_json::json!({"target": target, "remote_path": remote_path}),
        )?;
        let remaining = s.query_one(
            op,
            "SELECT count(*) FROM uploads WHERE set_id = ?1 AND state != 'done'",
            params![set_id],
            |r| r.u64(0),
        )?;
        s.commit(op)?;
        Ok(remaining)
    }

    /// Records where the set lies now (the spool directory).
    pub fn set_location(&self, set_id: &str, location: &str) -> Result<(), JournalError> {
        let n = self.store.conn()?.execute(
            "update a set's location",
            "UPDATE recordings SET location = ?2 WHERE set_id = ?1",
            params![set_id, location],
        )?;
        if n == 0 {
            return Err(self.store.missing(format!("recording set {set_id:?}")));
        }
        Ok(())
    }

    /// Records that the local copy of a set was deleted (after delivery, or at the end of
    /// retention), with audit event `set_deleted`.
    pub fn set_deleted(
        &self,
        set_id: &str,
        at: DateTime<Utc>,
        actor: &str,
        reason: &str,
    ) -> Result<(), JournalError> {
        let op = "record a deletion";
        let mut s = self.store.begin(TxKind::Write, op)?;
        let Some(old) = s.query_opt(
            op,
            "SELECT location FROM recordings WHERE set_id = ?1{FOR UPDATE}",
            params![set_id],
            |r| r.opt_text(0),
        )?
        else {
            return Err(self.store.missing(format!("recording set {set_id:?}")));
        };
        s.execute(
            op,
            "UPDATE recordings SET location = NULL, deleted_at = coalesce(deleted_at, ?2) WHERE set_id = ?1",
            params![set_id, at],
        )?;
        insert_audit(
            &mut s,
            op,
            &AuditKind::SetDeleted,
            at,
            Some(actor),
            Some(set_id),
            &serde_json::json!({"reason": reason, "location": old}),
        )?;
        s.commit(op)
    }

    /// Records that `user` logged in (`active`) or out of `group`, with audit event
    /// `membership_changed`; returns the state before (`None`: never changed at run time).
    /// The journal does not know the directory: check group and user against the
    /// configuration first.
    pub fn set_membership(
        &self,
        group: &str,
        user: &str,
        active: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<bool>, JournalError> {
        let op = "change a membership";
        let mut s = self.store.begin(TxKind::Write, op)?;
        // Serializes concurrent changes of the same membership so `previous` is exact.
        s.lock_key(op, &format!("{group}/{user}"))?;
        let previous = s.query_opt(
            op,
            "SELECT active FROM memberships WHERE group_id = ?1 AND user_id = ?2",
            params![group, user],
            |r| r.bool(0),
        )?;
        s.execute(
            op,
            "INSERT INTO memberships (group_id, user_id, active, changed_at, changed_by) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (group_id, user_id) DO UPDATE SET active = ?3, changed_at = ?4, changed_by = ?5",
            params![group, user, active, at, actor],
        )?;
        insert_audit(
            &mut s,
            op,
            &AuditKind::MembershipChanged,
            at,
            Some(actor),
            None,
            &serde_json::json!({"group": group, "user": user, "active": active, "previous": previous}),
        )?;
        s.commit(op)?;
        Ok(previous)
    }

    /// Every membership state changed at run time, by group and user. The recorder
    /// applies these over the configuration's `members` / `inactive` at start.
    pub fn memberships(&self) -> Result<Vec<Membership>, JournalError> {
        self.store.conn()?.query(
            "read memberships",
            "SELECT group_id, user_id, active, changed_at, changed_by FROM memberships ORDER BY group_id, user_id",
            params![],
            |r| {
                Ok(Membership {
                    group: r.text(0)?,
                    user: r.text(1)?,
                    active: r.bool(2)?,
                    changed_at: r.time(3)?,
                    changed_by: r.text(4)?,
                })
            },
        )
    }

    /// A number that grows with every membership change (0: none yet). A process polls it
    /// cheaply and reloads [`memberships`](Self::memberships) when it changed.
    pub fn membership_stamp(&self) -> Result<i64, JournalError> {
        self.store.conn()?.query_one(
            "read the membership stamp",
            "SELECT coalesce(max(id), 0) FROM audit_events WHERE kind = 'membership_changed'",
            params![],
            |r| r.i64(0),
        )
    }

    /// Writes an audit event; `details` should be a JSON object. Returns its id. Events
    /// for sealing, delivery, deletion and membership are written by the methods that do
    /// those; call this for `KeyCreated`, `ConfigLoaded` and the like.
    pub fn audit(
        &self,
        kind: &AuditKind,
        at: DateTime<Utc>,
        actor: Option<&str>,
        set_id: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<i64, JournalError> {
        let op = "write an audit event";
        let mut s = self.store.begin(TxKind::Write, op)?;
        let id = insert_audit(&mut s, op, kind, at, actor, set_id, details)?;
        s.commit(op)?;
        Ok(id)
    }

    /// Up to `limit` audit events with an id above `after_id`, oldest first (see
    /// [`audit_trail`](Self::audit_trail) for their chain columns and a time range).
    pub fn audit_events(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>, JournalError> {
        let q = crate::audit::AuditQuery { after_id, limit: limit.max(1), ..Default::default() };
        Ok(self.audit_trail(&q)?.into_iter().map(|e| e.event).collect())
    }
}
