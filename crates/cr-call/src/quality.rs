//! Quality at sealing: a leg's measurement ([`cr_audio::LegMeasure`]) as the published
//! figures ([`LegQuality`], the workspace's one type for them, in cr-types).

use cr_audio::LegMeasure;
use cr_types::LegQuality;

/// The published figures of `side`'s leg, from its measurement.
///
/// ```
/// let m = cr_audio::LegMeasure { from_rtp: true, sample_rate: 8000, packets_expected: 500,
///     packets_received: 475, longest_gap_samples: 160, samples: 76_000, silent_samples: 0 };
/// let q = cr_call::leg_quality("caller", &m);
/// assert_eq!((q.packets_lost, q.longest_gap_ms, q.loss_percent.get()), (25, 20, 5.0));
/// ```
pub fn leg_quality(side: &str, m: &LegMeasure) -> LegQuality {
    LegQuality::from_counts(
        side,
        m.from_rtp,
        m.packets_expected,
        m.packets_received,
        m.longest_gap_ms(),
        m.samples,
        m.silent_samples,
    )
}
