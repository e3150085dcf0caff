//! Quality at sealing, as published (docs/audio.md, docs/reference.md §3): each leg's
//! figures ([`LegQuality`]), the thresholds of `[quality]` ([`QualityThresholds`]) and
//! what they make of a set ([`SetQuality`]): the reasons it is flagged `quality`. One type
//! for the set metadata, the journal and the uploader's mail; cr-call measures, this
//! assesses.
//!
//! ```
//! use cr_types::{LegQuality, QualityThresholds};
//! let leg = LegQuality::from_counts("caller", true, 500, 475, 20, 76_000, 0);
//! let q = QualityThresholds::default().assess(vec![leg]);
//! assert_eq!(q.reasons, ["loss"]);
//! assert_eq!(q.legs[0].loss_percent.get(), 5.0);
//! ```

use serde::{Deserialize, Serialize};

/// Reason: a leg lost more packets than `max_loss_percent`.
pub const REASON_LOSS: &str = "loss";
/// Reason: a leg's longest gap is longer than `max_gap_ms`.
pub const REASON_GAP: &str = "gap";
/// Reason: a leg's digital silence exceeds `max_silence_percent`.
pub const REASON_SILENCE: &str = "silence";
/// Reason: one party was silent throughout while the other was not.
pub const REASON_ONE_SIDED: &str = "one_sided";
/// Every reason, in the order they are reported (and shown in `/metrics`).
pub const REASONS: [&str; 4] = [REASON_LOSS, REASON_GAP, REASON_SILENCE, REASON_ONE_SIDED];

/// A percentage, rounded to two decimals; always finite (so it compares as equal to
/// itself: the metadata types are `Eq`).
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Percent(f64);

impl Eq for Percent {}

impl Percent {
    /// `v` rounded to two decimals; a value that is not finite becomes 0.
    pub fn new(v: f64) -> Self {
        Self(if v.is_finite() { (v * 100.0).round() / 100.0 } else { 0.0 })
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} %", self.0)
    }
}

/// One leg's figures in the set metadata (`quality.legs`), keys in alphabetical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegQuality {
    /// The longest gap in milliseconds (docs/audio.md: between two received packets' audio
    /// for RTP legs, a silent run inside the audio for WAV legs).
    pub longest_gap_ms: u64,
    /// Packets lost, in percent of those expected.
    pub loss_percent: Percent,
    /// Packets expected from the sequence numbers (RTP) or 20 ms frames of audio (WAV).
    pub packets_expected: u64,
    /// Expected minus received (never below 0).
    pub packets_lost: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Samples assessed for silence.
    pub samples: u64,
    /// `caller` or `callee`.
    pub side: String,
    /// Digital silence, in percent of the samples assessed.
    pub silence_percent: Percent,
    /// Samples of digital silence.
    pub silent_samples: u64,
    /// No sample that is not digital silence (also: nothing received).
    pub silent_throughout: bool,
    /// `rtp` (counted as packets arrived) or `audio` (derived from a WAV leg).
    pub source: String,
}

impl LegQuality {
    /// The published figures of `side`'s leg from its counts: `rtp` when counted from
    /// packets (else `audio`); gap in milliseconds. The percentages are derived here, once
    /// (loss 0 when nothing was expected; silence 100 when no sample was assessed).
    #[allow(clippy::too_many_arguments)]
    pub fn from_counts(
        side: &str,
        from_rtp: bool,
        packets_expected: u64,
        packets_received: u64,
        longest_gap_ms: u64,
        samples: u64,
        silent_samples: u64,
    ) -> Self {
        let lost = packets_expected.saturating_sub(packets_received);
        let pct = |a: u64, b: u64, none: f64| if b == 0 { none } else { a as f64 * 100.0 / b as f64 };
        Self {
            longest_gap_ms,
            loss_percent: Percent::new(pct(lost, packets_expected, 0.0)),
            packets_expected,
            packets_lost: lost,
            packets_received,
            samples,
            side: side.to_owned(),
            silence_percent: Percent::new(pct(silent_samples, samples, 100.0)),
            silent_samples,
            silent_throughout: silent_samples == samples,
            source: if from_rtp { "rtp" } else { "audio" }.to_owned(),
        }
    }
}

impl LegQuality {
    /// The figures in words: `caller: 25 of 500 packets lost (5.00 %), longest gap 20 ms,
    /// silence 0.00 %`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} of {} packets lost ({}), longest gap {} ms, silence {}{}",
            self.side,
            self.packets_lost,
            self.packets_expected,
            self.loss_percent,
            self.longest_gap_ms,
            self.silence_percent,
            if self.silent_throughout { " (silent throughout)" } else { "" }
        )
    }
}

/// `[quality]`: when a set is flagged `quality` (docs/reference.md §1). Each default is
/// named on its field; the same values are written into every set's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityThresholds {
    /// A leg's longest gap is longer than this: reason `gap`. Default 2000.
    pub max_gap_ms: u64,
    /// A leg lost more than this percentage of its packets: reason `loss`. Default 1.
    pub max_loss_percent: Percent,
    /// A leg is more digital silence than this percentage: reason `silence`. Default 95.
    pub max_silence_percent: Percent,
    /// Flag a set whose one party is silent throughout while the other is not: reason
    /// `one_sided`. Default true.
    pub one_sided: bool,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        Self { max_loss_percent: Percent::new(1.0), max_gap_ms: 2000, max_silence_percent: Percent::new(95.0), one_sided: true }
    }
}

impl QualityThresholds {
    /// A problem with the values, named by key (percentages must lie in 0..=100).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, p) in [("max_loss_percent", self.max_loss_percent), ("max_silence_percent", self.max_silence_percent)] {
            if !(0.0..=100.0).contains(&p.get()) {
                return Err((key, format!("{} is not a percentage: write a number from 0 to 100", p.get())));
            }
        }
        Ok(())
    }

    /// What these thresholds make of a set's legs.
    pub fn assess(&self, legs: Vec<LegQuality>) -> SetQuality {
        let any = |f: &dyn Fn(&LegQuality) -> bool| legs.iter().any(f);
        let silent = legs.iter().filter(|l| l.silent_throughout).count();
        let one_sided = legs.len() == 2 && silent == 1;
        let mut reasons = Vec::new();
        if any(&|l| l.loss_percent > self.max_loss_percent) {
            reasons.push(REASON_LOSS.to_owned());
        }
        if any(&|l| l.longest_gap_ms > self.max_gap_ms) {
            reasons.push(REASON_GAP.to_owned());
        }
        if any(&|l| l.silence_percent > self.max_silence_percent) {
            reasons.push(REASON_SILENCE.to_owned());
        }
        if self.one_sided && one_sided {
            reasons.push(REASON_ONE_SIDED.to_owned());
        }
        SetQuality { legs, one_sided, reasons, thresholds: *self }
    }
}

/// The set metadata's `quality` block (format 3): every leg of the set, whether it is
/// one-sided, the reasons it is flagged and the thresholds applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetQuality {
    /// The set's legs, caller first.
    pub legs: Vec<LegQuality>,
    /// Exactly one of two legs silent throughout.
    pub one_sided: bool,
    /// Why the set is flagged `quality` (`loss`, `gap`, `silence`, `one_sided`); empty:
    /// not flagged.
    pub reasons: Vec<String>,
    /// The `[quality]` thresholds applied.
    pub thresholds: QualityThresholds,
}

impl SetQuality {
    /// Whether the set is flagged `quality`.
    pub fn flagged(&self) -> bool {
        !self.reasons.is_empty()
    }

    /// One line for logs: each leg's figures.
    pub fn summary(&self) -> String {
        self.legs.iter().map(LegQuality::line).collect::<Vec<_>>().join("; ")
    }
}

/// A sealed set's quality as the journal keeps it (the thresholds applied are in its
/// metadata): what the uploader's daily list and the console show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityRecord {
    /// The set.
    pub set_id: String,
    /// When it was sealed.
    pub sealed_at: chrono::DateTime<chrono::Utc>,
    /// Why it is flagged `quality` (empty: not flagged).
    pub reasons: Vec<String>,
    /// Exactly one of two legs silent throughout.
    pub one_sided: bool,
    /// Its legs, caller first.
    pub legs: Vec<LegQuality>,
}

impl QualityRecord {
    /// One line per leg: its figures (for logs and mails).
    pub fn leg_lines(&self) -> Vec<String> {
        self.legs.iter().map(LegQuality::line).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(side: &str, lost: u64, gap: u64, silent: u64) -> LegQuality {
        LegQuality::from_counts(side, true, 100, 100 - lost, gap, 1000, silent)
    }

    #[test]
    fn each_threshold_gives_its_reason_and_only_past_it() {
        let t = QualityThresholds::default();
        assert!(!t.assess(vec![leg("caller", 1, 2000, 950), leg("callee", 0, 0, 0)]).flagged(), "at the limits");
        assert_eq!(t.assess(vec![leg("caller", 2, 0, 0), leg("callee", 0, 0, 0)]).reasons, ["loss"]);
        assert_eq!(t.assess(vec![leg("caller", 0, 2001, 0), leg("callee", 0, 0, 0)]).reasons, ["gap"]);
        assert_eq!(t.assess(vec![leg("caller", 0, 0, 951), leg("callee", 0, 0, 0)]).reasons, ["silence"]);
        let q = t.assess(vec![leg("caller", 0, 0, 0), leg("callee", 0, 0, 1000)]);
        assert_eq!((q.one_sided, q.reasons.clone()), (true, vec!["silence".to_owned(), "one_sided".to_owned()]));
        let both = t.assess(vec![leg("caller", 0, 0, 1000), leg("callee", 0, 0, 1000)]);
        assert!(!both.one_sided, "both silent is not one-sided");
        let off = QualityThresholds { one_sided: false, max_silence_percent: Percent::new(100.0), ..t };
        assert!(!off.assess(vec![leg("caller", 0, 0, 0), leg("callee", 0, 0, 1000)]).flagged());
    }

    #[test]
    fn thresholds_read_from_toml_with_defaults_and_refuse_unknown_keys() {
        let t: QualityThresholds = toml_like("max_loss_percent = 5\nmax_gap_ms = 3000");
        assert_eq!((t.max_loss_percent.get(), t.max_gap_ms, t.max_silence_percent.get(), t.one_sided), (5.0, 3000, 95.0, true));
        assert!(serde_json::from_str::<QualityThresholds>(r#"{"max_loss":1}"#).is_err());
        let bad = QualityThresholds { max_silence_percent: Percent::new(120.0), ..Default::default() };
        assert_eq!(bad.check().map_err(|e| e.0), Err("max_silence_percent"));
    }

    /// `key = value` lines as JSON (the crate has no TOML parser; cr-setup reads the file).
    fn toml_like(text: &str) -> QualityThresholds {
        let body: Vec<String> =
            text.lines().filter_map(|l| l.split_once(" = ")).map(|(k, v)| format!("\"{k}\":{v}")).collect();
        serde_json::from_str(&format!("{{{}}}", body.join(","))).unwrap_or_default()
    }
}
