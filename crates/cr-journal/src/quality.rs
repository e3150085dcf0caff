//! Quality at sealing in the journal (schema: `quality_sets`, `quality_legs`): each sealed
//! set's legs' figures and the reasons it is flagged `quality`, written in the transaction
//! that commits its chain link ([`ChainReservation::record_quality`]), read back for the
//! uploader's daily list ([`Journal::quality_flagged`]) and the console.

use chrono::{DateTime, Utc};
use cr_types::{LegQuality, QualityRecord, SetQuality};

use crate::db::{TxKind, params};
use crate::error::JournalError;
use crate::journal::{ChainReservation, Journal};
use crate::store::to_i64;

impl ChainReservation<'_> {
    /// Records the quality of the set this link is reserved for; it is kept only when the
    /// link is committed (the same transaction), and dropped with it otherwise.
    pub fn record_quality(&mut self, q: &SetQuality) -> Result<(), JournalError> {
        let op = "record a set's quality";
        let (s, set_id) = self.inner.session_and_set();
        let reasons = serde_json::Value::from(q.reasons.clone()).to_string();
        s.execute(op, "INSERT INTO quality_sets (set_id, reasons, one_sided) VALUES (?1, ?2, ?3)", params![set_id, &reasons, q.one_sided])?;
        for l in &q.legs {
            s.execute(
                op,
                "INSERT INTO quality_legs (set_id, side, source, packets_expected, packets_received, longest_gap_ms, \
                 samples, silent_samples) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    set_id,
                    &l.side,
                    &l.source,
                    to_i64(l.packets_expected, "packets expected")?,
                    to_i64(l.packets_received, "packets received")?,
                    to_i64(l.longest_gap_ms, "longest gap")?,
                    to_i64(l.samples, "samples")?,
                    to_i64(l.silent_samples, "silent samples")?,
                ],
            )?;
        }
        Ok(())
    }
}

impl Journal {
    /// The sets flagged `quality` that were sealed at or after `since`, oldest first, with
    /// their legs' figures.
    pub fn quality_flagged(&self, since: DateTime<Utc>) -> Result<Vec<QualityRecord>, JournalError> {
        self.quality_where(since, None, true)
    }

    /// The quality recorded for set `set_id` (none: sealed before quality was measured).
    pub fn quality_of(&self, set_id: &str) -> Result<Option<QualityRecord>, JournalError> {
        Ok(self.quality_where(DateTime::<Utc>::MIN_UTC, Some(set_id), false)?.pop())
    }

    fn quality_where(&self, since: DateTime<Utc>, set_id: Option<&str>, flagged: bool) -> Result<Vec<QualityRecord>, JournalError> {
        let op = "read sets' quality";
        let mut s = self.store.begin(TxKind::Read, op)?;
        let mut sets = s.query(
            op,
            "SELECT q.set_id, r.sealed_at, q.reasons, q.one_sided FROM quality_sets q \
             JOIN recordings r ON r.set_id = q.set_id \
             WHERE r.sealed_at >= ?1 AND (CAST(?2 AS TEXT) IS NULL OR q.set_id = ?2) AND (NOT ?3 OR q.reasons != '[]') \
             ORDER BY r.sealed_at, q.set_id",
            params![since, set_id, flagged],
            |r| Ok(QualityRecord { set_id: r.text(0)?, sealed_at: r.time(1)?, reasons: r.list(2)?, one_sided: r.bool(3)?, legs: Vec::new() }),
        )?;
        for set in &mut sets {
            set.legs = s.query(
                op,
                "SELECT side, source, packets_expected, packets_received, longest_gap_ms, samples, silent_samples \
                 FROM quality_legs WHERE set_id = ?1 ORDER BY side != 'caller', side",
                params![&set.set_id],
                |r| {
                    Ok(LegQuality::from_counts(&r.text(0)?, r.text(1)? == "rtp", r.u64(2)?, r.u64(3)?, r.u64(4)?, r.u64(5)?, r.u64(6)?))
                },
            )?;
        }
        Ok(sets)
    }
}
