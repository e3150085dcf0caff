//! Waveforms: a WAV reduced to the lowest and highest sample of each pixel column, one
//! envelope a channel ([`Envelope`], fed samples, no I/O), drawn as SVG ([`svg`]). Reading
//! streams through the file in blocks ([`render`]), so an hour of stereo is never in memory.

use std::path::Path;

/// The min/max envelope of interleaved 16-bit frames over a fixed number of columns.
#[derive(Debug)]
pub struct Envelope {
    channels: usize,
    frames: u64,
    columns: u64,
    /// Frames seen so far.
    pos: u64,
    /// The column the next frame falls in, and the first frame of the column after it.
    col: u64,
    next: u64,
    /// Per channel, per column: (min, max); `None` for a column no frame reached (yet).
    cols: Vec<Vec<Option<(i16, i16)>>>,
}

impl Envelope {
    /// An envelope of `frames` frames of `channels` channels over `columns` columns (fewer
    /// when there are fewer frames: a column is never narrower than one frame).
    pub fn new(channels: u16, frames: u64, columns: usize) -> Self {
        let columns = (columns as u64).min(frames).max(1);
        let channels = usize::from(channels.max(1));
        let cols = vec![vec![None; columns as usize]; channels];
        let mut e = Self { channels, frames: frames.max(1), columns, pos: 0, col: 0, next: 0, cols };
        e.next = e.start_of(1);
        e
    }

    /// First frame of column `c` (columns split the frames as evenly as whole frames allow).
    fn start_of(&self, c: u64) -> u64 {
        (u128::from(c) * u128::from(self.frames)).div_ceil(u128::from(self.columns)) as u64
    }

    /// Feeds interleaved samples (whole frames; a trailing part frame is ignored). Frames
    /// past the declared count go into the last column.
    pub fn push(&mut self, samples: &[i16]) {
        for frame in samples.chunks_exact(self.channels) {
            while self.pos >= self.next && self.col + 1 < self.columns {
                self.col += 1;
                self.next = self.start_of(self.col + 1);
            }
            let col = self.col as usize;
            for (ch, &s) in frame.iter().enumerate() {
                let slot = &mut self.cols[ch][col];
                *slot = Some(match *slot {
                    Some((lo, hi)) => (lo.min(s), hi.max(s)),
                    None => (s, s),
                });
            }
            self.pos += 1;
        }
    }

    /// Per channel, per column: (min, max); a column no frame reached is `None`.
    pub fn finish(self) -> Vec<Vec<Option<(i16, i16)>>> {
        self.cols
    }
}

/// Width and height (per channel) of a drawn waveform, in pixels.
pub const WIDTH: usize = 800;
/// Height of one channel's lane.
pub const LANE: usize = 80;

/// The envelope of every channel as one SVG image: a lane a channel, a vertical stroke a
/// column from its lowest to its highest sample, a centre line; `None` columns are blank.
pub fn svg(envelopes: &[Vec<Option<(i16, i16)>>]) -> String {
    let height = LANE * envelopes.len().max(1);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">\
         <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#f4f6f9\"/>"
    );
    let half = LANE as f64 / 2.0;
    for (i, cols) in envelopes.iter().enumerate() {
        let mid = half + (i * LANE) as f64;
        out.push_str(&format!("<path stroke=\"#c5ccd6\" d=\"M0 {mid}H{WIDTH}\"/>"));
        let step = WIDTH as f64 / cols.len().max(1) as f64;
        let y = |s: i16| mid - f64::from(s) / 32768.0 * (half - 1.0);
        let mut d = String::new();
        for (x, c) in cols.iter().enumerate() {
            if let Some((lo, hi)) = c {
                let px = (x as f64 + 0.5) * step;
                // At least a pixel tall, so that silence shows as a line.
                let (top, bottom) = (y(*hi), y(*lo).max(y(*hi) + 1.0));
                d.push_str(&format!("M{px:.1} {top:.1}V{bottom:.1}"));
            }
        }
        out.push_str(&format!(
            "<path class=\"ch{i}\" stroke=\"#1b3a5c\" stroke-width=\"{:.2}\" d=\"{d}\"/>",
            step.max(1.0)
        ));
    }
    out.push_str("</svg>");
    out
}

/// Reads the WAV at `path` block by block into one envelope a channel over `columns`.
pub fn envelopes(path: &Path, columns: usize) -> Result<Vec<Vec<Option<(i16, i16)>>>, cr_audio::AudioError> {
    let mut r = cr_audio::WavReader::open(path)?;
    let (channels, frames) = (r.info().channels, r.info().frames());
    let mut env = Envelope::new(channels, frames, columns);
    let mut buf = vec![0i16; 64 * 1024 * usize::from(channels.max(1))];
    loop {
        let n = r.read_interleaved(&mut buf)?;
        if n == 0 {
            break;
        }
        env.push(&buf[..n * usize::from(channels)]);
    }
    Ok(env.finish())
}

/// The waveform of the WAV at `path` as SVG.
pub fn render(path: &Path) -> Result<String, cr_audio::AudioError> {
    Ok(svg(&envelopes(path, WIDTH)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    /// `sox -n` (16-bit mono made at 8 kHz, so not resampled; no dither) into `dir/name`
    /// with `effects`; `None`
    /// (a loud skip) when sox is missing.
    fn sox(dir: &Path, name: &str, effects: &[&str]) -> Option<PathBuf> {
        let p = dir.join(name);
        let run = Command::new("sox").args(["-D", "-r", "8000", "-c", "1", "-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(&p).args(effects).stderr(Stdio::null()).status();
        if run.is_err() {
            assert!(std::env::var_os("CALLREC_TEST_STRICT").is_none(), "sox is missing (CALLREC_TEST_STRICT is set)");
            eprintln!("SKIPPED: sox is not installed");
            return None;
        }
        assert!(run.unwrap().success(), "sox {effects:?}");
        Some(p)
    }

    #[test]
    fn columns_split_the_frames_evenly_and_never_lose_one() {
        // 10 frames over 4 columns: 3, 2, 3, 2 (ceil boundaries 0, 3, 5, 8).
        let mut e = Envelope::new(1, 10, 4);
        e.push(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(e.finish(), vec![vec![Some((0, 2)), Some((3, 4)), Some((5, 7)), Some((8, 9))]]);
        // Fewer frames than columns: one column a frame; a part frame is ignored.
        let mut e = Envelope::new(2, 2, 800);
        e.push(&[1, -1, 2, -2, 3]);
        assert_eq!(e.finish(), vec![vec![Some((1, 1)), Some((2, 2))], vec![Some((-1, -1)), Some((-2, -2))]]);
        // A file shorter than its header said: the rest stays blank, nothing panics.
        let mut e = Envelope::new(1, 100, 10);
        e.push(&[5; 15]);
        assert_eq!(e.finish()[0].iter().filter(|c| c.is_some()).count(), 2);
        // No frames at all.
        assert_eq!(Envelope::new(1, 0, 10).finish(), vec![vec![None]]);
    }

    #[test]
    fn a_sox_sine_silence_and_clipped_square_give_their_envelopes() {
        let dir = tempfile::tempdir().unwrap();
        let Some(sine) = sox(dir.path(), "sine.wav", &["synth", "1", "sine", "440", "vol", "0.5"]) else { return };
        // 8000 frames over 100 columns: 80 frames each, about four periods of 440 Hz, so
        // every column reaches both peaks of a half-scale sine (16384, within 1 %).
        let env = envelopes(&sine, 100).unwrap();
        assert_eq!((env.len(), env[0].len()), (1, 100));
        for (x, c) in env[0].iter().enumerate() {
            let (lo, hi) = c.unwrap();
            assert!((16220..=16384).contains(&hi) && (-16384..=-16220).contains(&lo), "column {x}: {lo}..{hi}");
        }
        let silence = sox(dir.path(), "silence.wav", &["trim", "0", "1"]).unwrap();
        let env = envelopes(&silence, 100).unwrap();
        assert!(env[0].iter().all(|c| *c == Some((0, 0))), "{:?}", &env[0][..4]);
        // A 50 Hz square at 4x full scale, clipped by sox to the limits: 160-frame periods,
        // so each 80-frame column lies in one half wave, all at the top or all at the bottom.
        let square = sox(dir.path(), "square.wav", &["synth", "1", "square", "50", "vol", "4"]).unwrap();
        let env = envelopes(&square, 100).unwrap();
        let (mut top, mut bottom) = (0, 0);
        for c in &env[0] {
            match c.unwrap() {
                (32767, 32767) => top += 1,
                (-32768, -32768) => bottom += 1,
                other => panic!("a column of the clipped square spans {other:?}"),
            }
        }
        assert_eq!((top, bottom), (50, 50));
    }

    #[test]
    fn stereo_channels_get_their_own_envelopes_and_lanes() {
        let dir = tempfile::tempdir().unwrap();
        let Some(l) = sox(dir.path(), "l.wav", &["synth", "1", "sine", "440", "vol", "0.5"]) else { return };
        let r = sox(dir.path(), "r.wav", &["trim", "0", "1"]).unwrap();
        let st = dir.path().join("st.wav");
        assert!(Command::new("sox").arg("-M").arg(&l).arg(&r).arg(&st).status().unwrap().success());
        let env = envelopes(&st, 100).unwrap();
        assert_eq!(env.len(), 2);
        assert!(env[0].iter().all(|c| c.unwrap().1 > 16000), "left is the sine");
        assert!(env[1].iter().all(|c| *c == Some((0, 0))), "right is silent");
        let image = svg(&env);
        assert!(image.starts_with("<svg ") && image.contains("height=\"160\"") && image.contains("class=\"ch1\""), "{image}");
        // Silence is a one-pixel line at the centre of the second lane (y 120).
        assert!(image.contains("M4.0 120.0V121.0"), "{image}");
    }

    #[test]
    fn a_file_that_is_no_wav_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        std::fs::write(&p, b"not a wav file at all, just text").unwrap();
        let e = render(&p).unwrap_err().to_string();
        assert!(e.contains("x.wav"), "{e}");
    }
}
