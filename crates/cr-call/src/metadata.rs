//! The set metadata (`<id>.json` in every sealed set): a published, signed format that
//! cr-verify, the uploader's templates and sites' own tools read.
//!
//! Its fields and their order are those the recorder has always written (the keys are
//! alphabetical); a field is only ever added. The format carries no version field today:
//! readers tell versions apart by the fields present, and [`SetMetadata::FORMAT`] names
//! the version this struct writes.

use chrono::{DateTime, SecondsFormat, Utc};
use cr_policy::{Channels, Direction};
use serde::{Deserialize, Serialize};

use crate::flags::StreamReport;
use cr_types::SetQuality;

/// The chain link of a set (`chain`): the workspace's one type for it.
pub use cr_types::ChainLink;

/// The metadata of one sealed set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMetadata {
    /// The set's audio files, in the set.
    pub audio: Vec<String>,
    /// The called number after diversions.
    pub callee: String,
    /// The calling number.
    pub caller: String,
    /// SHA-256 fingerprint of the certificate that verifies the seal.
    pub certificate_sha256: String,
    /// The set's chain link.
    pub chain: ChainLink,
    /// Channel mode of the audio.
    pub channels: Channels,
    /// The configuration that recorded the call.
    pub configuration: String,
    /// Which way the call went.
    pub direction: Direction,
    /// Numbers dialled before the callee, oldest first.
    pub diversions: Vec<String>,
    /// Length of the audio.
    pub duration_ms: u64,
    /// End of the call (RFC 3339, milliseconds, UTC).
    #[serde(with = "millis")]
    pub ended_at: DateTime<Utc>,
    /// When the set's retention ends (RFC 3339, milliseconds, UTC): the call's start plus
    /// the retention period of its configuration (or the installation's default), fixed at
    /// sealing. Absent when the set never expires, and in sets sealed before format 2.
    /// The journal's `recordings.expires_at` may lie later (`crctl retention extend`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The set's flags (`recovered`, `shutdown`, `rtp_rejected`, ...).
    pub flags: Vec<String>,
    /// The set id.
    pub id: String,
    /// The recorder installation's module id.
    pub module_id: String,
    /// The PBX's call id.
    pub pbx_call_id: String,
    /// Each leg's figures and the reasons the set is flagged `quality` (format 3; absent
    /// in sets sealed before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<SetQuality>,
    /// Why the call was recorded.
    pub reason: String,
    /// When the set was sealed.
    #[serde(with = "millis")]
    pub sealed_at: DateTime<Utc>,
    /// `siprec` or `api`.
    pub source: String,
    /// Start of the call.
    #[serde(with = "millis")]
    pub started_at: DateTime<Utc>,
    /// What each received stream got (SIPREC; empty for legs recorded elsewhere).
    pub streams: Vec<StreamReport>,
}

impl SetMetadata {
    /// The version of the format this struct writes (not written into the file): 2 adds
    /// `expires_at`, 3 adds `quality`.
    pub const FORMAT: u32 = 3;

    /// The metadata as the set holds it: pretty-printed JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings, numbers and lists cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Times as `2026-11-26T09:30:00.000Z`.
mod millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// An optional time as [`millis`] does it.
mod opt_millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::millis::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else { return Ok(None) };
        DateTime::parse_from_rfc3339(&s).map(|t| Some(t.with_timezone(&Utc))).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // Guards against: the typed metadata drifting from the format sets were sealed in
    // (the `json!` the recorder used before), which cr-verify and sites' tools read.
    #[test]
    fn the_json_is_the_one_sets_have_always_had() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0).single().unwrap_or_default();
        let stream = StreamReport { index: 1, side: Some("callee".into()), packets: 7, lost: Some(0), ..Default::default() };
        let meta = SetMetadata {
            audio: vec!["s.wav".into()],
            callee: "300".into(),
            caller: "+4930999888".into(),
            certificate_sha256: "ab".into(),
            chain: ChainLink { prev_sha256: "00".into(), seq: 4 },
            channels: Channels::Stereo,
            configuration: "trading".into(),
            direction: Direction::Incoming,
            diversions: vec![],
            duration_ms: 1500,
            ended_at: t,
            expires_at: None,
            flags: vec!["shutdown".into()],
            id: "s".into(),
            module_id: "m1".into(),
            pbx_call_id: "c1".into(),
            quality: None,
            reason: "why".into(),
            sealed_at: t,
            source: "siprec".into(),
            started_at: t,
            streams: vec![stream.clone()],
        };
        let ms = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let before = serde_json::json!({
            "id": "s", "module_id": "m1", "configuration": "trading", "channels": Channels::Stereo,
            "direction": Direction::Incoming, "caller": "+4930999888", "callee": "300",
            "diversions": Vec::<String>::new(), "pbx_call_id": "c1", "source": "siprec", "reason": "why",
            "started_at": ms(t), "ended_at": ms(t), "duration_ms": 1500u64, "audio": ["s.wav"],
            "flags": ["shutdown"], "streams": [stream],
            "chain": {"seq": 4u64, "prev_sha256": "00"}, "certificate_sha256": "ab", "sealed_at": ms(t),
        });
        let old = serde_json::to_vec_pretty(&before).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&meta.to_json()), String::from_utf8_lossy(&old));
        let back: SetMetadata = serde_json::from_slice(&old).expect("reads the old form");
        assert_eq!(back, meta);
    }

    // Format 2: `expires_at` in its alphabetical place, in the form of the other times.
    #[test]
    fn the_expiry_is_written_between_ended_at_and_flags() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0).single().unwrap_or_default();
        let text = r#"{"audio":[],"callee":"300","caller":"201","certificate_sha256":"ab","chain":{"prev_sha256":"00","seq":1},"channels":"stereo","configuration":"c","direction":"incoming","diversions":[],"duration_ms":0,"ended_at":"2026-11-26T09:30:00.000Z","expires_at":"2031-11-26T09:30:00.000Z","flags":[],"id":"s","module_id":"m","pbx_call_id":"p","reason":"r","sealed_at":"2026-11-26T09:30:00.000Z","source":"api","started_at":"2026-11-26T09:30:00.000Z","streams":[]}"#;
        let meta: SetMetadata = serde_json::from_str(text).expect("format 2 reads");
        assert_eq!(meta.expires_at, Utc.with_ymd_and_hms(2031, 11, 26, 9, 30, 0).single());
        assert_eq!(meta.ended_at, t);
        assert_eq!(serde_json::to_string(&meta).unwrap_or_default(), text);
        let never = SetMetadata { expires_at: None, ..meta };
        assert!(!String::from_utf8_lossy(&never.to_json()).contains("expires_at"));
        let bad = text.replace("2031-11-26T09:30:00.000Z", "next year");
        assert!(serde_json::from_str::<SetMetadata>(&bad).is_err());
    }

    // Format 3: `quality` in its alphabetical place; sets of format 2 still read (without).
    #[test]
    fn the_quality_block_is_written_between_pbx_call_id_and_reason() {
        let text = r#"{"audio":[],"callee":"300","caller":"201","certificate_sha256":"ab","chain":{"prev_sha256":"00","seq":1},"channels":"stereo","configuration":"c","direction":"incoming","diversions":[],"duration_ms":0,"ended_at":"2026-11-26T09:30:00.000Z","flags":[],"id":"s","module_id":"m","pbx_call_id":"p","reason":"r","sealed_at":"2026-11-26T09:30:00.000Z","source":"api","started_at":"2026-11-26T09:30:00.000Z","streams":[]}"#;
        let old: SetMetadata = serde_json::from_str(text).expect("format 2 reads");
        assert_eq!(old.quality, None);
        let leg = cr_types::LegQuality::from_counts("caller", true, 500, 475, 20, 76_000, 0);
        let meta = SetMetadata { quality: Some(cr_types::QualityThresholds::default().assess(vec![leg])), ..old };
        let json = serde_json::to_string(&meta).unwrap_or_default();
        let q = r#""pbx_call_id":"p","quality":{"legs":[{"longest_gap_ms":20,"loss_percent":5.0,"packets_expected":500,"packets_lost":25,"packets_received":475,"samples":76000,"side":"caller","silence_percent":0.0,"silent_samples":0,"silent_throughout":false,"source":"rtp"}],"one_sided":false,"reasons":["loss"],"thresholds":{"max_gap_ms":2000,"max_loss_percent":1.0,"max_silence_percent":95.0,"one_sided":true}},"reason":"r""#;
        assert!(json.contains(q), "{json}");
        assert_eq!(serde_json::from_str::<SetMetadata>(&json).ok(), Some(meta));
    }
}
