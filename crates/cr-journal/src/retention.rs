//! Retention in the journal: `recordings.expires_at` lengthened, never shortened
//! (`crctl retention extend`), each change with a `retention_extended` audit event.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::db::{TxKind, params};
use crate::error::JournalError;
use crate::model::AuditKind;
use crate::audit::insert_audit;
use crate::Journal;

/// What [`Journal::extend_retention`] did to one set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Extension {
    /// The expiry moved from `before` to `after` (audit event `retention_extended`).
    Extended {
        /// The set.
        set_id: String,
        /// The expiry before.
        before: DateTime<Utc>,
        /// The new expiry.
        after: DateTime<Utc>,
    },
    /// The set already expires at the date asked for: nothing changed.
    Unchanged {
        /// The set.
        set_id: String,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// The set never expires (no retention applied at sealing), and stays so.
    NeverExpires {
        /// The set.
        set_id: String,
    },
}

impl Extension {
    /// The set concerned.
    pub fn set_id(&self) -> &str {
        match self {
            Extension::Extended { set_id, .. } | Extension::Unchanged { set_id, .. } | Extension::NeverExpires { set_id } => {
                set_id
            }
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Journal {
    /// Lengthens the retention of `set_ids` to `until`, all or nothing, in one transaction:
    /// `recordings.expires_at` becomes `until` (milliseconds kept), with one audit event
    /// `retention_extended` per changed set (`actor`; details `before`, `after`, `reason`).
    /// The expiry in a set's signed metadata stays as sealed; the journal's is the latest.
    ///
    /// Refused, changing nothing: `until` not after `now` ([`JournalError::Invalid`]), a
    /// set that does not exist ([`JournalError::Missing`]), a set that expires after
    /// `until` (retention is never shortened; `Invalid`), an empty `reason` or no set.
    /// A set that never expires stays so ([`Extension::NeverExpires`]); one that expires
    /// at `until` already is [`Extension::Unchanged`]. A set id named twice counts once.
    pub fn extend_retention(
        &self,
        set_ids: &[String],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        actor: &str,
        reason: &str,
    ) -> Result<Vec<Extension>, JournalError> {
        // The journal keeps milliseconds: compare what will be stored.
        let until = DateTime::from_timestamp_millis(until.timestamp_millis()).unwrap_or(until);
        let invalid = |what, value: String, reason: String| JournalError::Invalid { what, value, reason };
        if until <= now {
            return Err(invalid(
                "retention end",
                rfc3339(until),
                format!("it is not in the future (now {}): retention can only be lengthened", rfc3339(now)),
            ));
        }
        if reason.trim().is_empty() {
            return Err(invalid("reason", reason.to_owned(), "an extension needs a reason for the audit trail".to_owned()));
        }
        if set_ids.is_empty() {
            return Err(invalid("set list", String::new(), "no set to extend".to_owned()));
        }
        let op = "extend retention";
        let mut s = self.store.begin(TxKind::Write, op)?;
        let mut seen = std::collections::HashSet::new();
        let mut plan = Vec::new();
        for id in set_ids.iter().filter(|id| seen.insert(id.as_str())) {
            let Some(current) = s.query_opt(
                op,
                "SELECT expires_at FROM recordings WHERE set_id = ?1{FOR UPDATE}",
                params![id.as_str()],
                |r| r.opt_time(0),
            )?
            else {
                return Err(self.store.missing(format!("recording set {id:?}")));
            };
            plan.push(match current {
                None => Extension::NeverExpires { set_id: id.clone() },
                Some(before) if before > until => {
                    return Err(invalid(
                        "retention end",
                        rfc3339(until),
                        format!(
                            "set {id} expires later, at {}; retention is never shortened (nothing was changed)",
                            rfc3339(before)
                        ),
                    ));
                }
                Some(before) if before == until => Extension::Unchanged { set_id: id.clone(), expires_at: before },
                Some(before) => Extension::Extended { set_id: id.clone(), before, after: until },
            });
        }
        for e in &plan {
            let Extension::Extended { set_id, before, after } = e else { continue };
            s.execute(
                op,
                "UPDATE recordings SET expires_at = ?2 WHERE set_id = ?1",
                params![set_id.as_str(), *after],
            )?;
            insert_audit(
                &mut s,
                op,
                &AuditKind::RetentionExtended,
                now,
                Some(actor),
                Some(set_id),
                &serde_json::json!({"before": rfc3339(*before), "after": rfc3339(*after), "reason": reason}),
            )?;
        }
        s.commit(op)?;
        Ok(plan)
    }
}
