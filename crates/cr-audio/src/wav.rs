//! WAV and RF64 (EBU Tech 3306) container: a streaming 16-bit PCM writer that turns into
//! RF64 by itself past 4 GiB, and a reader of the common WAV forms with typed errors.
//!
//! Layout written by [`WavWriter`] (the same for leg files and finished recordings):
//!
//! ```text
//! RIFF <size> WAVE | JUNK(28) | fmt (16) | [cral(24)] | data <size> ...samples...
//! ```
//!
//! The 28-byte `JUNK` chunk is the place holder EBU Tech 3306 recommends: when the file
//! outgrows 4 GiB the header becomes `RF64 FFFFFFFF WAVE | ds64(28) | ...` in place, with
//! the 64-bit sizes in `ds64`, so no data ever moves. `cral` is this crate's own chunk on
//! leg files (start time and state); every WAV reader skips unknown chunks.
//!
//! One file on purpose (~900 lines with its unit tests): writer and reader share the chunk
//! layout constants and the RF64 size rules, which must change together.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{AudioError, Result};
use crate::g711;

/// Lowest sample rate this crate accepts in a WAV file.
pub const MIN_RATE: u32 = 1_000;
/// Highest sample rate this crate accepts in a WAV file.
pub const MAX_RATE: u32 = 384_000;
/// Largest number of channels this crate reads.
pub const MAX_CHANNELS: u16 = 8;

const FMT_PCM: u16 = 1;
const FMT_FLOAT: u16 = 3;
const FMT_ALAW: u16 = 6;
const FMT_ULAW: u16 = 7;
const FMT_EXTENSIBLE: u16 = 0xFFFE;

/// Encoding of the samples in a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SampleFormat {
    /// 8-bit unsigned integer PCM.
    U8,
    /// 16-bit signed integer PCM.
    I16,
    /// 24-bit signed integer PCM.
    I24,
    /// 32-bit signed integer PCM.
    I32,
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// G.711 µ-law, 8 bits.
    ULaw,
    /// G.711 A-law, 8 bits.
    ALaw,
}

impl SampleFormat {
    /// Bytes per sample of one channel.
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::U8 | SampleFormat::ULaw | SampleFormat::ALaw => 1,
            SampleFormat::I16 => 2,
            SampleFormat::I24 => 3,
            SampleFormat::I32 | SampleFormat::F32 => 4,
            SampleFormat::F64 => 8,
        }
    }
}

/// State of a leg file as recorded in its `cral` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// The writer was still running when the header was last written (or it crashed).
    Recording,
    /// The writer finished the file normally (or `recover` repaired it).
    Finished,
}

/// The `cral` chunk of a leg file: when the leg started and whether it was finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegChunk {
    /// Wall-clock time of sample 0 of the leg.
    pub started_at: SystemTime,
    /// Whether the writer finished the file.
    pub state: LegState,
}

const CRAL_LEN: usize = 24;

impl LegChunk {
    fn encode(&self) -> [u8; CRAL_LEN] {
        let mut b = [0u8; CRAL_LEN];
        b[0..4].copy_from_slice(&1u32.to_le_bytes());
        let state: u32 = match self.state {
            LegState::Recording => 0,
            LegState::Finished => 1,
        };
        b[4..8].copy_from_slice(&state.to_le_bytes());
        let ns: i128 = match self.started_at.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        let ns = ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        b[8..16].copy_from_slice(&ns.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<LegChunk> {
        if b.len() < 16 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != 1 {
            return None;
        }
        let state = match u32::from_le_bytes([b[4], b[5], b[6], b[7]]) {
            1 => LegState::Finished,
            _ => LegState::Recording,
        };
        let mut ns = [0u8; 8];
        ns.copy_from_slice(&b[8..16]);
        let ns = i64::from_le_bytes(ns);
        let started_at = if ns >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_nanos(ns as u64))?
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_nanos(ns.unsigned_abs()))?
        };
        Some(LegChunk { started_at, state })
    }
}

/// Builds the header [`WavWriter`] writes: 16-bit PCM, `channels` channels, `data_bytes` of
/// samples. Its length does not depend on `data_bytes` (RIFF and RF64 forms are equally long).
pub(crate) fn header_bytes(
    rate: u32,
    channels: u16,
    leg: Option<&LegChunk>,
    data_bytes: u64,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(112);
    let header_len: u64 = 12
        + 36
        + 24
        + if leg.is_some() {
            8 + CRAL_LEN as u64
        } else {
            0
        }
        + 8;
    let riff_size = header_len - 8 + data_bytes;
    let rf64 = riff_size >= u32::MAX as u64;
    let block_align = channels * 2;
    if rf64 {
        h.extend_from_slice(b"RF64");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(b"ds64");
        h.extend_from_slice(&28u32.to_le_bytes());
        h.extend_from_slice(&riff_size.to_le_bytes());
        h.extend_from_slice(&data_bytes.to_le_bytes());
        h.extend_from_slice(&(data_bytes / block_align as u64).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
    } else {
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(riff_size as u32).to_le_bytes());
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(b"JUNK");
        h.extend_from_slice(&28u32.to_le_bytes());
        h.extend_from_slice(&[0u8; 28]);
    }
    h.extend_from_slice(b"fmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&FMT_PCM.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * block_align as u32).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    if let Some(leg) = leg {
        h.extend_from_slice(b"cral");
        h.extend_from_slice(&(CRAL_LEN as u32).to_le_bytes());
        h.extend_from_slice(&leg.encode());
    }
    h.extend_from_slice(b"data");
    let data_size = if rf64 { u32::MAX } else { data_bytes as u32 };
    h.extend_from_slice(&data_size.to_le_bytes());
    debug_assert_eq!(h.len() as u64, header_len);
    h
}

/// Streaming writer of 16-bit PCM WAV files that become RF64 past 4 GiB.
///
/// Samples go through a small buffer; [`WavWriter::update_header`] flushes it and rewrites
/// the header so that the file on disk is valid at that moment (what leg writers call once
/// a second). Memory use is constant whatever the length.
#[derive(Debug)]
pub struct WavWriter {
    file: BufWriter<File>,
    path: PathBuf,
    rate: u32,
    channels: u16,
    leg: Option<LegChunk>,
    data_bytes: u64,
    scratch: Vec<u8>,
}

const SCRATCH_SAMPLES: usize = 2048;

impl WavWriter {
    /// Creates (truncates) `path` and writes a header for an empty file. With a `leg`
    /// chunk (a leg file) an existing file is an error instead.
    /// `channels` is 1 or 2; `rate` between [`MIN_RATE`] and [`MAX_RATE`].
    pub fn create(
        path: &Path,
        rate: u32,
        channels: u16,
        leg: Option<LegChunk>,
    ) -> Result<WavWriter> {
        Self::create_buffered(path, rate, channels, leg, 8192)
    }

    /// Like [`WavWriter::create`] with an output buffer of `buffer` bytes (8 KiB there);
    /// a large buffer (e.g. 1 MiB) makes bulk writing faster, a small one keeps open
    /// leg writers small.
    pub fn create_buffered(
        path: &Path,
        rate: u32,
        channels: u16,
        leg: Option<LegChunk>,
        buffer: usize,
    ) -> Result<WavWriter> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(AudioError::InvalidArgument(format!(
                "sample rate {rate} Hz out of range {MIN_RATE}..={MAX_RATE}"
            )));
        }
        if !(1..=2).contains(&channels) {
            return Err(AudioError::InvalidArgument(format!(
                "{channels} channels: only 1 or 2 are written"
            )));
        }
        // A leg file is never created over an existing one: that may be a leg of a
        // crashed run that `recover` has not seen yet.
        let file = if leg.is_some() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
        } else {
            File::create(path)
        }
        .map_err(|e| AudioError::io("create", path, e))?;
        let mut w = WavWriter {
            file: BufWriter::with_capacity(buffer.max(512), file),
            path: path.to_path_buf(),
            rate,
            channels,
            leg,
            data_bytes: 0,
            scratch: Vec::new(),
        };
        let h = header_bytes(rate, channels, w.leg.as_ref(), 0);
        w.file
            .write_all(&h)
            .map_err(|e| AudioError::io("write", path, e))?;
        Ok(w)
    }

    /// Path of the file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Number of frames (samples per channel) written so far.
    pub fn frames(&self) -> u64 {
        self.data_bytes / (2 * self.channels as u64)
    }

    /// Appends interleaved samples (`channels` per frame).
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<()> {
        for chunk in samples.chunks(SCRATCH_SAMPLES) {
            self.scratch.resize(chunk.len() * 2, 0);
            for (b, s) in self.scratch.chunks_exact_mut(2).zip(chunk) {
                b.copy_from_slice(&s.to_le_bytes());
            }
            self.file
                .write_all(&self.scratch)
                .map_err(|e| AudioError::io("write", &self.path, e))?;
        }
        self.data_bytes += samples.len() as u64 * 2;
        Ok(())
    }

    /// Appends raw little-endian sample bytes (whole frames).
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| AudioError::io("write", &self.path, e))?;
        self.data_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Appends `frames` frames of digital silence.
    pub fn write_silence(&mut self, frames: u64) -> Result<()> {
        let zeros = [0u8; 4096];
        let mut left = frames * 2 * self.channels as u64;
        self.data_bytes += left;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            self.file
                .write_all(&zeros[..n])
                .map_err(|e| AudioError::io("write", &self.path, e))?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Flushes buffered samples to the operating system and rewrites the header so the
    /// file is valid as it stands (survives the process being killed).
    pub fn update_header(&mut self) -> Result<()> {
        let h = header_bytes(self.rate, self.channels, self.leg.as_ref(), self.data_bytes);
        let path = &self.path;
        self.file
            .flush()
            .map_err(|e| AudioError::io("write", path, e))?;
        // A positioned write leaves the file offset at the end, where samples go on.
        std::os::unix::fs::FileExt::write_all_at(self.file.get_ref(), &h, 0)
            .map_err(|e| AudioError::io("write header", path, e))
    }

    /// Writes data to stable storage (`fsync`); call after [`WavWriter::update_header`]
    /// when power loss, not just a crash of the process, must be survived.
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .get_ref()
            .sync_data()
            .map_err(|e| AudioError::io("sync", &self.path, e))
    }

    /// Writes the final header (marking a leg file finished), flushes and syncs the file
    /// to stable storage. Returns the number of frames written.
    pub fn finish(self) -> Result<u64> {
        self.close(true)
    }

    /// Like [`WavWriter::finish`]; `sync = false` leaves writing back to the OS (the
    /// file is complete for every reader, but a power loss in the next seconds may lose it).
    pub fn close(mut self, sync: bool) -> Result<u64> {
        if let Some(leg) = self.leg.as_mut() {
            leg.state = LegState::Finished;
        }
        self.update_header()?;
        if sync {
            self.file
                .get_ref()
                .sync_all()
                .map_err(|e| AudioError::io("sync", &self.path, e))?;
        }
        Ok(self.frames())
    }
}

/// What the header of a WAV file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of interleaved channels.
    pub channels: u16,
    /// Sample encoding.
    pub format: SampleFormat,
    /// Byte offset of the first sample.
    pub data_offset: u64,
    /// Bytes of sample data (from the header; for `recover`, from the file length).
    pub data_bytes: u64,
    /// Whether the file is RF64.
    pub rf64: bool,
    /// The leg chunk, when the file is a leg written by this crate.
    pub leg: Option<LegChunk>,
}

impl WavInfo {
    /// Bytes per frame (all channels of one sample instant).
    pub fn block_align(&self) -> u64 {
        self.format.bytes() as u64 * self.channels as u64
    }

    /// Number of frames in the data chunk.
    pub fn frames(&self) -> u64 {
        self.data_bytes / self.block_align()
    }

    /// Duration of the audio.
    pub fn duration(&self) -> Duration {
        frames_to_duration(self.frames(), self.sample_rate)
    }
}

pub(crate) fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    let secs = frames / rate as u64;
    let rem = frames % rate as u64;
    Duration::from_secs(secs) + Duration::from_nanos(rem * 1_000_000_000 / rate as u64)
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            AudioError::Truncated {
                path: path.to_path_buf(),
                reason: format!("file ends inside {what}"),
            }
        } else {
            AudioError::io("read", path, e)
        }
    })
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// How to treat a data chunk whose size disagrees with the file's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataSize {
    /// Trust the header; a file shorter than it says is an error.
    Strict,
    /// The data runs to the end of the file (recovering a leg that was cut off).
    ToEndOfFile,
    /// Whatever the header says, unchecked (to report what a stale header claimed).
    Declared,
}

/// Parses the header of a WAV/RF64 stream of `file_len` bytes, leaving `r` at the first sample.
pub(crate) fn parse_header<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    path: &Path,
    mode: DataSize,
) -> Result<WavInfo> {
    let mut riff = [0u8; 12];
    if file_len < 12 {
        return Err(AudioError::NotWav {
            path: path.to_path_buf(),
            reason: format!("only {file_len} bytes"),
        });
    }
    read_exact_or(r, &mut riff, path, "the RIFF header")?;
    let rf64 = match &riff[0..4] {
        b"RIFF" => false,
        b"RF64" | b"BW64" => true,
        other => {
            return Err(AudioError::NotWav {
                path: path.to_path_buf(),
                // Never the bytes found: the file may be anything (issue 11).
                reason: format!(
                    "does not start with RIFF or RF64 ({} other bytes)",
                    other.len()
                ),
            });
        }
    };
    if &riff[8..12] != b"WAVE" {
        return Err(AudioError::NotWav {
            path: path.to_path_buf(),
            reason: "RIFF form type is not WAVE".into(),
        });
    }
    let mut pos: u64 = 12;
    let mut ds64_data: Option<u64> = None;
    let mut fmt: Option<(u32, u16, SampleFormat)> = None;
    let mut leg = None;
    loop {
        if pos + 8 > file_len {
            return Err(AudioError::Truncated {
                path: path.to_path_buf(),
                reason: "no data chunk before the end of the file".into(),
            });
        }
        let mut ch = [0u8; 8];
        read_exact_or(r, &mut ch, path, "a chunk header")?;
        pos += 8;
        let id = [ch[0], ch[1], ch[2], ch[3]];
        let size = u32_at(&ch, 4) as u64;
        match &id {
            b"data" => {
                if fmt.is_none() {
                    return Err(AudioError::BadChunk {
                        path: path.to_path_buf(),
                        reason: "data chunk before fmt chunk".into(),
                    });
                }
                let avail = file_len - pos;
                let declared = if size == u32::MAX as u64 {
                    // RF64, or a streaming writer that never came back to fill in the size.
                    ds64_data.unwrap_or(avail)
                } else if size == 0 && !rf64 && mode != DataSize::Declared {
                    // Size never filled in (a PBX killed before it closed the file).
                    avail
                } else {
                    size
                };
                let data_bytes = match mode {
                    DataSize::Strict => {
                        if declared > avail {
                            return Err(AudioError::Truncated {
                                path: path.to_path_buf(),
                                reason: format!(
                                    "data chunk says {declared} bytes, file has {avail}"
                                ),
                            });
                        }
                        declared
                    }
                    DataSize::ToEndOfFile => avail,
                    DataSize::Declared => declared,
                };
                let (sample_rate, channels, format) = fmt.ok_or_else(|| AudioError::BadChunk {
                    path: path.to_path_buf(),
                    reason: "no fmt chunk".into(),
                })?;
                let mut info = WavInfo {
                    sample_rate,
                    channels,
                    format,
                    data_offset: pos,
                    data_bytes,
                    rf64,
                    leg,
                };
                info.data_bytes -= info.data_bytes % info.block_align();
                return Ok(info);
            }
            b"fmt " | b"ds64" | b"cral" => {
                if size > 1024 || pos + size > file_len {
                    return Err(AudioError::BadChunk {
                        path: path.to_path_buf(),
                        reason: format!(
                            "{} chunk of {size} bytes (file has {} left)",
                            String::from_utf8_lossy(&id),
                            file_len - pos
                        ),
                    });
                }
                let mut body = vec![0u8; size as usize];
                read_exact_or(r, &mut body, path, "a chunk")?;
                pos += size;
                if size % 2 == 1 && pos < file_len {
                    r.seek(SeekFrom::Current(1))
                        .map_err(|e| AudioError::io("seek", path, e))?;
                    pos += 1;
                }
                match &id {
                    b"fmt " => fmt = Some(parse_fmt(&body, path)?),
                    b"ds64" => {
                        if body.len() < 24 {
                            return Err(AudioError::BadChunk {
                                path: path.to_path_buf(),
                                reason: format!("ds64 chunk of {size} bytes, needs 24"),
                            });
                        }
                        ds64_data = Some(u64_at(&body, 8));
                    }
                    _ => leg = LegChunk::decode(&body),
                }
            }
            _ => {
                let skip = size + (size & 1);
                if pos + skip > file_len {
                    return Err(AudioError::BadChunk {
                        path: path.to_path_buf(),
                        reason: format!(
                            "{:?} chunk of {size} bytes runs past the end of the file",
                            String::from_utf8_lossy(&id)
                        ),
                    });
                }
                r.seek(SeekFrom::Current(skip as i64))
                    .map_err(|e| AudioError::io("seek", path, e))?;
                pos += skip;
            }
        }
    }
}

fn parse_fmt(b: &[u8], path: &Path) -> Result<(u32, u16, SampleFormat)> {
    let bad = |reason: String| AudioError::BadChunk {
        path: path.to_path_buf(),
        reason,
    };
    let unsupported = |reason: String| AudioError::Unsupported {
        path: path.to_path_buf(),
        reason,
    };
    if b.len() < 16 {
        return Err(bad(format!(
            "fmt chunk of {} bytes, needs at least 16",
            b.len()
        )));
    }
    let mut tag = u16_at(b, 0);
    let channels = u16_at(b, 2);
    let rate = u32_at(b, 4);
    let block_align = u16_at(b, 12);
    let bits = u16_at(b, 14);
    if tag == FMT_EXTENSIBLE {
        if b.len() < 40 {
            return Err(bad(format!(
                "WAVE_FORMAT_EXTENSIBLE fmt chunk of {} bytes, needs 40",
                b.len()
            )));
        }
        tag = u16_at(b, 24);
    }
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(unsupported(format!(
            "{channels} channels (1 to {MAX_CHANNELS} are read)"
        )));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(unsupported(format!(
            "sample rate {rate} Hz (must be {MIN_RATE} to {MAX_RATE})"
        )));
    }
    let format = match (tag, bits) {
        (FMT_PCM, 8) => SampleFormat::U8,
        (FMT_PCM, 16) => SampleFormat::I16,
        (FMT_PCM, 24) => SampleFormat::I24,
        (FMT_PCM, 32) => SampleFormat::I32,
        (FMT_FLOAT, 32) => SampleFormat::F32,
        (FMT_FLOAT, 64) => SampleFormat::F64,
        (FMT_ULAW, 8) => SampleFormat::ULaw,
        (FMT_ALAW, 8) => SampleFormat::ALaw,
        _ => {
            return Err(unsupported(format!(
                "format tag {tag:#06x} with {bits} bits (supported: PCM 8/16/24/32-bit, float 32/64-bit, µ-law, A-law)"
            )));
        }
    };
    if block_align as usize != format.bytes() * channels as usize {
        return Err(bad(format!(
            "block align {block_align} does not match {channels} channels of {bits} bits"
        )));
    }
    Ok((rate, channels, format))
}

/// Reads any supported WAV/RF64 file as a stream of mono 16-bit samples (channels are
/// averaged; µ-law/A-law decoded; 8-bit, 24/32-bit and float converted), with constant memory.
#[derive(Debug)]
pub struct WavReader {
    file: BufReader<File>,
    pub(crate) path: PathBuf,
    info: WavInfo,
    left: u64,
    buf: Vec<u8>,
}

impl WavReader {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<WavReader> {
        Self::open_mode(path, DataSize::Strict)
    }

    /// Reads a file the caller opened itself (e.g. with `O_NOFOLLOW`, after checking its
    /// descriptor), so that what was checked is what is read; `path` names it in messages.
    pub fn from_file(file: File, path: &Path) -> Result<WavReader> {
        Self::from_file_mode(file, path, DataSize::Strict)
    }

    pub(crate) fn open_mode(path: &Path, mode: DataSize) -> Result<WavReader> {
        let f = File::open(path).map_err(|e| AudioError::io("open", path, e))?;
        Self::from_file_mode(f, path, mode)
    }

    fn from_file_mode(f: File, path: &Path, mode: DataSize) -> Result<WavReader> {
        let len = f
            .metadata()
            .map_err(|e| AudioError::io("stat", path, e))?
            .len();
        let mut file = BufReader::with_capacity(128 * 1024, f);
        let info = parse_header(&mut file, len, path, mode)?;
        Ok(WavReader {
            file,
            path: path.to_path_buf(),
            left: info.frames(),
            info,
            buf: Vec::new(),
        })
    }

    /// The header.
    pub fn info(&self) -> &WavInfo {
        &self.info
    }

    /// Frames not read yet.
    pub fn frames_left(&self) -> u64 {
        self.left
    }

    /// Skips `frames` frames (seeks; the data is not read).
    pub fn skip_frames(&mut self, frames: u64) -> Result<()> {
        let n = frames.min(self.left);
        let bytes = n * self.info.block_align();
        let off = i64::try_from(bytes)
            .map_err(|_| AudioError::InvalidArgument("skip too large".into()))?;
        self.file
            .seek_relative(off)
            .map_err(|e| AudioError::io("seek", &self.path, e))?;
        self.left -= n;
        Ok(())
    }

    /// Goes back to the first frame (to read the data once more, e.g. after
    /// [`crate::measure_audio`]).
    pub fn rewind(&mut self) -> Result<()> {
        self.file
            .seek(std::io::SeekFrom::Start(self.info.data_offset))
            .map_err(|e| AudioError::io("seek", &self.path, e))?;
        self.left = self.info.frames();
        Ok(())
    }

    /// Whether the data is 16-bit mono PCM, which [`WavReader::read_raw`] returns as is.
    pub(crate) fn is_i16_mono(&self) -> bool {
        self.info.channels == 1 && self.info.format == SampleFormat::I16
    }

    /// Reads whole frames of raw data bytes into `out` (at most `out.len()` bytes, rounded
    /// down to whole frames); returns the number of frames (0 at the end).
    pub(crate) fn read_raw(&mut self, out: &mut [u8]) -> Result<usize> {
        let ba = self.info.block_align() as usize;
        let n = ((out.len() / ba) as u64).min(self.left) as usize;
        if n == 0 {
            return Ok(0);
        }
        read_exact_or(
            &mut self.file,
            &mut out[..n * ba],
            &self.path,
            "the data chunk",
        )?;
        self.left -= n as u64;
        Ok(n)
    }

    /// Reads up to `frames` whole frames into `self.buf`; returns how many (0 at the end).
    fn fill(&mut self, frames: usize) -> Result<usize> {
        let n = (frames as u64).min(self.left) as usize;
        self.buf.resize(n * self.info.block_align() as usize, 0);
        read_exact_or(&mut self.file, &mut self.buf, &self.path, "the data chunk")?;
        self.left -= n as u64;
        Ok(n)
    }

    /// Reads whole frames into `out` as interleaved 16-bit samples, one a channel (at most
    /// `out.len()` samples, rounded down to whole frames); returns the number of frames (0 at
    /// the end). Every format is converted as [`WavReader::read_mono`] does, without mixing.
    pub fn read_interleaved(&mut self, out: &mut [i16]) -> Result<usize> {
        let n = self.fill(out.len() / self.info.channels as usize)?;
        let (format, bytes) = (self.info.format, self.info.format.bytes());
        for (o, s) in out.iter_mut().zip(self.buf.chunks_exact(bytes)) {
            *o = sample_to_i16(format, s);
        }
        Ok(n)
    }

    /// Reads up to `out.len()` mono samples into `out`; returns how many (0 at the end).
    pub fn read_mono(&mut self, out: &mut [i16]) -> Result<usize> {
        let n = self.fill(out.len())?;
        if n == 0 {
            return Ok(0);
        }
        let ba = self.info.block_align() as usize;
        let ch = self.info.channels as usize;
        let bytes = self.info.format.bytes();
        if ch == 1 && self.info.format == SampleFormat::I16 {
            for (o, b) in out.iter_mut().zip(self.buf.chunks_exact(2)) {
                *o = i16::from_le_bytes([b[0], b[1]]);
            }
            return Ok(n);
        }
        let format = self.info.format;
        for (o, frame) in out.iter_mut().zip(self.buf.chunks_exact(ba)) {
            let mut sum: i64 = 0;
            for s in frame.chunks_exact(bytes) {
                sum += sample_to_i16(format, s) as i64;
            }
            *o = (sum / ch as i64) as i16;
        }
        Ok(n)
    }
}

fn sample_to_i16(format: SampleFormat, s: &[u8]) -> i16 {
    match format {
        SampleFormat::U8 => ((s[0] as i16) - 128) << 8,
        SampleFormat::I16 => i16::from_le_bytes([s[0], s[1]]),
        SampleFormat::I24 => i16::from_le_bytes([s[1], s[2]]),
        SampleFormat::I32 => i16::from_le_bytes([s[2], s[3]]),
        SampleFormat::F32 => float_to_i16(f32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f64),
        SampleFormat::F64 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&s[..8]);
            float_to_i16(f64::from_le_bytes(a))
        }
        SampleFormat::ULaw => g711::ulaw_decode(s[0]),
        SampleFormat::ALaw => g711::alaw_decode(s[0]),
    }
}

fn float_to_i16(x: f64) -> i16 {
    if x.is_nan() {
        return 0;
    }
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Parses the header of a WAV/RF64 file held in memory (`bytes` is the whole file, or
/// at least its header and data). For checks and fuzzing; errors as [`WavReader::open`].
pub fn parse_header_bytes(bytes: &[u8]) -> Result<WavInfo> {
    parse_header(
        &mut std::io::Cursor::new(bytes),
        bytes.len() as u64,
        Path::new("<memory>"),
        DataSize::Strict,
    )
}

/// Reads only the header of a WAV/RF64 file (for checks: duration, rate, leg start time).
pub fn read_info(path: &Path) -> Result<WavInfo> {
    Ok(WavReader::open(path)?.info)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(bytes: &[u8]) -> Result<WavInfo> {
        parse_header(
            &mut Cursor::new(bytes),
            bytes.len() as u64,
            Path::new("t.wav"),
            DataSize::Strict,
        )
    }

    // Stereo frames come back with their channels apart, in file order, and a short `out`
    // gets whole frames only.
    #[test]
    fn read_interleaved_keeps_the_channels_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let mut w = WavWriter::create(&path, 8000, 2, None).unwrap();
        w.write_samples(&[1, -1, 2, -2, 3, -3]).unwrap();
        w.finish().unwrap();
        let mut r = WavReader::open(&path).unwrap();
        let mut out = [0i16; 5];
        assert_eq!(r.read_interleaved(&mut out).unwrap(), 2);
        assert_eq!(&out[..4], &[1, -1, 2, -2]);
        assert_eq!(r.read_interleaved(&mut out).unwrap(), 1);
        assert_eq!(&out[..2], &[3, -3]);
        assert_eq!(r.read_interleaved(&mut out).unwrap(), 0);
    }

    #[test]
    fn header_round_trips_riff_and_rf64() {
        let leg = LegChunk {
            started_at: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            state: LegState::Recording,
        };
        for data in [0u64, 16_000, (u32::MAX as u64) + 10] {
            let h = header_bytes(8000, 2, Some(&leg), data);
            assert_eq!(h.len(), 112);
            let mut bytes = h.clone();
            // Only the header is present: parse with "to end of file" and check the declared size separately.
            if data > 0 {
                bytes.extend_from_slice(&[0u8; 8]);
            }
            let info = parse_header(
                &mut Cursor::new(&bytes),
                bytes.len() as u64 + data,
                Path::new("t"),
                DataSize::Strict,
            )
            .unwrap();
            assert_eq!(info.data_bytes, data - data % 4);
            assert_eq!(info.rf64, data > u32::MAX as u64 - 200);
            assert_eq!(info.leg, Some(leg));
            assert_eq!(
                (info.sample_rate, info.channels, info.format),
                (8000, 2, SampleFormat::I16)
            );
        }
    }

    #[test]
    fn data_size_never_filled_in_means_to_the_end_of_the_file() {
        let mut b = header_bytes(8000, 1, None, 0);
        b.extend_from_slice(&[1u8; 1000]);
        assert_eq!(parse(&b).unwrap().frames(), 500);
    }

    #[test]
    fn malformed_headers_are_errors() {
        let good = {
            let mut h = header_bytes(8000, 1, None, 4);
            h.extend_from_slice(&[1, 0, 2, 0]);
            h
        };
        assert!(parse(&good).is_ok());
        for cut in 0..good.len() - 4 {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Absurd rate.
        let mut bad = good.clone();
        bad[48 + 12..48 + 16].copy_from_slice(&4_000_000_000u32.to_le_bytes());
        assert!(matches!(parse(&bad), Err(AudioError::Unsupported { .. })));
        // Zero channels.
        let mut bad = good.clone();
        bad[48 + 10..48 + 12].copy_from_slice(&0u16.to_le_bytes());
        assert!(matches!(parse(&bad), Err(AudioError::Unsupported { .. })));
        // Chunk size past the end of the file.
        let mut bad = good.clone();
        bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&bad), Err(AudioError::BadChunk { .. })));
        // Data chunk larger than the file.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 8..n - 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(parse(&bad), Err(AudioError::Truncated { .. })));
        // Block align lying about the sample size.
        let mut bad = good.clone();
        bad[48 + 20..48 + 22].copy_from_slice(&7u16.to_le_bytes());
        assert!(matches!(parse(&bad), Err(AudioError::BadChunk { .. })));
    }
}
