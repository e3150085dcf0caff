//! The decision log (issue 15, item 3): calls not recorded and calls that failed to record,
//! written when they happen and sealed into the chain later as `decision-log` sets
//! ([`ChainReservation::commit_decision_log`](crate::ChainReservation::commit_decision_log)).
//!
//! An entry is stored in the transaction of the event it records where there is one (a
//! declined call is stored with the call, [`Journal::record_calls_logged`]), else on its
//! own ([`Journal::log_decisions`]); either way it is on disk before the recorder answers.
//! It stays unsealed (`sealed_in` NULL) until the transaction that commits a decision-log
//! set's chain link marks it; a crash before that commit leaves it unsealed for the next
//! pass, a crash after it leaves it sealed: no entry is lost or sealed twice.

use cr_types::decision_log::DecisionLogEntry;

use crate::db::{TxKind, params};
use crate::error::JournalError;
use crate::model::NewCall;
use crate::store::Session;
use crate::Journal;

/// Stores `entries` in the open transaction `s`; their ids in order.
pub(crate) fn insert_entries(
    s: &mut Session<'_>,
    entries: &[DecisionLogEntry],
) -> Result<Vec<u64>, JournalError> {
    let op = "write the decision log";
    let mut ids = Vec::with_capacity(entries.len());
    for e in entries {
        let mut stored = e.clone();
        stored.entry = 0;
        let json = serde_json::to_string(&stored).map_err(|err| JournalError::Invalid {
            what: "decision-log entry",
            value: e.pbx_call_id.clone().unwrap_or_default(),
            reason: err.to_string(),
        })?;
        let id = s.query_one(
            op,
            "INSERT INTO decision_log (at, node, kind, entry) VALUES (?1, ?2, ?3, ?4) RETURNING id",
            params![e.at, &e.node, e.kind.as_str(), &json],
            |r| r.u64(0),
        )?;
        ids.push(id);
    }
    Ok(ids)
}

impl Journal {
    /// Stores decision-log entries (their `entry` numbers are the journal's; what the
    /// caller set there is ignored), in one transaction. Returns their numbers.
    pub fn log_decisions(&self, entries: &[DecisionLogEntry]) -> Result<Vec<u64>, JournalError> {
        let op = "write the decision log";
        let mut s = self.store.begin(TxKind::Write, op)?;
        let ids = insert_entries(&mut s, entries)?;
        s.commit(op)?;
        Ok(ids)
    }

    /// [`record_calls`](Self::record_calls) and [`log_decisions`](Self::log_decisions) in
    /// one transaction: a declined call is never journaled without its entry.
    pub fn record_calls_logged(
        &self,
        calls: &[NewCall],
        entries: &[DecisionLogEntry],
    ) -> Result<Vec<crate::CallId>, JournalError> {
        self.insert_calls_with(calls, true, entries)
    }

    /// Up to `limit` entries not sealed yet, oldest first, with their `entry` numbers.
    pub fn unsealed_decisions(&self, limit: u32) -> Result<Vec<DecisionLogEntry>, JournalError> {
        let rows = self.store.conn()?.query(
            "read the decision log",
            "SELECT id, entry FROM decision_log WHERE sealed_in IS NULL ORDER BY id LIMIT ?1",
            params![i64::from(limit)],
            |r| Ok((r.u64(0)?, r.text(1)?)),
        )?;
        rows.into_iter()
            .map(|(id, text)| {
                let mut e: DecisionLogEntry = serde_json::from_str(&text).map_err(|err| JournalError::Invalid {
                    what: "decision-log entry",
                    value: id.to_string(),
                    reason: format!("not a decision-log entry: {err}"),
                })?;
                e.entry = id;
                Ok(e)
            })
            .collect()
    }

    /// The decision-log set that sealed entry `id`: `Ok(None)` while it is unsealed (or
    /// unknown).
    pub fn decision_sealed_in(&self, id: u64) -> Result<Option<String>, JournalError> {
        let id = crate::store::to_i64(id, "decision-log entry")?;
        Ok(self
            .store
            .conn()?
            .query_opt("read the decision log", "SELECT sealed_in FROM decision_log WHERE id = ?1", params![id], |r| {
                r.opt_text(0)
            })?
            .flatten())
    }
}
