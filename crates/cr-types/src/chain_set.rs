//! What the chain holds besides recordings: the kinds of chain set, the chain link every
//! set's metadata names, and the published metadata of a **deletion receipt** and of an
//! **audit checkpoint** (`<id>.json` of such a set, covered by its signature).
//!
//! Both are versioned ([`DeletionReceipt::FORMAT`], [`AuditCheckpoint::FORMAT`], written as
//! `format`); a field is only ever added. cr-verify reads them to account for sets that
//! retention or an approved request deleted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The chain link of a set (`chain` in its metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The checksum file's SHA-256 of the previous set of this installation's chain.
    pub prev_sha256: String,
    /// The set's place in the chain.
    pub seq: u64,
}

/// What a set of the chain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SetKind {
    /// A recording of a call.
    #[default]
    #[serde(rename = "set")]
    Recording,
    /// The signed record that a set was deleted.
    #[serde(rename = "deletion-receipt")]
    DeletionReceipt,
    /// The audit trail's head, sealed into the chain.
    #[serde(rename = "audit-checkpoint")]
    AuditCheckpoint,
    /// Calls not recorded and calls that failed to record, sealed into the chain
    /// ([`crate::decision_log`]).
    #[serde(rename = "decision-log")]
    DecisionLog,
}

impl SetKind {
    /// Every kind, in the order they were introduced.
    pub const ALL: [SetKind; 4] = [SetKind::Recording, SetKind::DeletionReceipt, SetKind::AuditCheckpoint, SetKind::DecisionLog];

    /// The stored and published form: `set`, `deletion-receipt`, `audit-checkpoint`,
    /// `decision-log`.
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Recording => "set",
            SetKind::DeletionReceipt => "deletion-receipt",
            SetKind::AuditCheckpoint => "audit-checkpoint",
            SetKind::DecisionLog => "decision-log",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        SetKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for SetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The deleted set, as a receipt names it: enough for a verifier to put it back into the
/// chain in its mind (its link to the set before and the hash the set after names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedSet {
    /// Its id.
    pub id: String,
    /// Its sequence number.
    pub seq: u64,
    /// The SHA-256 its own metadata named as its predecessor's.
    pub prev_sha256: String,
    /// The SHA-256 of its checksum file (`<id>.sha256`), which the next set names.
    pub checksum_sha256: String,
    /// Start of the recorded call.
    pub started_at: DateTime<Utc>,
}

/// Why a set was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DeletionRule {
    /// Its retention ended.
    RetentionExpired {
        /// The end of its retention.
        expires_at: DateTime<Utc>,
    },
    /// A deletion request approved under four eyes (a set recorded in error).
    Request {
        /// The request number.
        request: i64,
        /// The reason given.
        reason: String,
        /// The supervisor who asked.
        requested_by: String,
        /// The other supervisor, who approved.
        approved_by: String,
        /// When it was approved.
        approved_at: DateTime<Utc>,
    },
}

/// One place the deleted set lay, and what looking again there found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The target's name; `local` for the recorder's own spool.
    pub target: String,
    /// Where the set lay there.
    pub location: String,
    /// Files deleted.
    pub removed: u64,
    /// Files that were already gone.
    pub already_absent: u64,
    /// When the target confirmed that none of the set's files is left.
    pub confirmed_at: DateTime<Utc>,
}

/// The metadata of a deletion receipt (`kind: "deletion-receipt"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionReceipt {
    /// [`DeletionReceipt::FORMAT`].
    pub format: u32,
    /// Always [`SetKind::DeletionReceipt`].
    pub kind: SetKind,
    /// The receipt's own set id.
    pub id: String,
    /// The installation's module id.
    pub module_id: String,
    /// The receipt's own chain link.
    pub chain: ChainLink,
    /// SHA-256 fingerprint of the certificate that verifies the seal.
    pub certificate_sha256: String,
    /// The set that was deleted.
    pub deleted: DeletedSet,
    /// Why.
    pub rule: DeletionRule,
    /// Every place it lay, each confirmed empty.
    pub confirmations: Vec<Confirmation>,
    /// When the receipt was sealed.
    pub sealed_at: DateTime<Utc>,
}

impl DeletionReceipt {
    /// The version of the format this struct writes.
    pub const FORMAT: u32 = 1;
}

/// The metadata of an audit checkpoint (`kind: "audit-checkpoint"`): the head of the
/// journal's audit chain at `sealed_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// [`AuditCheckpoint::FORMAT`].
    pub format: u32,
    /// Always [`SetKind::AuditCheckpoint`].
    pub kind: SetKind,
    /// The checkpoint's own set id.
    pub id: String,
    /// The installation's module id.
    pub module_id: String,
    /// The checkpoint's own chain link.
    pub chain: ChainLink,
    /// SHA-256 fingerprint of the certificate that verifies the seal.
    pub certificate_sha256: String,
    /// The id of the last audit event.
    pub audit_event_id: i64,
    /// Its SHA-256 (which covers every event before it).
    pub audit_event_sha256: String,
    /// When it was written.
    pub audit_event_at: DateTime<Utc>,
    /// When the checkpoint was sealed.
    pub sealed_at: DateTime<Utc>,
}

impl AuditCheckpoint {
    /// The version of the format this struct writes.
    pub const FORMAT: u32 = 1;
}

/// Just the `kind` of a set's metadata (absent: a recording).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct KindOnly {
    /// The kind.
    #[serde(default)]
    pub kind: SetKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    // Guards against: a renamed kind string, which every sealed receipt carries for good.
    #[test]
    fn kinds_keep_their_published_names() {
        for k in SetKind::ALL {
            assert_eq!(SetKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(SetKind::parse("Set"), None);
        let meta: KindOnly = serde_json::from_str(r#"{"id": "x", "chain": {"seq": 1}}"#).unwrap_or(KindOnly { kind: SetKind::AuditCheckpoint });
        assert_eq!(meta.kind, SetKind::Recording);
    }

    #[test]
    fn a_rule_names_its_kind() {
        let t = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let v = serde_json::to_value(DeletionRule::RetentionExpired { expires_at: t }).unwrap_or_default();
        assert_eq!(v["kind"], "retention-expired");
        let r = DeletionRule::Request { request: 7, reason: "private".into(), requested_by: "a".into(), approved_by: "b".into(), approved_at: t };
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(v["kind"], "request");
        assert_eq!(v["approved_by"], "b");
        assert_eq!(serde_json::from_value::<DeletionRule>(v).ok(), Some(r));
    }
}
