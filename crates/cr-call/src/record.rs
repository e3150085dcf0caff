//! What the recorder knows of a call from its start (`call.json`).

use chrono::{DateTime, Utc};
use cr_policy::{CallFacts, Decision};
use serde::{Deserialize, Serialize};

/// Where a call came from: the `source` of its record and its set's metadata.
pub const SOURCE_SIPREC: &str = "siprec";
/// The ingest API (`POST /v1/recordings`).
pub const SOURCE_API: &str = "api";

/// A call to decide: its PBX call id, its facts and when it started.
#[derive(Debug, Clone)]
pub struct CallStart {
    /// The PBX's call id.
    pub pbx_call_id: String,
    /// Direction and numbers.
    pub facts: CallFacts,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// What the recorder knows of a call from its start; kept as `call.json` beside the legs so
/// that a restart after a crash can seal it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The set id the recording will have.
    pub id: String,
    /// The PBX's call id (SIPREC Call-ID, or what the API caller gave).
    pub pbx_call_id: String,
    /// The journal's row of the call.
    pub journal_call: i64,
    /// Call facts.
    pub facts: CallFacts,
    /// The decision.
    pub decision: Decision,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// "siprec" or "api".
    pub source: String,
}
