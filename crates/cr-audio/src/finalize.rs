//! Finalize: legs -> the recording's audio files, streaming.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{AudioError, Result};
use crate::wav::{WavReader, WavWriter};

/// Which audio files a recording gets (SPEC S10, S11; config key `channels`): the
/// workspace's one channel-mode type, [`cr_types::Channels`].
pub use cr_types::Channels as ChannelMode;

const CHUNK: usize = 64 * 1024;
const OUT_BUF: usize = 1 << 20;
/// Frames per block on the fast stereo path: 512 KiB read per leg, 1 MiB written, so
/// that the buffered reader and writer pass the blocks straight through.
const RAW_FRAMES: usize = 256 * 1024;

/// Legs whose start times differ by more than this are refused (a wrong pair, or a
/// damaged leg header) rather than padded with hours of silence.
pub const MAX_START_OFFSET_SECS: f64 = 6.0 * 3600.0;

/// Streaming linear-interpolation resampler over a [`WavReader`].
#[derive(Debug)]
struct Resampler {
    in_rate: u64,
    out_rate: u64,
    k: u64,
    buf: Vec<i16>,
    base: u64,
    eof: bool,
}

/// One leg as a stream of mono samples at the output rate, with leading silence.
#[derive(Debug)]
struct LegSource {
    reader: WavReader,
    pad: u64,
    resampler: Option<Resampler>,
}

impl LegSource {
    fn new(reader: WavReader, out_rate: u32, pad: u64) -> LegSource {
        let in_rate = reader.info().sample_rate;
        let resampler = (in_rate != out_rate).then(|| Resampler {
            in_rate: in_rate as u64,
            out_rate: out_rate as u64,
            k: 0,
            buf: Vec::new(),
            base: 0,
            eof: false,
        });
        LegSource {
            reader,
            pad,
            resampler,
        }
    }

    /// Whether [`LegSource::fill_raw`] can be used (16-bit mono, no resampling).
    fn raw_ok(&self) -> bool {
        self.resampler.is_none() && self.reader.is_i16_mono()
    }

    /// Like [`LegSource::fill`] for 16-bit mono legs, with little-endian bytes: fills `out`
    /// (an even number of bytes) unless the leg ends; returns the number of samples.
    fn fill_raw(&mut self, out: &mut [u8]) -> Result<usize> {
        let cap = out.len() / 2;
        let mut n = 0;
        if self.pad > 0 {
            let p = self.pad.min(cap as u64) as usize;
            out[..2 * p].fill(0);
            self.pad -= p as u64;
            n = p;
        }
        while n < cap {
            let got = self.reader.read_raw(&mut out[2 * n..2 * cap])?;
            if got == 0 {
                break;
            }
            n += got;
        }
        Ok(n)
    }

    /// Fills `out` completely unless the leg ends; returns the number of samples written.
    fn fill(&mut self, out: &mut [i16]) -> Result<usize> {
        let mut n = 0;
        if self.pad > 0 {
            let p = (self.pad.min(out.len() as u64)) as usize;
            out[..p].fill(0);
            self.pad -= p as u64;
            n = p;
        }
        match &mut self.resampler {
            None => {
                while n < out.len() {
                    let got = self.reader.read_mono(&mut out[n..])?;
                    if got == 0 {
                        break;
                    }
                    n += got;
                }
            }
            Some(rs) => {
                while n < out.len() {
                    let num = rs.k * rs.in_rate;
                    let i = num / rs.out_rate;
                    let frac = (num % rs.out_rate) as i64;
                    let end = rs.base + rs.buf.len() as u64;
                    if i + 1 >= end && !rs.eof {
                        // Refill: keep from sample i on, read more.
                        let keep_from = (i.saturating_sub(rs.base) as usize).min(rs.buf.len());
                        rs.buf.drain(..keep_from);
                        rs.base += keep_from as u64;
                        let old = rs.buf.len();
                        rs.buf.resize(old + CHUNK, 0);
                        let got = self.reader.read_mono(&mut rs.buf[old..])?;
                        rs.buf.truncate(old + got);
                        if got == 0 {
                            rs.eof = true;
                        }
                        continue;
                    }
                    if i >= end {
                        break;
                    }
                    let x0 = rs.buf[(i - rs.base) as usize] as i64;
                    let x1 = if i + 1 < end {
                        rs.buf[(i + 1 - rs.base) as usize] as i64
                    } else {
                        x0
                    };
                    out[n] = (x0 + (x1 - x0) * frac / rs.out_rate as i64) as i16;
                    n += 1;
                    rs.k += 1;
                }
            }
        }
        Ok(n)
    }
}

fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

struct Part {
    tmp: PathBuf,
    fin: PathBuf,
}

fn part(out_dir: &Path, name: String) -> Part {
    Part {
        tmp: out_dir.join(format!(".{name}.part")),
        fin: out_dir.join(name),
    }
}

fn commit(w: WavWriter, p: &Part, sync: bool) -> Result<PathBuf> {
    w.close(sync)?;
    std::fs::rename(&p.tmp, &p.fin).map_err(|e| AudioError::io("rename", &p.fin, e))?;
    Ok(p.fin.clone())
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(AudioError::InvalidArgument(format!(
            "recording id {id:?} is not a plain file name"
        )));
    }
    Ok(())
}

/// Turns the caller's and callee's leg files into the recording's audio files in
/// `out_dir`, named from `id` (`<id>.wav`, or `<id>-caller.wav` and `<id>-callee.wav`
/// for [`ChannelMode::Separate`]), and returns their paths.
///
/// Legs may be files of [`crate::LegWriter`] or WAV files a PBX recorded itself (e.g.
/// Asterisk MixMonitor `r()`/`t()` legs: any rate, 8/16/24/32-bit, float, µ-law/A-law,
/// mono or stereo — stereo is mixed down). Output is 16-bit PCM; with two legs, at the
/// higher of the two rates (the other leg is resampled linearly). When both legs carry
/// a start time (leg files do), the later one is delayed by the difference so the
/// channels are aligned in time; otherwise both start at sample 0. The shorter leg is
/// padded with silence. Memory use is constant (a few hundred KiB) whatever the length.
/// A leg the mode does not need is not opened (it need not exist).
///
/// Each output is written under a temporary name (`.<name>.part`), synced to stable
/// storage and then renamed, so a crash never leaves a half-written `<id>.wav`.
pub fn finalize(
    caller: &Path,
    callee: &Path,
    mode: ChannelMode,
    out_dir: &Path,
    id: &str,
) -> Result<Vec<PathBuf>> {
    finalize_with(
        caller,
        callee,
        mode,
        out_dir,
        id,
        &FinalizeOptions::default(),
    )
}

/// Options of [`finalize_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FinalizeOptions {
    /// `fsync` each output file before renaming it into place. Default `true`.
    pub sync: bool,
}

impl Default for FinalizeOptions {
    fn default() -> Self {
        FinalizeOptions { sync: true }
    }
}

impl FinalizeOptions {
    /// Sets [`FinalizeOptions::sync`].
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }
}

/// [`finalize`] with options.
pub fn finalize_with(
    caller: &Path,
    callee: &Path,
    mode: ChannelMode,
    out_dir: &Path,
    id: &str,
    opts: &FinalizeOptions,
) -> Result<Vec<PathBuf>> {
    let (need_caller, need_callee) = match mode {
        ChannelMode::Caller => (true, false),
        ChannelMode::Callee => (false, true),
        ChannelMode::Stereo | ChannelMode::Separate => (true, true),
    };
    check_id(id)?;
    let a = need_caller.then(|| WavReader::open(caller)).transpose()?;
    let b = need_callee.then(|| WavReader::open(callee)).transpose()?;
    finalize_opened(a, b, mode, out_dir, id, opts)
}

/// [`finalize_with`] from legs already opened ([`WavReader::from_file`]): what the checks
/// on a descriptor guarded is what is read. A leg the mode does not need may be `None`.
pub fn finalize_opened(
    caller: Option<WavReader>,
    callee: Option<WavReader>,
    mode: ChannelMode,
    out_dir: &Path,
    id: &str,
    opts: &FinalizeOptions,
) -> Result<Vec<PathBuf>> {
    check_id(id)?;
    let need = |r: Option<WavReader>, which: &str| {
        r.ok_or_else(|| {
            AudioError::InvalidArgument(format!("channel mode {mode} needs the {which} leg"))
        })
    };
    match mode {
        ChannelMode::Caller | ChannelMode::Callee => {
            let reader = if mode == ChannelMode::Caller {
                need(caller, "caller")?
            } else {
                need(callee, "callee")?
            };
            let rate = reader.info().sample_rate;
            let p = part(out_dir, format!("{id}.wav"));
            let mut w = WavWriter::create_buffered(&p.tmp, rate, 1, None, OUT_BUF)?;
            let mut s = LegSource::new(reader, rate, 0);
            let mut buf = vec![0i16; CHUNK];
            loop {
                let n = s.fill(&mut buf)?;
                if n == 0 {
                    break;
                }
                w.write_samples(&buf[..n])?;
            }
            Ok(vec![commit(w, &p, opts.sync)?])
        }
        ChannelMode::Stereo | ChannelMode::Separate => {
            let a = need(caller, "caller")?;
            let b = need(callee, "callee")?;
            let rate = a.info().sample_rate.max(b.info().sample_rate);
            let (pad_a, pad_b) = match (a.info().leg, b.info().leg) {
                (Some(la), Some(lb)) => {
                    let d = secs_between(la.started_at, lb.started_at);
                    if d.abs() > MAX_START_OFFSET_SECS {
                        return Err(AudioError::InvalidArgument(format!(
                            "legs {} and {} started {d:.0} s apart (more than {MAX_START_OFFSET_SECS} s): not one call",
                            a.path.display(),
                            b.path.display()
                        )));
                    }
                    let frames = (d.abs() * rate as f64).round() as u64;
                    if d >= 0.0 { (0, frames) } else { (frames, 0) }
                }
                _ => (0, 0),
            };
            let mut sa = LegSource::new(a, rate, pad_a);
            let mut sb = LegSource::new(b, rate, pad_b);
            if mode == ChannelMode::Stereo && sa.raw_ok() && sb.raw_ok() {
                // Fast path (leg files, 16-bit PCM legs): interleave bytes, no conversion.
                let p = part(out_dir, format!("{id}.wav"));
                let mut w = WavWriter::create_buffered(&p.tmp, rate, 2, None, 4096)?;
                let mut ra = vec![0u8; 2 * RAW_FRAMES];
                let mut rb = vec![0u8; 2 * RAW_FRAMES];
                let mut out = vec![0u8; 4 * RAW_FRAMES];
                loop {
                    let na = sa.fill_raw(&mut ra)?;
                    let nb = sb.fill_raw(&mut rb)?;
                    let n = na.max(nb);
                    if n == 0 {
                        break;
                    }
                    ra[2 * na..2 * n].fill(0);
                    rb[2 * nb..2 * n].fill(0);
                    for ((o, l), r) in out
                        .chunks_exact_mut(4)
                        .zip(ra.chunks_exact(2))
                        .zip(rb.chunks_exact(2))
                        .take(n)
                    {
                        o[0] = l[0];
                        o[1] = l[1];
                        o[2] = r[0];
                        o[3] = r[1];
                    }
                    w.write_raw(&out[..4 * n])?;
                }
                return Ok(vec![commit(w, &p, opts.sync)?]);
            }
            let mut ba = vec![0i16; CHUNK];
            let mut bb = vec![0i16; CHUNK];
            if mode == ChannelMode::Stereo {
                let p = part(out_dir, format!("{id}.wav"));
                let mut w = WavWriter::create_buffered(&p.tmp, rate, 2, None, OUT_BUF)?;
                let mut inter = vec![0i16; 2 * CHUNK];
                loop {
                    let na = sa.fill(&mut ba)?;
                    let nb = sb.fill(&mut bb)?;
                    let n = na.max(nb);
                    if n == 0 {
                        break;
                    }
                    ba[na..n].fill(0);
                    bb[nb..n].fill(0);
                    for ((o, &l), &r) in inter.chunks_exact_mut(2).zip(&ba[..n]).zip(&bb[..n]) {
                        o[0] = l;
                        o[1] = r;
                    }
                    w.write_samples(&inter[..2 * n])?;
                }
                Ok(vec![commit(w, &p, opts.sync)?])
            } else {
                let pa = part(out_dir, format!("{id}-caller.wav"));
                let pb = part(out_dir, format!("{id}-callee.wav"));
                let mut wa = WavWriter::create_buffered(&pa.tmp, rate, 1, None, OUT_BUF)?;
                let mut wb = WavWriter::create_buffered(&pb.tmp, rate, 1, None, OUT_BUF)?;
                loop {
                    let na = sa.fill(&mut ba)?;
                    let nb = sb.fill(&mut bb)?;
                    if na == 0 && nb == 0 {
                        break;
                    }
                    wa.write_samples(&ba[..na])?;
                    wb.write_samples(&bb[..nb])?;
                }
                Ok(vec![
                    commit(wa, &pa, opts.sync)?,
                    commit(wb, &pb, opts.sync)?,
                ])
            }
        }
    }
}
