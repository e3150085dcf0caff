//! Sealing a deletion receipt or an audit checkpoint into the chain, through the one
//! sealing path ([`cr_sign::seal_into_chain`]), and handing it to the spool.

use chrono::{DateTime, Utc};
use cr_journal::{AuditHead, DeletedBy, FileEntry, Journal, NewChainSet, SetKind};
use cr_sign::{HashedFiles, Identity, SealedSet};
use cr_storage::Spool;
use cr_types::chain_set::{AuditCheckpoint, Confirmation, DeletedSet, DeletionReceipt, DeletionRule};

use crate::error::PassError;

/// Who seals, and where sealed sets go.
pub(crate) struct Sealer<'a> {
    pub(crate) journal: &'a Journal,
    pub(crate) identity: &'a Identity,
    pub(crate) spool: &'a Spool,
    pub(crate) module_id: &'a str,
}

/// A new set id for a chain set sealed at `at`.
fn new_id(at: DateTime<Utc>) -> String {
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    cr_types::set_id::new(at, r)
}

fn files_of(sealed: &SealedSet) -> Vec<FileEntry> {
    sealed.files.iter().map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() }).collect()
}

/// The receipt's inputs.
pub(crate) struct ReceiptInput<'a> {
    pub(crate) deleted: DeletedSet,
    pub(crate) configuration: &'a str,
    pub(crate) rule: DeletionRule,
    pub(crate) rule_text: String,
    pub(crate) confirmations: Vec<Confirmation>,
    pub(crate) targets: Vec<String>,
    pub(crate) actor: &'a str,
}

impl Sealer<'_> {
    /// Seals the receipt (which marks the deleted set deleted in the same journal
    /// transaction) and spools it for `targets`. Returns its id.
    pub(crate) fn receipt(&self, r: ReceiptInput<'_>, at: DateTime<Utc>) -> Result<String, PassError> {
        let id = new_id(at);
        let cert = self.identity.certificate().fingerprint_sha256();
        let meta = |link: &cr_journal::ChainLink| DeletionReceipt {
            format: DeletionReceipt::FORMAT,
            kind: SetKind::DeletionReceipt,
            id: id.clone(),
            module_id: self.module_id.to_owned(),
            chain: link.clone(),
            certificate_sha256: cert.clone(),
            deleted: r.deleted.clone(),
            rule: r.rule.clone(),
            confirmations: r.confirmations.clone(),
            sealed_at: at,
        };
        let deleted = DeletedBy { set_id: r.deleted.id.clone(), actor: r.actor.to_owned(), reason: r.rule_text.clone() };
        self.seal(&id, SetKind::DeletionReceipt, r.configuration, Some(deleted), &r.targets, at, |link| {
            serde_json::to_vec_pretty(&meta(link)).unwrap_or_default()
        })?;
        Ok(id)
    }

    /// Seals the audit trail's head `head` as an audit checkpoint and spools it for
    /// `targets`. Returns its id.
    pub(crate) fn checkpoint(&self, head: &AuditHead, targets: &[String], at: DateTime<Utc>) -> Result<String, PassError> {
        let id = new_id(at);
        let cert = self.identity.certificate().fingerprint_sha256();
        let meta = |link: &cr_journal::ChainLink| AuditCheckpoint {
            format: AuditCheckpoint::FORMAT,
            kind: SetKind::AuditCheckpoint,
            id: id.clone(),
            module_id: self.module_id.to_owned(),
            chain: link.clone(),
            certificate_sha256: cert.clone(),
            audit_event_id: head.id,
            audit_event_sha256: head.sha256.clone(),
            audit_event_at: head.at,
            sealed_at: at,
        };
        self.seal(&id, SetKind::AuditCheckpoint, "", None, targets, at, |link| {
            serde_json::to_vec_pretty(&meta(link)).unwrap_or_default()
        })?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn seal(
        &self,
        id: &str,
        kind: SetKind,
        configuration: &str,
        deleted: Option<DeletedBy>,
        targets: &[String],
        at: DateTime<Utc>,
        metadata: impl FnOnce(&cr_journal::ChainLink) -> Vec<u8>,
    ) -> Result<(), PassError> {
        let staging = self.spool.staging_dir(id)?;
        let meta_path = staging.join(format!("{id}.json"));
        let hashed = HashedFiles::new(id).map_err(cr_sign::ChainSealError::from)?;
        let location = if targets.is_empty() { staging.display().to_string() } else { self.spool.set_dir(id).display().to_string() };
        let cert = self.identity.certificate().fingerprint_sha256();
        let commit = |res: cr_journal::ChainReservation<'_>, sealed: &SealedSet| {
            res.commit_chain_set(
                &sealed.checksum_sha256,
                &NewChainSet {
                    set_id: id.to_owned(),
                    kind,
                    configuration: configuration.to_owned(),
                    started_at: at,
                    files: files_of(sealed),
                    cert_fingerprint: cert.clone(),
                    location: location.clone(),
                    targets: targets.to_vec(),
                    deleted: deleted.clone(),
                },
            )
        };
        let sealed = cr_sign::seal_into_chain(self.journal, self.identity, hashed, id, at, &meta_path, metadata, commit);
        if let Err(e) = sealed {
            let _ = self.spool.incoming(id).map(|slot| slot.discard());
            return Err(e.into());
        }
        // Sealed from here; the spool delivers it (a set with no target stays where it was
        // sealed, in the spool's incoming area, and is named in the journal's location).
        if targets.is_empty() {
            tracing::warn!(set = %id, "{kind} sealed, but there is no target to deliver it to");
            return Ok(());
        }
        self.spool.enqueue(&staging, id, targets, at, at)?;
        Ok(())
    }
}
