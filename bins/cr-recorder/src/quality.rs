//! Quality at sealing (docs/audio.md): the figures of a set's legs — counted from RTP as
//! the packets arrived (SIPREC), else derived from the legs' audio (the ingest API, legs a
//! crash left behind) — and what the `[quality]` thresholds make of them.

use std::path::Path;

use anyhow::Context;
use cr_audio::WavReader;
use cr_call::{LegQuality, QualityThresholds, SetQuality, leg_quality};
use cr_types::Channels;

/// The legs a set of channel mode `channels` keeps: caller, callee.
fn kept(channels: Channels) -> (bool, bool) {
    match channels {
        Channels::Caller => (true, false),
        Channels::Callee => (false, true),
        _ => (true, true),
    }
}

/// One leg measured from its audio, then rewound for finalizing.
fn measure(side: &str, reader: &mut WavReader) -> anyhow::Result<LegQuality> {
    let m = cr_audio::measure_audio(reader).with_context(|| format!("measuring the {side} leg's quality"))?;
    reader.rewind().with_context(|| format!("rereading the {side} leg"))?;
    Ok(leg_quality(side, &m))
}

/// The set's quality. `rtp`: the legs counted as packets arrived, when the call came by
/// SIPREC (`siprec`: true, also when no stream was a side); otherwise the legs the set
/// keeps are measured from their audio: the `opened` readers (rewound afterwards), else
/// the files at `caller` / `callee`.
pub(crate) fn assess(
    thresholds: &QualityThresholds,
    channels: Channels,
    rtp: &[LegQuality],
    siprec: bool,
    caller: &Path,
    callee: &Path,
    opened: Option<&mut (Option<WavReader>, Option<WavReader>)>,
) -> anyhow::Result<SetQuality> {
    if siprec {
        return Ok(thresholds.assess(rtp.to_vec()));
    }
    let (want_caller, want_callee) = kept(channels);
    let mut legs = Vec::new();
    match opened {
        Some((a, b)) => {
            for (side, want, reader) in [("caller", want_caller, a), ("callee", want_callee, b)] {
                if let (true, Some(r)) = (want, reader.as_mut()) {
                    legs.push(measure(side, r)?);
                }
            }
        }
        None => {
            for (side, want, path) in [("caller", want_caller, caller), ("callee", want_callee, callee)] {
                if want && path.exists() {
                    let mut r = WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
                    legs.push(measure(side, &mut r)?);
                }
            }
        }
    }
    Ok(thresholds.assess(legs))
}
