//! The chain and sealed sets: reserving and committing a link, reading the chain and a
//! recording. Written once; how a backend makes concurrent reservations wait for each
//! other is its [`TxKind::Chain`] transaction.

use chrono::{DateTime, Utc};

use crate::db::{Bad, Row, TxKind, params};
use crate::error::JournalError;
use crate::model::{
    AuditKind, CallId, ChainEntry, ChainLink, FileEntry, GENESIS_SHA256, NewRecording,
    RecordingInfo,
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
                "SELECT r.set_id, r.call_id, r.configuration, r.started_at, r.ended_at, r.channels, \
                 r.cert_fingerprint, r.flags, r.location, r.sealed_at, r.deleted_at, r.expires_at, \
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
                    chain: chain_row_at(r, 12)?,
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
        let (at, set_id) = (self.at, self.set_id.clone());
        insert_audit(&mut self.session, op, &AuditKind::SetSealed, at, None, Some(&set_id), details)?;
        self.session.commit("commit a chain link")
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
        let mut files = Vec::with_capacity(rec.files.len());
        for f in &rec.files {
            files.push((
                f.name.as_str(),
                to_i64(f.size, "file size")?,
                check_sha256("file SHA-256", &f.sha256)?,
            ));
        }
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
        for (name, size, sha) in &files {
            s.execute(
                op,
                "INSERT INTO recording_files (set_id, name, size, sha256) VALUES (?1, ?2, ?3, ?4)",
                params![&rec.set_id, *name, *size, sha],
            )?;
        }
        for t in &rec.targets {
            s.execute(
                op,
                "INSERT INTO uploads (set_id, target, state, queued_at) VALUES (?1, ?2, 'pending', ?3) \
                 ON CONFLICT DO NOTHING",
                params![&rec.set_id, t, self.at],
            )?;
        }
        self.audit_and_commit(op, &sealed_details(&entry, rec))?;
        Ok(entry)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        // The session (a field, dropped after this) rolls back an uncommitted link: the
        // number is free again.
        self.store.release();
    }
}
