//! What one leg's audio came to, measured from what was really received (docs/audio.md,
//! "Quality at sealing"): packets expected and received, the longest gap, digital silence.
//!
//! Two sources, one result type ([`LegMeasure`]):
//! - [`RtpMeter`]: fed by the leg writer with every RTP packet as it is placed (extended
//!   sequence numbers per segment, positions on the leg's timeline, the decoded samples).
//! - [`measure_audio`]: a finished WAV leg read from start to end (ingested legs, legs a
//!   crash left behind), where packets are not known.

use crate::codec::Codec;
use crate::error::Result;
use crate::wav::{SampleFormat, WavReader};

/// One leg's measured figures. Counts only; percentages are derived ([`LegMeasure::loss_percent`],
/// [`LegMeasure::silence_percent`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegMeasure {
    /// Whether the figures come from RTP packets (else from the audio of a WAV leg).
    pub from_rtp: bool,
    /// Sample rate of the samples counted here (the leg's).
    pub sample_rate: u32,
    /// RTP: per segment (SSRC), the highest extended sequence number minus the first plus
    /// one, summed. Audio: the leg's length in 20 ms frames (rounded up).
    pub packets_expected: u64,
    /// RTP: packets of the accepted source handed to the leg (late and duplicated ones
    /// included). Audio: equal to `packets_expected`.
    pub packets_received: u64,
    /// The longest stretch of the leg's timeline, in samples, between the audio of two
    /// received packets (RTP) or of exactly silent samples between two that are not
    /// (audio). Leading and trailing silence is not a gap.
    pub longest_gap_samples: u64,
    /// Samples assessed for silence: those decoded from received packets (RTP), or every
    /// sample of the leg (audio).
    pub samples: u64,
    /// Of those, samples of digital silence: the codec's zero (0 for linear PCM, µ-law
    /// codes 0xFF/0x7F and G.722; ±8 for A-law codes 0xD5/0x55).
    pub silent_samples: u64,
}

impl LegMeasure {
    /// Packets missing: expected minus received, never below 0 (duplicates can make it so).
    pub fn packets_lost(&self) -> u64 {
        self.packets_expected.saturating_sub(self.packets_received)
    }

    /// Loss in percent of the packets expected (0 when none was expected).
    pub fn loss_percent(&self) -> f64 {
        if self.packets_expected == 0 { 0.0 } else { self.packets_lost() as f64 * 100.0 / self.packets_expected as f64 }
    }

    /// The longest gap in milliseconds.
    pub fn longest_gap_ms(&self) -> u64 {
        if self.sample_rate == 0 { 0 } else { self.longest_gap_samples * 1000 / u64::from(self.sample_rate) }
    }

    /// Digital silence in percent of the samples assessed (100 when there were none: a
    /// leg that got nothing is silent throughout).
    pub fn silence_percent(&self) -> f64 {
        if self.samples == 0 { 100.0 } else { self.silent_samples as f64 * 100.0 / self.samples as f64 }
    }

    /// Silent throughout: no sample assessed that is not digital silence.
    pub fn silent_throughout(&self) -> bool {
        self.silent_samples == self.samples
    }
}

/// Whether a decoded sample of `codec` is digital silence (see [`LegMeasure::silent_samples`]).
fn silent(codec: Codec, s: i16) -> bool {
    match codec {
        Codec::Pcma => s == 8 || s == -8,
        _ => s == 0,
    }
}

/// Gaps open to packets still arriving late: at most this many are kept, the oldest is
/// settled first (a reordering window holds a handful of packets).
const OPEN_GAPS: usize = 16;

/// The RTP side of [`LegMeasure`], fed by the leg writer.
#[derive(Debug, Clone, Default)]
pub(crate) struct RtpMeter {
    m: LegMeasure,
    /// Extended sequence numbers of the current segment: first and highest.
    seq: Option<(i64, i64)>,
    /// End (sample position) of the newest packet's audio on the timeline.
    end: Option<i64>,
    /// Gaps between placed audio that a late packet may still fill, oldest first.
    open: Vec<(i64, i64)>,
}

impl RtpMeter {
    pub(crate) fn new(sample_rate: u32) -> Self {
        Self { m: LegMeasure { from_rtp: true, sample_rate, ..Default::default() }, ..Default::default() }
    }

    /// A new segment (first packet, SSRC change, sender restart): the sequence numbering
    /// starts over.
    pub(crate) fn segment(&mut self) {
        self.close_segment();
    }

    fn close_segment(&mut self) {
        if let Some((first, high)) = self.seq.take() {
            self.m.packets_expected += (high - first + 1).max(0) as u64;
        }
    }

    /// One packet handed to the leg: its sequence number, its decoded samples and where
    /// they go on the timeline (`None`: dropped as too late).
    pub(crate) fn packet(&mut self, seq: u16, codec: Codec, pcm: &[i16], placed: Option<(i64, usize)>) {
        self.seq = Some(match self.seq {
            None => (i64::from(seq), i64::from(seq)),
            Some((first, high)) => {
                let ext = high + i64::from(seq.wrapping_sub(high as u16) as i16);
                (first.min(ext), high.max(ext))
            }
        });
        self.packet_placed(codec, pcm, placed);
    }

    fn packet_placed(&mut self, codec: Codec, pcm: &[i16], placed: Option<(i64, usize)>) {
        self.m.packets_received += 1;
        self.m.samples += pcm.len() as u64;
        self.m.silent_samples += pcm.iter().filter(|&&s| silent(codec, s)).count() as u64;
        let Some((pos, len)) = placed else { return };
        let stop = pos + len as i64;
        match self.end {
            Some(end) if pos > end => {
                if self.open.len() == OPEN_GAPS {
                    let g = self.open.remove(0);
                    self.settle(g);
                }
                self.open.push((end, pos));
            }
            _ => {}
        }
        // A late packet fills (part of) an open gap.
        let mut i = 0;
        while i < self.open.len() {
            let (a, b) = self.open[i];
            if pos < b && stop > a {
                self.open.remove(i);
                for p in [(a, pos.min(b)), (stop.max(a), b)] {
                    if p.1 > p.0 {
                        self.open.insert(i, p);
                        i += 1;
                    }
                }
            } else {
                i += 1;
            }
        }
        self.end = Some(self.end.map_or(stop, |e| e.max(stop)));
    }

    /// A block of samples that is not RTP ([`crate::LegWriter::push_pcm`]): one packet
    /// expected and received, placed at `pos`.
    pub(crate) fn block(&mut self, pcm: &[i16], pos: i64) {
        self.m.packets_expected += 1;
        self.packet_placed(Codec::L16, pcm, Some((pos, pcm.len())));
    }

    fn settle(&mut self, (a, b): (i64, i64)) {
        self.m.longest_gap_samples = self.m.longest_gap_samples.max((b - a).max(0) as u64);
    }

    /// The figures of the whole leg.
    pub(crate) fn finish(&mut self) -> LegMeasure {
        self.close_segment();
        for g in std::mem::take(&mut self.open) {
            self.settle(g);
        }
        self.m
    }
}

/// Samples per 20 ms frame at `rate` (at least 1).
fn frame(rate: u32) -> u64 {
    (u64::from(rate) / 50).max(1)
}

/// Measures a WAV leg from where `reader` stands to its end (open it fresh). No packets
/// are known: expected and received are the leg's 20 ms frames; a gap is a run of
/// digital silence with audio on both sides; silence is counted over every sample.
pub fn measure_audio(reader: &mut WavReader) -> Result<LegMeasure> {
    let rate = reader.info().sample_rate;
    let alaw = reader.info().format == SampleFormat::ALaw && reader.info().channels == 1;
    let codec = if alaw { Codec::Pcma } else { Codec::L16 };
    let mut m = LegMeasure { from_rtp: false, sample_rate: rate, ..Default::default() };
    let mut buf = vec![0i16; 64 * 1024];
    // The silent run in progress, and whether audio came before it.
    let (mut run, mut heard) = (0u64, false);
    loop {
        let n = reader.read_mono(&mut buf)?;
        if n == 0 {
            break;
        }
        for &s in &buf[..n] {
            if silent(codec, s) {
                m.silent_samples += 1;
                run += 1;
            } else {
                if heard {
                    m.longest_gap_samples = m.longest_gap_samples.max(run);
                }
                heard = true;
                run = 0;
            }
        }
        m.samples += n as u64;
    }
    m.packets_expected = m.samples.div_ceil(frame(rate));
    m.packets_received = m.packets_expected;
    Ok(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn feed(meter: &mut RtpMeter, seq: u16, pos: i64) {
        meter.packet(seq, Codec::Pcmu, &[1; 160], Some((pos, 160)));
    }

    #[test]
    fn loss_and_gaps_come_from_sequence_numbers_and_positions() {
        let mut m = RtpMeter::new(8000);
        m.segment();
        // 200 packets from seq 65500 (wrapping), every 10th missing, and 25 missing in a row.
        let mut sent = 0;
        for k in 0..200u32 {
            if k % 10 == 9 || (100..125).contains(&k) {
                continue;
            }
            feed(&mut m, (65_500 + k) as u16, i64::from(k) * 160);
            sent += 1;
        }
        let r = m.finish();
        // The last one sent is k = 198 (199 is missing): 199 expected, 43 of them missing.
        assert_eq!((r.packets_expected, r.packets_received, r.packets_lost()), (199, sent, 42));
        assert_eq!(r.longest_gap_samples, 26 * 160, "packets 99..=124 missing");
        assert_eq!(r.longest_gap_ms(), 520);
        assert_eq!(r.silence_percent(), 0.0);
    }

    #[test]
    fn a_reordered_packet_fills_its_gap() {
        let mut m = RtpMeter::new(8000);
        m.segment();
        feed(&mut m, 1, 0);
        feed(&mut m, 3, 320);
        feed(&mut m, 2, 160);
        feed(&mut m, 4, 480);
        let r = m.finish();
        assert_eq!((r.packets_expected, r.packets_received, r.longest_gap_samples), (4, 4, 0));
    }

    #[test]
    fn segments_are_counted_apart_and_silence_codes_are_silence() {
        let mut m = RtpMeter::new(8000);
        m.segment();
        m.packet(10, Codec::Pcma, &[8; 160], Some((0, 160)));
        m.packet(11, Codec::Pcma, &[-8; 160], Some((160, 160)));
        m.segment();
        m.packet(40_000, Codec::Pcma, &[16; 160], Some((320, 160)));
        let r = m.finish();
        assert_eq!((r.packets_expected, r.packets_received), (3, 3));
        assert_eq!((r.samples, r.silent_samples), (480, 320));
        assert!(!r.silent_throughout());
    }

    #[test]
    fn nothing_received_is_silent_throughout_without_loss() {
        let r = RtpMeter::new(8000).finish();
        assert_eq!((r.loss_percent(), r.silence_percent(), r.silent_throughout()), (0.0, 100.0, true));
    }

    #[test]
    fn audio_gaps_are_inner_silent_runs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.wav");
        let mut w = crate::wav::WavWriter::create(&p, 8000, 1, None).unwrap();
        w.write_samples(&[0; 800]).unwrap(); // leading: not a gap
        w.write_samples(&[5; 1000]).unwrap();
        w.write_samples(&[0; 4000]).unwrap();
        w.write_samples(&[-5; 1000]).unwrap();
        w.write_samples(&[0; 9000]).unwrap(); // trailing: not a gap
        w.finish().unwrap();
        let r = measure_audio(&mut WavReader::open(&p).unwrap()).unwrap();
        assert_eq!((r.samples, r.silent_samples, r.longest_gap_samples), (15_800, 13_800, 4000));
        assert_eq!((r.packets_expected, r.packets_received, r.longest_gap_ms()), (99, 99, 500));
    }
}
