//! What the deletion pass reads and writes: the sets whose retention ended, and the state
//! of deleting a set at each of its targets (table `deletions`). Written once for every
//! backend. The receipt that ends a deletion is committed through
//! [`ChainReservation::commit_chain_set`](crate::ChainReservation::commit_chain_set).

use chrono::{DateTime, Utc};

use crate::db::{Row, TxKind, params};
use crate::error::JournalError;
use crate::model::{AuditKind, Deletion, DeletionConfirmed, DeletionState};
use crate::ops::insert_audit;
use crate::store::{check_set_id, to_i64};
use crate::Journal;

pub(crate) const DELETION_COLUMNS: &str = "set_id, target, state, attempts, last_error, last_attempt_at, \
                                           location, removed, already_absent, confirmed_at";

pub(crate) fn deletion_row(r: &Row) -> Result<Deletion, crate::db::Bad> {
    let state = match r.text(2)?.as_str() {
        "pending" => DeletionState::Pending,
        "confirmed" => DeletionState::Confirmed,
        other => return Err(crate::db::Bad { what: "deletion state", value: other.to_owned() }),
    };
    Ok(Deletion {
        set_id: r.text(0)?,
        target: r.text(1)?,
        state,
        attempts: r.u32(3)?,
        last_error: r.opt_text(4)?,
        last_attempt_at: r.opt_time(5)?,
        location: r.opt_text(6)?,
        removed: r.opt_i64(7)?.map(|v| v.max(0) as u64),
        already_absent: r.opt_i64(8)?.map(|v| v.max(0) as u64),
        confirmed_at: r.opt_time(9)?,
    })
}

impl Journal {
    /// Recordings (kind `set`) whose retention ended at or before `now` and that no receipt
    /// records as deleted yet, the earliest expiry first. Holds are not looked at here.
    pub fn expired_sets(&self, now: DateTime<Utc>) -> Result<Vec<String>, JournalError> {
        self.store.conn()?.query(
            "list expired sets",
            "SELECT set_id FROM recordings WHERE kind = 'set' AND deletion_receipt IS NULL \
             AND expires_at IS NOT NULL AND expires_at <= ?1 ORDER BY expires_at, set_id",
            params![now],
            |r| r.text(0),
        )
    }

    /// Records that `target` ([`Deletion::LOCAL`] for the local spool) confirmed that none
    /// of the set's files is left there.
    pub fn deletion_confirmed(
        &self,
        set_id: &str,
        target: &str,
        done: &DeletionConfirmed,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        check_set_id(set_id)?;
        let (removed, absent) = (to_i64(done.removed, "file count")?, to_i64(done.already_absent, "file count")?);
        self.store.conn()?.execute(
            "record a confirmed deletion",
            "INSERT INTO deletions (set_id, target, state, attempts, last_attempt_at, location, removed, \
             already_absent, confirmed_at) VALUES (?1, ?2, 'confirmed', 1, ?3, ?4, ?5, ?6, ?3) \
             ON CONFLICT (set_id, target) DO UPDATE SET state = 'confirmed', attempts = deletions.attempts + 1, \
             last_attempt_at = ?3, location = ?4, removed = ?5, already_absent = ?6, confirmed_at = ?3",
            params![set_id, target, at, &done.location, removed, absent],
        )?;
        Ok(())
    }

    /// Records a failed attempt to delete the set at `target`: the deletion stays
    /// `pending` with the error. The first failure of a (set, target) is audited
    /// (`deletion_pending`), later ones only counted.
    pub fn deletion_failed(
        &self,
        set_id: &str,
        target: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        check_set_id(set_id)?;
        let op = "record a pending deletion";
        let mut s = self.store.begin(TxKind::Write, op)?;
        let attempts = s.query_one(
            op,
            "INSERT INTO deletions (set_id, target, state, attempts, last_error, last_attempt_at) \
             VALUES (?1, ?2, 'pending', 1, ?3, ?4) \
             ON CONFLICT (set_id, target) DO UPDATE SET state = 'pending', attempts = deletions.attempts + 1, \
             last_error = ?3, last_attempt_at = ?4 RETURNING attempts",
            params![set_id, target, error, at],
            |r| r.i64(0),
        )?;
        if attempts == 1 {
            insert_audit(
                &mut s,
                op,
                &AuditKind::DeletionPending,
                at,
                None,
                Some(set_id),
                &serde_json::json!({"target": target, "error": error}),
            )?;
        }
        s.commit(op)
    }

    /// The deletion state of one set at each place, by target.
    pub fn deletions(&self, set_id: &str) -> Result<Vec<Deletion>, JournalError> {
        self.store.conn()?.query(
            "read a set's deletions",
            &format!("SELECT {DELETION_COLUMNS} FROM deletions WHERE set_id = ?1 ORDER BY target"),
            params![set_id],
            deletion_row,
        )
    }
}
