//! Announcements: a WAV file prepared once as 20 ms G.711 frames at 8 kHz.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dasp::{Signal, interpolate::linear::Linear, signal};

use crate::error::{AudioError, Result};
use crate::g711;
use crate::wav::WavReader;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Longest announcement accepted.
pub const MAX_ANNOUNCEMENT: Duration = Duration::from_secs(600);

/// An announcement ready to be played: 8 kHz mono 16-bit samples, a whole number of
/// 20 ms frames (the last one padded with silence).
#[derive(Debug, Clone)]
pub struct Announcement {
    path: PathBuf,
    samples: Vec<i16>,
}

impl Announcement {
    /// Loads and converts `path`. Accepted: WAV (or RF64), 8 to 48 kHz, mono or stereo,
    /// 8/16/24/32-bit integer, 32/64-bit float, µ-law or A-law, up to 10 minutes. Anything
    /// else is an error naming the file and what is wrong — call this at config check.
    pub fn load(path: &Path) -> Result<Announcement> {
        let mut r = WavReader::open(path)?;
        let info = r.info().clone();
        let unsupported = |reason: String| AudioError::Unsupported {
            path: path.to_path_buf(),
            reason,
        };
        if !(8000..=48000).contains(&info.sample_rate) {
            return Err(unsupported(format!(
                "announcement sample rate {} Hz (8000 to 48000 Hz are accepted)",
                info.sample_rate
            )));
        }
        if info.channels > 2 {
            return Err(unsupported(format!(
                "announcement with {} channels (mono or stereo are accepted)",
                info.channels
            )));
        }
        if info.frames() == 0 {
            return Err(unsupported("announcement holds no audio".into()));
        }
        if info.duration() > MAX_ANNOUNCEMENT {
            return Err(unsupported(format!(
                "announcement of {:?} (at most {:?})",
                info.duration(),
                MAX_ANNOUNCEMENT
            )));
        }
        let mut input = vec![0i16; info.frames() as usize];
        let mut n = 0;
        while n < input.len() {
            let got = r.read_mono(&mut input[n..])?;
            if got == 0 {
                break;
            }
            n += got;
        }
        input.truncate(n);
        let mut samples: Vec<i16> = if info.sample_rate == 8000 {
            input
        } else {
            let out_len = (input.len() as u64 * 8000).div_ceil(info.sample_rate as u64) as usize;
            let mut src = signal::from_iter(input.iter().map(|&s| [s as f64 / 32768.0]));
            let left = src.next();
            let right = src.next();
            let conv = src.from_hz_to_hz(Linear::new(left, right), info.sample_rate as f64, 8000.0);
            conv.take(out_len)
                .map(|[x]| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
                .collect()
        };
        let rem = samples.len() % FRAME_SAMPLES;
        if rem != 0 {
            samples.resize(samples.len() + FRAME_SAMPLES - rem, 0);
        }
        Ok(Announcement {
            path: path.to_path_buf(),
            samples,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 8 kHz mono samples (a multiple of [`FRAME_SAMPLES`]).
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Playing time (whole frames).
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.samples.len() as u64 / 8)
    }

    /// 20 ms µ-law frames (RTP payload type 0), 160 bytes each.
    pub fn frames_ulaw(&self) -> Vec<[u8; FRAME_SAMPLES]> {
        self.frames(g711::ulaw_encode)
    }

    /// 20 ms A-law frames (RTP payload type 8), 160 bytes each.
    pub fn frames_alaw(&self) -> Vec<[u8; FRAME_SAMPLES]> {
        self.frames(g711::alaw_encode)
    }

    fn frames(&self, enc: fn(i16) -> u8) -> Vec<[u8; FRAME_SAMPLES]> {
        self.samples
            .chunks_exact(FRAME_SAMPLES)
            .map(|c| {
                let mut f = [0u8; FRAME_SAMPLES];
                for (o, &s) in f.iter_mut().zip(c) {
                    *o = enc(s);
                }
                f
            })
            .collect()
    }
}
