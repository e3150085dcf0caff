//! [`Journal`]'s read-mostly queries for `crctl`: status and search, written once.

use chrono::{DateTime, Utc};

use crate::chain::{CHAIN_COLUMNS, chain_row};
use crate::db::{TxKind, params};
use crate::deletion::{DELETION_COLUMNS, deletion_row};
use crate::error::JournalError;
use crate::model::{
    ActiveCall, CallId, Delivery, SearchFlag, SearchHit, SearchPage, SearchQuery, Status, TargetBacklog, UploadError,
};
use crate::number::{PART_MAX_DIGITS, PART_MIN_DIGITS, SUFFIX_MIN_DIGITS, normalize_number};
use crate::Journal;

impl Journal {
    /// Active calls, backlog per target and the `error_limit` most recent errors of
    /// undelivered uploads; ages are computed against `now`.
    pub fn status(&self, now: DateTime<Utc>, error_limit: u32) -> Result<Status, JournalError> {
        let mut s = self.store.begin(TxKind::Read, "read the status")?;
        let active_calls = s.query(
            "list active calls",
            "SELECT id, pbx_call_id, direction, caller, callee, configuration, started_at FROM calls \
             WHERE ended_at IS NULL AND record = {TRUE} ORDER BY started_at, id",
            params![],
            |r| {
                let started_at = r.time(6)?;
                Ok(ActiveCall {
                    id: CallId(r.i64(0)?),
                    pbx_call_id: r.text(1)?,
                    direction: r.direction(2)?,
                    caller: r.text(3)?,
                    callee: r.text(4)?,
                    configuration: r.opt_text(5)?,
                    started_at,
                    age_secs: (now - started_at).num_seconds(),
                })
            },
        )?;
        let backlog = s.query(
            "count the backlog",
            "SELECT target, count(CASE WHEN state = 'pending' THEN 1 END), \
             count(CASE WHEN state = 'failed' THEN 1 END), \
             min(CASE WHEN state != 'done' THEN queued_at END) \
             FROM uploads GROUP BY target ORDER BY target",
            params![],
            |r| {
                let oldest = r.opt_time(3)?;
                Ok(TargetBacklog {
                    target: r.text(0)?,
                    pending: r.u64(1)?,
                    failed: r.u64(2)?,
                    oldest_queued_at: oldest,
                    oldest_age_secs: oldest.map(|t| (now - t).num_seconds()),
                })
            },
        )?;
        let last_errors = s.query(
            "list the last errors",
            "SELECT set_id, target, state, attempts, last_error, last_attempt_at FROM uploads \
             WHERE state != 'done' AND last_error IS NOT NULL \
             ORDER BY last_attempt_at DESC NULLS LAST, set_id, target LIMIT ?1",
            params![i64::from(error_limit)],
            |r| {
                Ok(UploadError {
                    set_id: r.text(0)?,
                    target: r.text(1)?,
                    state: r.state(2)?,
                    attempts: r.u32(3)?,
                    error: r.text(4)?,
                    at: r.opt_time(5)?,
                })
            },
        )?;
        let recordings = s.query_one("count recordings", "SELECT count(*) FROM recordings", params![], |r| r.u64(0))?;
        let chain_head = s.query_opt(
            "read the chain head",
            &format!("SELECT {CHAIN_COLUMNS} FROM chain ORDER BY seq DESC LIMIT 1"),
            params![],
            chain_row,
        )?;
        let pending_deletions = s.query(
            "list pending deletions",
            &format!(
                "SELECT {DELETION_COLUMNS} FROM deletions d WHERE state = 'pending' AND NOT EXISTS \
                 (SELECT 1 FROM recordings r WHERE r.set_id = d.set_id AND r.deletion_receipt IS NOT NULL) \
                 ORDER BY last_attempt_at, set_id, target"
            ),
            params![],
            deletion_row,
        )?;
        s.commit("read the status")?;
        Ok(Status {
            active_calls,
            backlog,
            last_errors,
            recordings,
            chain_head,
            pending_deletions,
        })
    }

    /// Recordings whose caller or callee matches the number (see
    /// [`numbers_match`](crate::numbers_match), or with [`SearchQuery::any_part`]
    /// [`number_found`](crate::number_found)) and that started in `[from, to)`, oldest first, with their delivery per target; the other filters and paging of
    /// [`SearchQuery`] apply too (see [`search_page`](Self::search_page)).
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, JournalError> {
        self.search_page(q).map(|p| p.hits)
    }

    /// One page of [`search`](Self::search)'s results: at most `q.limit` hits after the
    /// first `q.offset`, and whether more follow. Every filter is applied in SQL; the
    /// number, configuration and time range use indexes (`call_number_parts`, `calls_*_tail`,
    /// `recordings_started_at`), the flags look up the set's rows by key.
    pub fn search_page(&self, q: &SearchQuery) -> Result<SearchPage, JournalError> {
        let digits = match &q.number {
            None => None,
            Some(n) => {
                let d = normalize_number(n);
                if d.is_empty() {
                    return Err(JournalError::Invalid {
                        what: "number",
                        value: n.clone(),
                        reason: "it holds no digits other than leading zeros".to_owned(),
                    });
                }
                Some(d)
            }
        };
        // The parties as ",d1,d2,": a list both backends can test membership in.
        let parties: Vec<String> = q.parties.iter().map(|p| normalize_number(p)).filter(|d| !d.is_empty()).collect();
        let parties = if parties.is_empty() && q.parties.is_empty() {
            None
        } else {
            // A user or group whose numbers all lack digits matches nothing, never everything:
            // "," contains no ",,", so not even a call whose parties have no digits.
            Some(if parties.is_empty() { ",".to_owned() } else { format!(",{},", parties.join(",")) })
        };
        // One more than asked for tells whether another page follows.
        let limit = q.limit.map_or(i64::MAX, |l| i64::from(l).saturating_add(1));
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        let min = i64::try_from(SUFFIX_MIN_DIGITS).unwrap_or(7);
        let part_min = i64::try_from(PART_MIN_DIGITS).unwrap_or(3);
        let flag = q.flag.map(SearchFlag::as_str);
        // The calls a number can match, by index: for a search by any part of 3 or more
        // digits, the calls with a part that begins with them (schema 8: every run of digits
        // begins a part); for 7 or more, those whose last 7 digits are the searched
        // number's (schema 5: every suffix match shares them); otherwise the parties whose
        // digits equal it. The rule itself (`number_found`, `numbers_match`) follows below.
        let (candidates, low, high, tail_key) = match &digits {
            None => ("CAST(?11 AS TEXT) IS NULL AND CAST(?12 AS TEXT) IS NULL AND CAST(?13 AS TEXT) IS NULL".to_owned(), None, None, None),
            Some(d) if q.any_part && !q.exact && d.len() >= PART_MIN_DIGITS => {
                let low = d[..d.len().min(PART_MAX_DIGITS)].to_owned();
                // ':' is the character after '9': every part that begins with `low` sorts below it.
                let high = format!("{low}:");
                (
                    format!("c.id IN (SELECT call_id FROM call_number_parts WHERE part >= ?11 AND part < ?12 UNION {})", tail_union()),
                    Some(low),
                    Some(high),
                    suffix_key(d),
                )
            }
            Some(d) if !q.exact && d.len() >= SUFFIX_MIN_DIGITS => (
                format!("c.id IN ({}) AND CAST(?11 AS TEXT) IS NULL AND CAST(?12 AS TEXT) IS NULL", tail_union()),
                None,
                None,
                suffix_key(d),
            ),
            Some(d) => (
                "c.id IN (SELECT id FROM calls WHERE caller_digits = ?11 UNION SELECT id FROM calls WHERE callee_digits = ?11) \
                 AND CAST(?12 AS TEXT) IS NULL AND CAST(?13 AS TEXT) IS NULL"
                    .to_owned(),
                Some(d.clone()),
                None,
                None,
            ),
        };
        // A bound given is written as a bare range, so that the start-time index serves it
        // (`?1 IS NULL OR …` would make both backends scan it from one end).
        let from = if q.from.is_some() { "r.started_at >= ?1" } else { "CAST(?1 AS BIGINT) IS NULL" };
        let to = if q.to.is_some() { "r.started_at < ?2" } else { "CAST(?2 AS BIGINT) IS NULL" };
        let op = "search recordings";
        let mut s = self.store.begin(TxKind::Read, op)?;
        let mut hits = s.query(
            op,
            &format!("SELECT r.set_id, r.configuration, c.direction, c.caller, c.callee, r.started_at, r.ended_at, \
             r.channels, r.flags, r.chain_seq, r.location, r.deleted_at, r.expires_at \
             FROM recordings r JOIN calls c ON c.id = r.call_id \
             WHERE {candidates} AND {from} AND {to} \
             AND (?3 IS NULL OR c.caller_digits = ?3 OR c.callee_digits = ?3 OR (NOT ?4 AND ( \
                  (?15 AND length(?3) >= ?14 AND (c.caller_digits LIKE '%' || ?3 || '%' OR c.callee_digits LIKE '%' || ?3 || '%')) \
               OR (length(?3) >= ?5 AND (c.caller_digits LIKE '%' || ?3 OR c.callee_digits LIKE '%' || ?3)) \
               OR (length(c.caller_digits) >= ?5 AND ?3 LIKE '%' || c.caller_digits) \
               OR (length(c.callee_digits) >= ?5 AND ?3 LIKE '%' || c.callee_digits)))) \
             AND (?7 IS NULL OR r.configuration = ?7) \
             AND (?8 IS NULL OR ?8 LIKE '%,' || c.caller_digits || ',%' OR ?8 LIKE '%,' || c.callee_digits || ',%') \
             AND (?9 IS NULL \
               OR (?9 = 'recovered' AND r.flags LIKE '%\"recovered\"%') \
               OR (?9 = 'quality' AND r.flags LIKE '%\"quality\"%') \
               OR (?9 = 'pending' AND EXISTS (SELECT 1 FROM uploads u WHERE u.set_id = r.set_id AND u.state != 'done')) \
               OR (?9 = 'untimestamped' AND EXISTS (SELECT 1 FROM timestamps t WHERE t.set_id = r.set_id AND t.stored_at IS NULL)) \
               OR (?9 = 'held' AND (EXISTS (SELECT 1 FROM hold_sets hs JOIN holds h ON h.id = hs.hold_id \
                      WHERE hs.set_id = r.set_id AND h.released_at IS NULL) \
                   OR EXISTS (SELECT 1 FROM holds h WHERE h.released_at IS NULL AND h.party_digits IS NOT NULL \
                      AND (h.from_at IS NULL OR c.started_at >= h.from_at) AND (h.to_at IS NULL OR c.started_at < h.to_at) \
                      AND (c.caller_digits = h.party_digits OR c.callee_digits = h.party_digits OR (NOT h.party_exact AND ( \
                           (length(h.party_digits) >= ?5 AND (c.caller_digits LIKE '%' || h.party_digits OR c.callee_digits LIKE '%' || h.party_digits)) \
                        OR (length(c.caller_digits) >= ?5 AND h.party_digits LIKE '%' || c.caller_digits) \
                        OR (length(c.callee_digits) >= ?5 AND h.party_digits LIKE '%' || c.callee_digits)))))))) \
             ORDER BY r.started_at, r.set_id LIMIT ?6 OFFSET ?10"),
            params![
                q.from, q.to, digits.as_deref(), q.exact, min, limit, q.configuration.as_deref(), parties.as_deref(), flag, offset,
                low.as_deref(), high.as_deref(), tail_key.as_deref(), part_min, q.any_part
            ],
            |r| {
                let started_at = r.time(5)?;
                let ended_at = r.time(6)?;
                Ok(SearchHit {
                    set_id: r.text(0)?,
                    configuration: r.text(1)?,
                    direction: r.direction(2)?,
                    caller: r.text(3)?,
                    callee: r.text(4)?,
                    started_at,
                    ended_at,
                    duration_ms: (ended_at - started_at).num_milliseconds(),
                    channels: r.text(7)?,
                    flags: r.list(8)?,
                    chain_seq: r.u64(9)?,
                    location: r.opt_text(10)?,
                    deleted_at: r.opt_time(11)?,
                    expires_at: r.opt_time(12)?,
                    deliveries: Vec::new(),
                })
            },
        )?;
        let more = q.limit.is_some_and(|l| hits.len() > l as usize);
        hits.truncate(q.limit.map_or(usize::MAX, |l| l as usize));
        for hit in &mut hits {
            hit.deliveries = s.query(
                "read deliveries",
                "SELECT target, state, remote_path, done_at, remote_dir FROM uploads WHERE set_id = ?1 ORDER BY target",
                params![&hit.set_id],
                |r| {
                    Ok(Delivery {
                        target: r.text(0)?,
                        state: r.state(1)?,
                        remote_path: r.opt_text(2)?,
                        done_at: r.opt_time(3)?,
                        remote_dir: r.opt_text(4)?.and_then(|t| serde_json::from_str(&t).ok()),
                    })
                },
            )?;
        }
        s.commit(op)?;
        Ok(SearchPage { hits, more })
    }
}

/// The calls whose caller's or callee's last 7 digits are `?13`, spelled as schema V5's
/// indexes are, so that both backends use them (`substr` from `length - 6`: the whole number
/// when shorter).
fn tail_union() -> String {
    let tail = |column: &str| format!("substr({column}, length({column}) - 6)");
    format!(
        "SELECT id FROM calls WHERE {} = ?13 UNION SELECT id FROM calls WHERE {} = ?13",
        tail("caller_digits"),
        tail("callee_digits")
    )
}

/// The searched digits' last 7, which every suffix match shares (none when shorter).
fn suffix_key(digits: &str) -> Option<String> {
    (digits.len() >= SUFFIX_MIN_DIGITS).then(|| digits[digits.len() - SUFFIX_MIN_DIGITS..].to_owned())
}
