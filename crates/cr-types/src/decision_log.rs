//! The **decision log** (issue 15, item 3): every decision not to record a call and every
//! call that failed to record, as published in a `decision-log` set of the chain.
//!
//! A set holds `<id>.json` ([`DecisionLogSet`], the set's metadata) and
//! `<id>.decisions.jsonl` ([`DecisionLogSet::entries_file`]): one [`DecisionLogEntry`] per
//! line, JSON, in the order the journal numbered them. Both are covered by the set's
//! checksum file and signature like the files of a recording. Both formats are versioned
//! ([`DecisionLogEntry::FORMAT`], [`DecisionLogSet::FORMAT`], written as `format`); a field
//! is only ever added.
//!
//! ```
//! use cr_types::decision_log::{DecisionLogEntry, EntryKind, NO_RULE};
//! let line = r#"{"format":1,"entry":7,"kind":"declined","at":"2026-12-04T09:12:00Z","node":"pbx-01",
//!   "source":"siprec","pbx_call_id":"a1","direction":"incoming","caller":"+4930999888","callee":"202",
//!   "rule":"no rule matched","reason":"incoming call: no configuration records user bob (202)"}"#;
//! let e: DecisionLogEntry = serde_json::from_str(&line.replace('\n', "")).unwrap();
//! assert_eq!((e.kind, e.rule.as_str(), e.memberships.len()), (EntryKind::Declined, NO_RULE, 0));
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chain_set::{ChainLink, SetKind};
use crate::Direction;

/// The `rule` of a call no configuration records.
pub const NO_RULE: &str = "no rule matched";

/// What a PBX does with a call that must be recorded when the recorder cannot take it
/// (`[[recordings]] on_failure`): `block` hangs it up, `allow` lets it go on unrecorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Let the call go on unrecorded (the default; logged as a failure).
    #[default]
    Allow,
    /// Hang the call up (fail closed).
    Block,
}

impl OnFailure {
    /// `block` or `allow`: the written form.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Allow => "allow",
            OnFailure::Block => "block",
        }
    }

    /// Parses the written form.
    pub fn parse(s: &str) -> Option<Self> {
        [OnFailure::Allow, OnFailure::Block].into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for OnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// The policy decided not to record the call.
    Declined,
    /// The call was to be recorded, but no recording was sealed (the `cause` says why).
    Failed,
}

impl EntryKind {
    /// `declined` or `failed`: the stored and written form.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Declined => "declined",
            EntryKind::Failed => "failed",
        }
    }
}

/// A group membership that mattered to a decision: the state it was in, and when and by
/// whom it last changed (absent when it never changed since the configuration set it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipNote {
    /// The group.
    pub group: String,
    /// The user.
    pub user: String,
    /// Logged in (true) or out (false) when the call was decided.
    pub active: bool,
    /// When it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// Who changed it (`crctl`, `api`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

/// One line of a decision log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionLogEntry {
    /// [`DecisionLogEntry::FORMAT`].
    pub format: u32,
    /// The journal's number of the entry, increasing, unique in the installation (0 until
    /// it is stored).
    pub entry: u64,
    /// Declined or failed.
    pub kind: EntryKind,
    /// When the call was decided (declined) or the failure happened (failed).
    pub at: DateTime<Utc>,
    /// The module id of the recorder that decided.
    pub node: String,
    /// Where the call came from: `siprec`, `api` (`POST /v1/decide`), `ingest`.
    pub source: String,
    /// The PBX's call id, when the PBX gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbx_call_id: Option<String>,
    /// Which way the call went.
    pub direction: Direction,
    /// The calling number as the PBX reported it.
    pub caller: String,
    /// The called number (after diversions).
    pub callee: String,
    /// Numbers dialled before, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diversions: Vec<String>,
    /// The rule: [`NO_RULE`] for a declined call, the configuration that was to record a
    /// failed one.
    pub rule: String,
    /// The policy's reason, as in the decision.
    pub reason: String,
    /// The memberships of the call's users in groups some configuration records: their
    /// state at the decision, with the last change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memberships: Vec<MembershipNote>,
    /// A failed call: its configuration's `on_failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// A failed call: why nothing was sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl DecisionLogEntry {
    /// The version of the format this struct writes.
    pub const FORMAT: u32 = 1;
}

/// The metadata of a decision-log set (`kind: "decision-log"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionLogSet {
    /// [`DecisionLogSet::FORMAT`].
    pub format: u32,
    /// Always [`SetKind::DecisionLog`].
    pub kind: SetKind,
    /// The set's id.
    pub id: String,
    /// The module id of the recorder that sealed it.
    pub module_id: String,
    /// The set's chain link.
    pub chain: ChainLink,
    /// SHA-256 fingerprint of the certificate that verifies the seal.
    pub certificate_sha256: String,
    /// The file of entries, `<id>.decisions.jsonl`.
    pub entries_file: String,
    /// How many entries it holds.
    pub entries: u64,
    /// The first entry's number.
    pub first_entry: u64,
    /// The last entry's number.
    pub last_entry: u64,
    /// Entries of declined calls.
    pub declined: u64,
    /// Entries of failed calls.
    pub failed: u64,
    /// The recorders (module ids) whose entries it holds.
    pub nodes: Vec<String>,
    /// When it was sealed.
    pub sealed_at: DateTime<Utc>,
}

impl DecisionLogSet {
    /// The version of the format this struct writes.
    pub const FORMAT: u32 = 1;

    /// The entries file of set `id`.
    pub fn entries_file(id: &str) -> String {
        format!("{id}.decisions.jsonl")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap_or_default()
    }

    // Guards against: renamed published values, which every sealed log carries for good.
    #[test]
    fn published_names_stay() {
        assert_eq!(json(&OnFailure::Block), "\"block\"");
        assert_eq!(json(&OnFailure::Allow), "\"allow\"");
        assert_eq!(json(&EntryKind::Declined), "\"declined\"");
        assert_eq!(json(&EntryKind::Failed), "\"failed\"");
        assert_eq!(OnFailure::parse("block"), Some(OnFailure::Block));
        assert_eq!(OnFailure::parse("Block"), None);
        assert_eq!(OnFailure::default(), OnFailure::Allow);
        assert_eq!(SetKind::parse("decision-log"), Some(SetKind::DecisionLog));
    }
}
