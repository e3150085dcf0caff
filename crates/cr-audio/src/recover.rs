//! Completing leg files that a killed process left behind.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{AudioError, Result};
use crate::wav::{DataSize, LegChunk, LegState, frames_to_duration, header_bytes, parse_header};

/// What [`recover`] did with one leg file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoverAction {
    /// The leg had been finished normally; nothing was changed.
    AlreadyFinished,
    /// The header was rewritten to cover all whole samples in the file, and the leg
    /// marked finished. `header_samples` is what the stale header said.
    Repaired {
        /// Samples the header claimed before the repair.
        header_samples: u64,
        /// Bytes of a partly written sample cut off the end.
        trimmed_bytes: u64,
    },
    /// The file is a leg but cannot be repaired (its header itself is cut off); left as is.
    Unrecoverable {
        /// Why.
        reason: String,
    },
}

/// One leg file found by [`recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The file.
    pub path: PathBuf,
    /// What was done.
    pub action: RecoverAction,
    /// Samples in the file now.
    pub samples: u64,
    /// Sample rate (0 when unrecoverable).
    pub sample_rate: u32,
    /// Duration of the file now.
    pub duration: Duration,
    /// Wall-clock time of sample 0, when known.
    pub started_at: Option<SystemTime>,
}

/// Turns every leftover leg file (`*.wav` written by [`crate::LegWriter`]) in `dir` into a
/// valid, finished WAV file, and reports what it did for each. Files that are not leg
/// files are not touched and not reported. Not recursive.
pub fn recover(dir: &Path) -> Result<Vec<Recovered>> {
    let rd = std::fs::read_dir(dir).map_err(|e| AudioError::io("list", dir, e))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| AudioError::io("list", dir, e))?;
        let p = entry.path();
        if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) && p.is_file() {
            paths.push(p);
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        if let Some(r) = recover_file(&p)? {
            out.push(r);
        }
    }
    Ok(out)
}

fn looks_like_leg(path: &Path) -> bool {
    // A leg whose header is cut off still starts with our fixed prefix and may hold "cral".
    // Only the head is read: a leg can be many gigabytes.
    use std::io::Read;
    let mut head = Vec::with_capacity(124);
    std::fs::File::open(path)
        .and_then(|f| f.take(124).read_to_end(&mut head))
        .map(|_| head.starts_with(b"RIFF") && head.windows(4).take(120).any(|w| w == b"cral"))
        .unwrap_or(false)
}

/// Recovers one leg file; `Ok(None)` when the file is not a leg written by this crate.
pub fn recover_file(path: &Path) -> Result<Option<Recovered>> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| AudioError::io("open", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| AudioError::io("stat", path, e))?
        .len();
    let info = match parse_header(&mut f, len, path, DataSize::ToEndOfFile) {
        Ok(i) => i,
        Err(e @ AudioError::Io { .. }) => return Err(e),
        Err(e) => {
            if len < 200 && looks_like_leg(path) {
                return Ok(Some(Recovered {
                    path: path.to_path_buf(),
                    action: RecoverAction::Unrecoverable {
                        reason: e.to_string(),
                    },
                    samples: 0,
                    sample_rate: 0,
                    duration: Duration::ZERO,
                    started_at: None,
                }));
            }
            return Ok(None);
        }
    };
    let Some(leg) = info.leg else { return Ok(None) };
    let samples = info.frames();
    let rec = |action| Recovered {
        path: path.to_path_buf(),
        action,
        samples,
        sample_rate: info.sample_rate,
        duration: frames_to_duration(samples, info.sample_rate),
        started_at: Some(leg.started_at),
    };
    let declared = {
        let mut g = File::open(path).map_err(|e| AudioError::io("open", path, e))?;
        parse_header(&mut g, len, path, DataSize::Declared)
            .map(|i| i.frames())
            .unwrap_or(0)
    };
    let trimmed = len - info.data_offset - info.data_bytes;
    if leg.state == LegState::Finished && declared == samples && trimmed == 0 {
        return Ok(Some(rec(RecoverAction::AlreadyFinished)));
    }
    if info.channels != 1 && info.channels != 2 || info.format != crate::wav::SampleFormat::I16 {
        return Ok(Some(rec(RecoverAction::Unrecoverable {
            reason: "not a 16-bit PCM leg".into(),
        })));
    }
    let fin = LegChunk {
        started_at: leg.started_at,
        state: LegState::Finished,
    };
    let h = header_bytes(info.sample_rate, info.channels, Some(&fin), info.data_bytes);
    if h.len() as u64 != info.data_offset {
        return Ok(Some(rec(RecoverAction::Unrecoverable {
            reason: "header layout not written by this crate".into(),
        })));
    }
    f.set_len(info.data_offset + info.data_bytes)
        .map_err(|e| AudioError::io("truncate", path, e))?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| AudioError::io("seek", path, e))?;
    f.write_all(&h)
        .map_err(|e| AudioError::io("write header", path, e))?;
    f.sync_all().map_err(|e| AudioError::io("sync", path, e))?;
    Ok(Some(rec(RecoverAction::Repaired {
        header_samples: declared,
        trimmed_bytes: trimmed,
    })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wav::{WavReader, WavWriter};

    #[test]
    fn leg_killed_past_4_gib_is_recovered_as_rf64() {
        // A leg whose last header update was below 4 GiB, with data running past it
        // (sparse file: nothing is really written).
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.wav");
        let started_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let leg = LegChunk {
            started_at,
            state: LegState::Recording,
        };
        let mut w = WavWriter::create(&p, 8000, 1, Some(leg)).unwrap();
        w.write_samples(&[5; 8000]).unwrap();
        w.update_header().unwrap();
        drop(w);
        let data: u64 = (1 << 32) + 1_000_001; // odd: a torn last sample
        OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(112 + data)
            .unwrap();
        let r = recover(dir.path()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].action,
            RecoverAction::Repaired {
                header_samples: 8000,
                trimmed_bytes: 1
            }
        );
        assert_eq!(r[0].samples, data / 2);
        assert_eq!(r[0].started_at, Some(started_at));
        let rd = WavReader::open(&p).unwrap();
        assert!(rd.info().rf64);
        assert_eq!(rd.info().frames(), data / 2);
        assert_eq!(rd.info().leg.map(|l| l.state), Some(LegState::Finished));
    }

    #[test]
    fn leg_cut_inside_its_header_is_reported_not_touched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.wav");
        let leg = LegChunk {
            started_at: SystemTime::UNIX_EPOCH,
            state: LegState::Recording,
        };
        WavWriter::create(&p, 8000, 1, Some(leg))
            .unwrap()
            .update_header()
            .unwrap();
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..100]).unwrap();
        let r = recover(dir.path()).unwrap();
        assert!(
            matches!(r[0].action, RecoverAction::Unrecoverable { .. }),
            "{:?}",
            r[0].action
        );
        assert_eq!(std::fs::read(&p).unwrap(), &b[..100]);
    }
}
