//! The chain and sealed sets: reserving and committing a link, reading the chain and a
//! recording. Written once; how a backend makes concurrent reservations wait for each
//! other is its [`TxKind::Chain`] transaction.

use chrono::{DateTime, Utc};

use crate::db::{Bad, Row, TxKind, params};
use crate::error::JournalError;
use crate::model::{
    AuditKind, CallId, ChainEntry, ChainLink, FileEntry, GENESIS_SHA256, NewChainSet, NewRecording,
    RecordingInfo, SetKind,
};
use crate::ops::{UPLOAD_COLUMNS, insert_audit, upload_row};
use crate::store::{Session, SqlStore, check_set_id, check_sha256, to_i64};
use crate::{ChainReservation, Journal};

pub(crate) const CHAIN_COLUMNS: &str = "seq, set_id, prev_sha256, sha256, committed_at";

/// A chain entry from `CHAIN_COLUMNS` starting at column `at`.
pub(crate) fn chain_row_at(r: &Row, at: usize) -> Result<ChainEntry, Bad> {
    Ok(ChainEntry {
        seq: r.u64(at)?,
        set_id: r.text(at + 1)?,
        prev_sha256: r.text(at + 2)?,
        sha256: r.text(at + 3)?,
        committed_at: r.time(at + 4)?,
    })
}

pub(crate) fn chain_row(r: &Row) -> Result<ChainEntry, Bad> {
    chain_row_at(r, 0)
}

/// The details of the `set_sealed` audit event.
fn sealed_details(entry: &ChainEntry, rec: &NewRecording) -> serde_json::Value {
    serde_json::json!({
        "seq": entry.seq,
        "prev_sha256": entry.prev_sha256,
        "sha256": entry.sha256,
        "configuration": rec.configuration,
        "call": rec.call.0,
        "files": rec.files.len(),
        "flags": rec.flags,
        "targets": rec.targets,
    })
}

/// An open chain transaction holding the next link (see
/// [`ChainReservation`](crate::ChainReservation)). Dropped without a commit, it rolls back.
pub(crate) struct Reservation<'a> {
    store: &'a SqlStore,
    session: Session<'a>,
    link: ChainLink,
    set_id: String,
    at: DateTime<Utc>,
}

impl<'a> Reservation<'a> {
    /// The open transaction and the set the link is reserved for: rows written here are
    /// committed with the link, or rolled back with it.
    pub(crate) fn session_and_set(&mut self) -> (&mut Session<'a>, &str) {
        (&mut self.session, &self.set_id)
    }
}

impl Journal {
    /// Reserves the next chain link for set `set_id`, waiting while another process or
    /// handle holds a reservation. `at` becomes the seal time. See [`ChainReservation`].
    pub fn reserve_link(
        &self,
        set_id: &str,
        at: DateTime<Utc>,
    ) -> Result<ChainReservation<'_>, JournalError> {
        check_set_id(set_id)?;
        let op = "reserve a chain link";
        let session = self.store.begin(TxKind::Chain, op)?;
        self.store.hold();
        // From here the reservation's drop rolls back on every early return.
        let mut res = Reservation {
            store: &self.store,
            session,
            link: ChainLink {
                seq: 0,
                prev_sha256: String::new(),
            },
            set_id: set_id.to_owned(),
            at,
        };
        let s = &mut res.session;
        if let Some(seq) = s.query_opt(op, "SELECT seq FROM chain WHERE set_id = ?1", params![set_id], |r| r.i64(0))? {
            return Err(JournalError::Invalid {
                what: "set id",
                value: set_id.to_owned(),
                reason: format!("this set is already sealed as sequence number {seq}"),
            });
        }
        let head = s.query_opt(
            "read the chain head",
            "SELECT seq, sha256 FROM chain ORDER BY seq DESC LIMIT 1",
            params![],
            |r| Ok((r.u64(0)?, r.text(1)?)),
        )?;
        res.link = match head {
            Some((seq, sha)) => ChainLink {
                seq: seq + 1,
                prev_sha256: sha,
            },
            None => ChainLink {
                seq: 1,
                prev_sha256: GENESIS_SHA256.to_owned(),
            },
        };
        Ok(ChainReservation { inner: res })
    }

    /// The last committed link.
    pub fn chain_head(&self) -> Result<Option<ChainEntry>, JournalError> {
        self.store.conn()?.query_opt(
            "read the chain head",
            &format!("SELECT {CHAIN_COLUMNS} FROM chain ORDER BY seq DESC LIMIT 1"),
            params![],
            chain_row,
        )
    }

    /// Up to `limit` committed links from sequence number `from_seq` on, in order.
    pub fn chain(&self, from_seq: u64, limit: u32) -> Result<Vec<ChainEntry>, JournalError> {
        let from = to_i64(from_seq, "sequence number")?;
        self.store.conn()?.query(
            "read the chain",
            &format!("SELECT {CHAIN_COLUMNS} FROM chain WHERE seq >= ?1 ORDER BY seq LIMIT ?2"),
            params![from, i64::from(limit)],
            chain_row,
        )
    }

    /// The set sealed for PBX call id `pbx_call_id`, if any (a call id is recorded once:
    /// the ingest API refuses a second one).
    pub fn set_of_pbx_call(&self, pbx_call_id: &str) -> Result<Option<String>, JournalError> {
        self.store.conn()?.query_opt(
            "look up a call id",
            "SELECT r.set_id FROM recordings r JOIN calls c ON c.id = r.call_id \
             WHERE c.pbx_call_id = ?1 ORDER BY r.set_id LIMIT 1",
            params![pbx_call_id],
            |r| r.text(0),
        )
    }

    /// Everything about one sealed set: `None` when the journal has no such set (files of a
    /// set that is not here were never sealed).
    pub fn recording(&self, set_id: &str) -> Result<Option<RecordingInfo>, JournalError> {
        let op = "read a recording";
        let mut s = self.store.begin(TxKind::Read, op)?;
        let head = s.query_opt(
            op,
            &format!(
                "SELECT r.set_id, coalesce(r.call_id, 0), r.configuration, r.started_at, r.ended_at, r.channels, \
                 r.cert_fingerprint, r.flags, r.location, r.sealed_at, r.deleted_at, r.expires_at, \
                 r.kind, r.deletion_receipt, \
                 c.{} FROM recordings r JOIN chain c ON c.seq = r.chain_seq WHERE r.set_id = ?1",
                CHAIN_COLUMNS.replace(", ", ", c.")
            ),
            params![set_id],
            |r| {
                Ok(RecordingInfo {
                    set_id: r.text(0)?,
                    call: CallId(r.i64(1)?),
                    configuration: r.text(2)?,
                    started_at: r.time(3)?,
                    ended_at: r.time(4)?,
                    channels: r.text(5)?,
                    cert_fingerprint: r.text(6)?,
                    flags: r.list(7)?,
                    location: r.opt_text(8)?,
                    sealed_at: r.time(9)?,
                    deleted_at: r.opt_time(10)?,
                    expires_at: r.opt_time(11)?,
                    kind: set_kind(&r.text(12)?)?,
                    deletion_receipt: r.opt_text(13)?,
                    chain: chain_row_at(r, 14)?,
                    files: Vec::new(),
                    uploads: Vec::new(),
                })
            },
        )?;
        let Some(mut info) = head else {
            return Ok(None);
        };
        info.files = s.query(
            "read a recording's files",
            "SELECT name, size, sha256 FROM recording_files WHERE set_id = ?1 ORDER BY name",
            params![set_id],
            |r| {
                Ok(FileEntry {
                    name: r.text(0)?,
                    size: r.u64(1)?,
                    sha256: r.text(2)?,
                })
            },
        )?;
        info.uploads = s.query(
            "read a recording's uploads",
            &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE set_id = ?1 ORDER BY target"),
            params![set_id],
            upload_row,
        )?;
        s.commit(op)?;
        Ok(Some(info))
    }
}

impl Reservation<'_> {
    pub(crate) fn link(&self) -> &ChainLink {
        &self.link
    }

    fn insert_link(&mut self, sha256: &str) -> Result<ChainEntry, JournalError> {
        let seq = to_i64(self.link.seq, "sequence number")?;
        self.session.execute(
            "commit a chain link",
            "INSERT INTO chain (seq, set_id, prev_sha256, sha256, committed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, &self.set_id, &self.link.prev_sha256, sha256, self.at],
        )?;
        Ok(ChainEntry {
            seq: self.link.seq,
            set_id: self.set_id.clone(),
            prev_sha256: self.link.prev_sha256.clone(),
            sha256: sha256.to_owned(),
            committed_at: self.at,
        })
    }

    fn audit_and_commit(
        &mut self,
        op: &'static str,
        details: &serde_json::Value,
    ) -> Result<(), JournalError> {
        self.audit_kind_and_commit(op, &AuditKind::SetSealed, details)
    }

    fn audit_kind_and_commit(
        &mut self,
        op: &'static str,
        kind: &AuditKind,
        details: &serde_json::Value,
    ) -> Result<(), JournalError> {
        let (at, set_id) = (self.at, self.set_id.clone());
        insert_audit(&mut self.session, op, kind, at, None, Some(&set_id), details)?;
        self.session.commit("commit a chain link")
    }

    /// Commits the link with a set that records no call (receipt, checkpoint); a receipt
    /// marks the set it records deleted in the same transaction.
    pub(crate) fn commit_chain_set(
        mut self,
        checksum_sha256: &str,
        set: &NewChainSet,
    ) -> Result<ChainEntry, JournalError> {
        if set.kind == SetKind::DecisionLog {
            return Err(JournalError::Invalid {
                what: "chain set",
                value: set.set_id.clone(),
                reason: "a decision log is committed with the entries it seals (commit_decision_log)".to_owned(),
            });
        }
        let (entry, audit_kind, details) = self.insert_chain_set(checksum_sha256, set)?;
        self.audit_kind_and_commit("record a chain set", &audit_kind, &details)?;
        Ok(entry)
    }

    /// Commits the link with a decision-log set and marks `entries` (decision-log ids)
    /// sealed in it, in one transaction; an entry sealed already (by another node's pass,
    /// say) or missing refuses the whole commit, so no entry is sealed twice.
    pub(crate) fn commit_decision_log(
        mut self,
        checksum_sha256: &str,
        set: &NewChainSet,
        entries: &[u64],
    ) -> Result<ChainEntry, JournalError> {
        if set.kind != SetKind::DecisionLog || entries.is_empty() {
            return Err(JournalError::Invalid {
                what: "decision log",
                value: set.set_id.clone(),
                reason: format!("a {} with {} entries is not a decision log", set.kind, entries.len()),
            });
        }
        let (entry, audit_kind, mut details) = self.insert_chain_set(checksum_sha256, set)?;
        let op = "mark decision-log entries sealed";
        for id in entries {
            let id = to_i64(*id, "decision-log entry")?;
            let n = self.session.execute(
                op,
                "UPDATE decision_log SET sealed_in = ?1 WHERE id = ?2 AND sealed_in IS NULL",
                params![&set.set_id, id],
            )?;
            if n != 1 {
                return Err(JournalError::Invalid {
                    what: "decision-log entry",
                    value: id.to_string(),
                    reason: "it is sealed already, or not in the journal".to_owned(),
                });
            }
        }
        details["entries"] = serde_json::Value::from(entries.len());
        self.audit_kind_and_commit(op, &audit_kind, &details)?;
        Ok(entry)
    }

    /// Inserts the link and the chain set's rows (without committing): the entry, the
    /// audit kind and the details of its audit event.
    fn insert_chain_set(
        &mut self,
        checksum_sha256: &str,
        set: &NewChainSet,
    ) -> Result<(ChainEntry, AuditKind, serde_json::Value), JournalError> {
        let sha = check_sha256("checksum file SHA-256", checksum_sha256)?;
        let op = "record a chain set";
        let audit_kind = match set.kind {
            SetKind::DeletionReceipt if set.deleted.is_some() => AuditKind::ReceiptSealed,
            SetKind::AuditCheckpoint if set.deleted.is_none() => AuditKind::AuditCheckpoint,
            SetKind::DecisionLog if set.deleted.is_none() => AuditKind::DecisionLogSealed,
            kind => {
                return Err(JournalError::Invalid {
                    what: "chain set",
                    value: set.set_id.clone(),
                    reason: format!(
                        "a set of kind {kind} {} a deleted set",
                        if set.deleted.is_some() { "cannot name" } else { "must name" }
                    ),
                });
            }
        };
        if set.set_id != self.set_id {
            return Err(JournalError::Invalid {
                what: "set id",
                value: set.set_id.clone(),
                reason: format!("the chain link was reserved for set {:?}", self.set_id),
            });
        }
        let files = checked_files(&set.files)?;
        let entry = self.insert_link(&sha)?;
        let seq = to_i64(entry.seq, "sequence number")?;
        let at = self.at;
        let s = &mut self.session;
        s.execute(
            op,
            "INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, \
             cert_fingerprint, flags, chain_seq, location, sealed_at, kind) \
             VALUES (?1, NULL, ?2, ?3, ?3, '', ?4, '[]', ?5, ?6, ?7, ?8)",
            params![
                &set.set_id,
                &set.configuration,
                set.started_at,
                &set.cert_fingerprint,
                seq,
                &set.location,
                at,
                set.kind.as_str(),
            ],
        )?;
        insert_files_and_uploads(s, op, &set.set_id, &files, &set.targets, at)?;
        let mut details = serde_json::json!({
            "seq": entry.seq, "prev_sha256": entry.prev_sha256, "sha256": entry.sha256,
            "kind": set.kind.as_str(), "targets": set.targets,
        });
        if let Some(d) = &set.deleted {
            let old = s.query_opt(
                op,
                "SELECT location, deletion_receipt, kind FROM recordings WHERE set_id = ?1{FOR UPDATE}",
                params![&d.set_id],
                |r| Ok((r.opt_text(0)?, r.opt_text(1)?, r.text(2)?)),
            )?;
            let location = match old {
                None => return Err(self.store.missing(format!("recording set {:?}", d.set_id))),
                Some((_, Some(receipt), _)) => {
                    return Err(JournalError::Invalid {
                        what: "deleted set",
                        value: d.set_id.clone(),
                        reason: format!("its deletion is recorded already, by receipt {receipt}"),
                    });
                }
                Some((_, None, kind)) if kind != SetKind::Recording.as_str() => {
                    return Err(JournalError::Invalid {
                        what: "deleted set",
                        value: d.set_id.clone(),
                        reason: format!("a {kind} is never deleted"),
                    });
                }
                Some((location, None, _)) => location,
            };
            s.execute(
                op,
                "UPDATE recordings SET location = NULL, deleted_at = coalesce(deleted_at, ?2), \
                 deletion_receipt = ?3 WHERE set_id = ?1",
                params![&d.set_id, at, &set.set_id],
            )?;
            insert_audit(
                s,
                op,
                &AuditKind::SetDeleted,
                at,
                Some(&d.actor),
                Some(&d.set_id),
                &serde_json::json!({"reason": d.reason, "location": location, "receipt": set.set_id}),
            )?;
            details["deleted"] = serde_json::Value::from(d.set_id.clone());
        }
        Ok((entry, audit_kind, details))
    }

    /// Commits only the link and its `set_sealed` audit event.
    pub(crate) fn commit_link(mut self, checksum_sha256: &str) -> Result<ChainEntry, JournalError> {
        let sha = check_sha256("checksum file SHA-256", checksum_sha256)?;
        let entry = self.insert_link(&sha)?;
        self.audit_and_commit(
            "commit a chain link",
            &serde_json::json!({"seq": entry.seq, "prev_sha256": entry.prev_sha256, "sha256": entry.sha256}),
        )?;
        Ok(entry)
    }

    /// Commits the link with the recording, its files and uploads.
    pub(crate) fn commit(
        mut self,
        checksum_sha256: &str,
        rec: &NewRecording,
    ) -> Result<ChainEntry, JournalError> {
        let sha = check_sha256("checksum file SHA-256", checksum_sha256)?;
        if rec.set_id != self.set_id {
            return Err(JournalError::Invalid {
                what: "set id",
                value: rec.set_id.clone(),
                reason: format!("the chain link was reserved for set {:?}", self.set_id),
            });
        }
        let files = checked_files(&rec.files)?;
        let op = "record a sealed set";
        let s = &mut self.session;
        if s.query_opt(op, "SELECT id FROM calls WHERE id = ?1", params![rec.call.0], |r| r.i64(0))?
            .is_none()
        {
            return Err(self.store.missing(format!(
                "call {} (record the call before sealing its set)",
                rec.call
            )));
        }
        let entry = self.insert_link(&sha)?;
        let flags = serde_json::Value::from(rec.flags.clone()).to_string();
        let seq = to_i64(entry.seq, "sequence number")?;
        let s = &mut self.session;
        s.execute(
            op,
            "INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, \
             cert_fingerprint, flags, chain_seq, location, sealed_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                &rec.set_id,
                rec.call.0,
                &rec.configuration,
                rec.started_at,
                rec.ended_at,
                &rec.channels,
                &rec.cert_fingerprint,
                &flags,
                seq,
                &rec.location,
                self.at,
                rec.expires_at,
            ],
        )?;
        insert_files_and_uploads(s, op, &rec.set_id, &files, &rec.targets, self.at)?;
        self.audit_and_commit(op, &sealed_details(&entry, rec))?;
        Ok(entry)
    }
}

/// A set's files as stored: name, size, SHA-256 (checked).
fn checked_files(files: &[FileEntry]) -> Result<Vec<(&str, i64, String)>, JournalError> {
    files
        .iter()
        .map(|f| Ok((f.name.as_str(), to_i64(f.size, "file size")?, check_sha256("file SHA-256", &f.sha256)?)))
        .collect()
}

/// The rows of a newly sealed set's files and its `pending` uploads.
fn insert_files_and_uploads(
    s: &mut Session<'_>,
    op: &'static str,
    set_id: &str,
    files: &[(&str, i64, String)],
    targets: &[String],
    at: DateTime<Utc>,
) -> Result<(), JournalError> {
    for (name, size, sha) in files {
        s.execute(
            op,
            "INSERT INTO recording_files (set_id, name, size, sha256) VALUES (?1, ?2, ?3, ?4)",
            params![set_id, *name, *size, sha],
        )?;
    }
    for t in targets {
        s.execute(
            op,
            "INSERT INTO uploads (set_id, target, state, queued_at) VALUES (?1, ?2, 'pending', ?3) \
             ON CONFLICT DO NOTHING",
            params![set_id, t, at],
        )?;
    }
    Ok(())
}

/// A stored set kind.
pub(crate) fn set_kind(s: &str) -> Result<SetKind, Bad> {
    SetKind::parse(s).ok_or(Bad { what: "set kind", value: s.to_owned() })
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        // The session (a field, dropped after this) rolls back an uncommitted link: the
        // number is free again.
        self.store.release();
    }
}
