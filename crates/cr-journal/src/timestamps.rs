//! [`Journal`]'s record of RFC 3161 time-stamp tokens (table `timestamps`): a set is
//! *untimestamped* (`crctl search --flag untimestamped`) from the uploader's first query
//! until its token is stored, and an upload is reopened when the token arrives after the
//! target had confirmed the set.

use chrono::{DateTime, Utc};

use crate::Journal;
use crate::db::params;
use crate::error::JournalError;

impl Journal {
    /// Set `set_id` waits for its token since `at` (kept when already recorded); `error`
    /// says why the last query failed, if one did.
    pub fn timestamp_pending(&self, set_id: &str, error: Option<&str>, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.timestamp_row(set_id, at)?;
        if let Some(e) = error {
            self.store.conn()?.execute(
                "record a failed time-stamp query",
                "UPDATE timestamps SET last_error = ?2 WHERE set_id = ?1 AND stored_at IS NULL",
                params![set_id, e],
            )?;
        }
        Ok(())
    }

    /// The token of `set_id` was checked and stored at `at`; `gen_time` is the TSA's time.
    pub fn timestamp_stored(&self, set_id: &str, gen_time: &str, tsa: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.timestamp_row(set_id, at)?;
        self.store.conn()?.execute(
            "record a time-stamp",
            "UPDATE timestamps SET stored_at = ?2, gen_time = ?3, tsa = ?4, last_error = NULL WHERE set_id = ?1",
            params![set_id, at, gen_time, tsa],
        )?;
        Ok(())
    }

    /// The row of `set_id`, pending since `at` unless it is there already.
    fn timestamp_row(&self, set_id: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.store.conn()?.execute(
            "record a missing time-stamp",
            "INSERT INTO timestamps (set_id, pending_since) VALUES (?1, ?2) ON CONFLICT (set_id) DO NOTHING",
            params![set_id, at],
        )?;
        Ok(())
    }

    /// Whether `set_id` is recorded as waiting for its token (`None`: not recorded).
    pub fn timestamp_missing(&self, set_id: &str) -> Result<Option<bool>, JournalError> {
        let row = self.store.conn()?.query_opt(
            "read a time-stamp",
            "SELECT stored_at FROM timestamps WHERE set_id = ?1",
            params![set_id],
            |r| r.opt_time(0),
        )?;
        Ok(row.map(|stored| stored.is_none()))
    }

    /// The upload of `set_id` to `target` is to be made again (a file was added to the set
    /// after the target confirmed it): state `pending` until the next confirmation.
    pub fn upload_reopened(&self, set_id: &str, target: &str) -> Result<(), JournalError> {
        self.store.conn()?.execute(
            "reopen an upload",
            "UPDATE uploads SET state = 'pending' WHERE set_id = ?1 AND target = ?2 AND state = 'done'",
            params![set_id, target],
        )?;
        Ok(())
    }
}
