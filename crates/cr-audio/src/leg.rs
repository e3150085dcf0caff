//! The leg writer: one party's audio, as it arrives, into a crash-safe WAV file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::codec::Codec;
use crate::error::{AudioError, Result};
use crate::g711;
use crate::g722::G722Decoder;
use crate::quality::{LegMeasure, RtpMeter};
use crate::wav::{LegChunk, LegState, WavWriter, frames_to_duration};

/// One RTP packet's worth of audio for [`LegWriter::push_rtp`].
#[derive(Debug, Clone, Copy)]
pub struct RtpFrame<'a> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP synchronization source.
    pub ssrc: u32,
    /// Payload encoding.
    pub codec: Codec,
    /// The payload (after the RTP header).
    pub payload: &'a [u8],
}

/// Settings of a leg writer. [`LegOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct LegOptions {
    /// Sample rate of the leg file (8000 for G.711, 16000 for G.722).
    pub sample_rate: u32,
    /// Wall-clock time of sample 0; stored in the file so that finalize can align legs.
    pub started_at: SystemTime,
    /// Reordering window: packets up to this late are put in place. Default 200 ms.
    /// Memory per leg is about `2 × sample_rate × window` bytes.
    pub reorder_window: Duration,
    /// When the RTP timestamp disagrees with the arrival time by more than this, a new
    /// segment starts at the arrival time (timestamp jump). Default 1 s.
    pub resync_threshold: Duration,
    /// How often [`LegWriter::tick`] brings the header up to date. Default 1 s.
    pub header_interval: Duration,
    /// `fsync` at every header update (survives power loss, not only a crash). Default off.
    pub fsync: bool,
}

impl LegOptions {
    /// Options with the defaults listed on each field.
    pub fn new(sample_rate: u32, started_at: SystemTime) -> LegOptions {
        LegOptions {
            sample_rate,
            started_at,
            reorder_window: Duration::from_millis(200),
            resync_threshold: Duration::from_secs(1),
            header_interval: Duration::from_secs(1),
            fsync: false,
        }
    }
}

/// What a finished leg holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSummary {
    /// The leg file.
    pub path: PathBuf,
    /// Sample rate.
    pub sample_rate: u32,
    /// Samples in the file.
    pub samples: u64,
    /// Duration of the file.
    pub duration: Duration,
    /// Wall-clock time of sample 0.
    pub started_at: SystemTime,
    /// Packets (or PCM blocks) accepted.
    pub packets: u64,
    /// Packets that arrived too late for the reordering window (dropped).
    pub late_packets: u64,
    /// Segments: 1 + the number of SSRC changes and timestamp jumps.
    pub segments: u64,
    /// Packets expected and received, the longest gap, digital silence (docs/audio.md).
    pub quality: LegMeasure,
}

/// A packet whose sequence number is this far behind the newest and whose timestamp is
/// off the clock is a sender restart, not a late packet (no jitter buffer is 2 s deep).
const RESTART_SEQ_GAP: u16 = 100;

#[derive(Debug, Clone, Copy)]
struct Segment {
    ssrc: u32,
    anchor_ext: i64,
    anchor_pos: i64,
    last_ts: u32,
    last_ext: i64,
    last_seq: u16,
}

/// Writes one party's audio into a WAV file as it arrives.
///
/// Positions are samples since `started_at`. RTP packets are placed by their timestamp;
/// gaps (loss, silence suppression, hold) become silence; packets up to the reordering
/// window late are put in place; an SSRC change, or a packet with a newer sequence
/// number whose timestamp disagrees with its arrival time by more than
/// `resync_threshold` (a timestamp jump), starts a new segment at the arrival time.
/// An older packet (by sequence number) never moves the timeline: it is put in place
/// or, when too late, dropped and counted — unless it is more than 100 packets older
/// and off the clock, which is a sender that restarted sequence and timestamp. Call
/// [`LegWriter::tick`] regularly (e.g. every 20–100 ms): at least once per
/// `header_interval` it hands buffered data to the OS and rewrites the header, so a
/// killed process leaves a file that `recover` completes to within about a second.
///
/// Time (`now`) is the time elapsed since `started_at` on a monotonic clock, passed in.
#[derive(Debug)]
pub struct LegWriter {
    out: WavWriter,
    opts: LegOptions,
    ring: Vec<i16>,
    head: usize,
    committed: u64,
    high: u64,
    segment: Option<Segment>,
    last_header: Duration,
    scratch: Vec<i16>,
    g722: Option<(u32, G722Decoder)>,
    packets: u64,
    late: u64,
    segments: u64,
    meter: RtpMeter,
}

impl LegWriter {
    /// Creates the leg file at `path` and writes its header. An existing file at `path`
    /// is an error (`AudioError::Io`, kind `AlreadyExists`): it may be a leg of a crashed
    /// run — call [`crate::recover`] at start-up and use fresh names.
    pub fn create(path: &Path, opts: LegOptions) -> Result<LegWriter> {
        let leg = LegChunk {
            started_at: opts.started_at,
            state: LegState::Recording,
        };
        let out = WavWriter::create(path, opts.sample_rate, 1, Some(leg))?;
        let window =
            (opts.sample_rate as u128 * opts.reorder_window.as_micros() / 1_000_000) as usize;
        let window = window.clamp(160, 1 << 20);
        let mut w = LegWriter {
            out,
            ring: vec![0; window],
            head: 0,
            committed: 0,
            high: 0,
            segment: None,
            last_header: Duration::ZERO,
            scratch: Vec::with_capacity(640),
            g722: None,
            packets: 0,
            late: 0,
            segments: 0,
            meter: RtpMeter::new(opts.sample_rate),
            opts,
        };
        w.out.update_header()?;
        Ok(w)
    }

    /// Path of the leg file.
    pub fn path(&self) -> &Path {
        self.out.path()
    }

    /// Approximate heap and struct bytes this writer holds (for capacity planning).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.ring.capacity() * 2
            + self.scratch.capacity() * 2
            + 8192
            + 4096
    }

    fn pos_of(&self, now: Duration) -> i64 {
        (now.as_nanos() * self.opts.sample_rate as u128 / 1_000_000_000) as i64
    }

    /// Adds one RTP packet that arrived at `now`.
    pub fn push_rtp(&mut self, frame: RtpFrame<'_>, now: Duration) -> Result<()> {
        let rate = self.opts.sample_rate as i64;
        // Decode.
        let mut pcm = std::mem::take(&mut self.scratch);
        pcm.clear();
        match frame.codec {
            Codec::Pcmu => g711::ulaw_decode_into(frame.payload, &mut pcm),
            Codec::Pcma => g711::alaw_decode_into(frame.payload, &mut pcm),
            Codec::L16 => pcm.extend(
                frame
                    .payload
                    .chunks_exact(2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]])),
            ),
            Codec::G722 => {
                let dec = match &mut self.g722 {
                    Some((ssrc, d)) if *ssrc == frame.ssrc => d,
                    slot => &mut slot.insert((frame.ssrc, G722Decoder::new())).1,
                };
                dec.decode_into(frame.payload, &mut pcm);
            }
        }
        // Convert to the leg's rate when the codec's differs (codec change mid-call):
        // sample-and-hold / decimation, good enough to keep the timeline aligned.
        let codec_rate = frame.codec.sample_rate().map(i64::from).unwrap_or(rate);
        if codec_rate != rate && !pcm.is_empty() {
            let n_out = (pcm.len() as i64 * rate / codec_rate) as usize;
            let conv: Vec<i16> = (0..n_out)
                .map(|i| pcm[((i as i64 * codec_rate / rate) as usize).min(pcm.len() - 1)])
                .collect();
            pcm = conv;
        }
        // Place on the timeline.
        let ticks_to_pos =
            |ticks: i64| -> i64 { ticks * frame.codec.samples_per_tick() * rate / codec_rate };
        let wall = self.pos_of(now);
        let threshold = (self.opts.resync_threshold.as_micros() as i64) * rate / 1_000_000;
        let pos = match self.segment {
            Some(mut seg) if seg.ssrc == frame.ssrc => {
                let ext = seg.last_ext + frame.timestamp.wrapping_sub(seg.last_ts) as i32 as i64;
                let pos = seg.anchor_pos + ticks_to_pos(ext - seg.anchor_ext);
                let newer = (frame.seq.wrapping_sub(seg.last_seq) as i16) > 0;
                let off_clock = (pos - wall).abs() > threshold;
                let far_back = seg.last_seq.wrapping_sub(frame.seq) > RESTART_SEQ_GAP;
                if !newer && off_clock && far_back {
                    // Sequence and timestamp both restarted (a sender reset): new segment.
                    self.new_segment(frame, wall)
                } else if !newer {
                    // A reordered or duplicated packet: never a reason to move the timeline.
                    if off_clock {
                        self.packets += 1;
                        self.late += 1;
                        self.meter.packet(frame.seq, frame.codec, &pcm, None);
                        self.scratch = pcm;
                        return Ok(());
                    }
                    pos
                } else if off_clock {
                    self.new_segment(frame, wall)
                } else {
                    seg.last_ext = ext;
                    seg.last_ts = frame.timestamp;
                    seg.last_seq = frame.seq;
                    self.segment = Some(seg);
                    pos
                }
            }
            _ => self.new_segment(frame, wall),
        };
        self.packets += 1;
        self.meter.packet(frame.seq, frame.codec, &pcm, Some((pos, pcm.len())));
        let res = self.place(pos, &pcm);
        self.scratch = pcm;
        res
    }

    fn new_segment(&mut self, frame: RtpFrame<'_>, wall: i64) -> i64 {
        let anchor_pos = wall.max(self.committed as i64);
        self.meter.segment();
        self.segment = Some(Segment {
            ssrc: frame.ssrc,
            anchor_ext: frame.timestamp as i64,
            anchor_pos,
            last_ts: frame.timestamp,
            last_ext: frame.timestamp as i64,
            last_seq: frame.seq,
        });
        self.segments += 1;
        anchor_pos
    }

    /// Adds 16-bit samples at `sample_pos` (samples since `started_at`), for sources that
    /// are not RTP (a SIPREC driver that already decoded, a test).
    pub fn push_pcm(&mut self, sample_pos: u64, samples: &[i16]) -> Result<()> {
        if self.segments == 0 {
            self.segments = 1;
        }
        self.packets += 1;
        let pos = sample_pos.min(i64::MAX as u64) as i64;
        self.meter.block(samples, pos);
        self.place(pos, samples)
    }

    fn place(&mut self, pos: i64, samples: &[i16]) -> Result<()> {
        let mut pos = pos;
        let mut samples = samples;
        if pos < self.committed as i64 {
            let skip = (self.committed as i64 - pos) as u64;
            if skip >= samples.len() as u64 {
                self.late += 1;
                return Ok(());
            }
            samples = &samples[skip as usize..];
            pos = self.committed as i64;
        }
        let cap = self.ring.len();
        for chunk in samples.chunks(cap / 2) {
            let start = pos as u64;
            let end = start + chunk.len() as u64;
            if end > self.committed + cap as u64 {
                self.commit_to(end - cap as u64)?;
            }
            let idx = (self.head + (start - self.committed) as usize) % cap;
            let (tail, wrapped) = chunk.split_at(chunk.len().min(cap - idx));
            self.ring[idx..idx + tail.len()].copy_from_slice(tail);
            self.ring[..wrapped.len()].copy_from_slice(wrapped);
            self.high = self.high.max(end);
            pos += chunk.len() as i64;
        }
        Ok(())
    }

    /// Writes everything before position `to` to the file (ring contents, then silence).
    fn commit_to(&mut self, to: u64) -> Result<()> {
        if to <= self.committed {
            return Ok(());
        }
        let cap = self.ring.len();
        let from_ring = ((to - self.committed) as usize).min(cap);
        let first = from_ring.min(cap - self.head);
        self.out
            .write_samples(&self.ring[self.head..self.head + first])?;
        self.ring[self.head..self.head + first].fill(0);
        let second = from_ring - first;
        if second > 0 {
            self.out.write_samples(&self.ring[..second])?;
            self.ring[..second].fill(0);
        }
        self.head = (self.head + from_ring) % cap;
        self.committed += from_ring as u64;
        if to > self.committed {
            // A gap longer than the window: the ring is all silence now.
            self.out.write_silence(to - self.committed)?;
            self.committed = to;
            self.head = 0;
        }
        Ok(())
    }

    /// Lets the writer keep its promise: when `header_interval` has passed since the last
    /// update, hands buffered samples to the OS and rewrites the header. Cheap otherwise.
    pub fn tick(&mut self, now: Duration) -> Result<()> {
        if now.saturating_sub(self.last_header) >= self.opts.header_interval {
            self.last_header = now;
            self.out.update_header()?;
            if self.opts.fsync {
                self.out.sync()?;
            }
        }
        Ok(())
    }

    /// Samples received so far (the end of the latest audio placed).
    pub fn samples(&self) -> u64 {
        self.high
    }

    /// Writes what is left, marks the file finished and closes it.
    pub fn finish(mut self) -> Result<LegSummary> {
        let high = self.high;
        self.commit_to(high)?;
        let path = self.out.path().to_path_buf();
        let samples = self.out.finish()?;
        if samples != high {
            return Err(AudioError::InvalidArgument(format!(
                "leg {} wrote {samples} samples, expected {high}",
                path.display()
            )));
        }
        Ok(LegSummary {
            path,
            sample_rate: self.opts.sample_rate,
            samples,
            duration: frames_to_duration(samples, self.opts.sample_rate),
            started_at: self.opts.started_at,
            packets: self.packets,
            late_packets: self.late,
            segments: self.segments,
            quality: self.meter.finish(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wav::WavReader;

    fn read_all(p: &Path) -> Vec<i16> {
        let mut r = WavReader::open(p).unwrap();
        let mut v = vec![0i16; r.frames_left() as usize];
        let n = r.read_mono(&mut v).unwrap();
        v.truncate(n);
        v
    }

    #[test]
    fn memory_stays_bounded_over_a_long_leg_with_gaps_and_big_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.wav");
        let mut w = LegWriter::create(&p, LegOptions::new(8000, SystemTime::now())).unwrap();
        let before = w.memory_bytes();
        let block: Vec<i16> = (0..160).map(|i| i as i16 + 1).collect();
        for k in 0..50_000u64 {
            w.push_pcm(k * 160, &block).unwrap();
        }
        // A block much larger than the window, and a gap of an hour.
        let big = vec![7i16; 100_000];
        w.push_pcm(8_000_000, &big).unwrap();
        w.push_pcm(8_100_000 + 8000 * 3600, &block).unwrap();
        w.tick(Duration::from_secs(5)).unwrap();
        assert_eq!(w.memory_bytes(), before);
        assert!(before < 64 * 1024, "{before} bytes per leg");
        let s = w.finish().unwrap();
        assert_eq!(s.samples, 8_100_000 + 8000 * 3600 + 160);
        let v = read_all(&p);
        assert_eq!(v.len() as u64, s.samples);
        assert_eq!(&v[..160], &block[..]);
        assert!(v[8_000_000..8_100_000].iter().all(|&x| x == 7));
        assert!(
            v[8_100_000..8_100_000 + 8000 * 3600]
                .iter()
                .all(|&x| x == 0)
        );
        assert_eq!(&v[v.len() - 160..], &block[..]);
    }

    #[test]
    fn late_packets_beyond_the_window_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.wav");
        let mut w = LegWriter::create(&p, LegOptions::new(8000, SystemTime::now())).unwrap();
        let a = [1i16; 160];
        for k in 0..100u32 {
            let f = RtpFrame {
                seq: k as u16,
                timestamp: k * 160,
                ssrc: 1,
                codec: Codec::L16,
                payload: &[],
            };
            let payload: Vec<u8> = a.iter().flat_map(|s| s.to_be_bytes()).collect();
            w.push_rtp(
                RtpFrame {
                    payload: &payload,
                    ..f
                },
                Duration::from_millis(20 * k as u64),
            )
            .unwrap();
        }
        // Packet 10 again, 1.8 s late: far outside the 200 ms window.
        let payload: Vec<u8> = [9i16; 160].iter().flat_map(|s| s.to_be_bytes()).collect();
        let f = RtpFrame {
            seq: 10,
            timestamp: 1600,
            ssrc: 1,
            codec: Codec::L16,
            payload: &payload,
        };
        w.push_rtp(f, Duration::from_millis(2000)).unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.late_packets, 1);
        assert_eq!(s.samples, 16_000);
        assert!(read_all(&p).iter().all(|&x| x == 1));
    }

    #[test]
    fn g722_leg_runs_at_16khz_with_an_8khz_rtp_clock() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.wav");
        let mut w = LegWriter::create(&p, LegOptions::new(16000, SystemTime::now())).unwrap();
        let codes = [0xFFu8; 160];
        for k in 0..50u32 {
            if k == 20 {
                continue; // lost
            }
            let f = RtpFrame {
                seq: k as u16,
                timestamp: 5000 + k * 160,
                ssrc: 3,
                codec: Codec::G722,
                payload: &codes,
            };
            w.push_rtp(f, Duration::from_millis(20 * k as u64)).unwrap();
        }
        let s = w.finish().unwrap();
        assert_eq!(s.samples, 16_000, "1 s at 16 kHz");
        assert_eq!(s.segments, 1);
    }

    #[test]
    fn sender_restart_of_sequence_and_timestamp_starts_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.wav");
        let mut w = LegWriter::create(&p, LegOptions::new(8000, SystemTime::now())).unwrap();
        let codes = [0xD5u8; 160];
        for k in 0..400u32 {
            // After 4 s the sender restarts: seq 0, timestamp 0, same SSRC.
            let (seq, ts) = if k < 200 {
                (30_000 + k, 700_000 + k * 160)
            } else {
                (k - 200, (k - 200) * 160)
            };
            let f = RtpFrame {
                seq: seq as u16,
                timestamp: ts,
                ssrc: 3,
                codec: Codec::Pcma,
                payload: &codes,
            };
            w.push_rtp(f, Duration::from_millis(20 * k as u64)).unwrap();
        }
        let s = w.finish().unwrap();
        assert_eq!((s.segments, s.late_packets, s.samples), (2, 0, 64_000));
    }

    #[test]
    fn a_leg_is_never_created_over_an_existing_file() {
        // Guards against destroying a crashed run's leg before `recover` saw it.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.wav");
        std::fs::write(&p, b"earlier leg").unwrap();
        let e = LegWriter::create(&p, LegOptions::new(8000, SystemTime::now())).unwrap_err();
        assert!(
            matches!(e, AudioError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{e}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"earlier leg");
    }
}
