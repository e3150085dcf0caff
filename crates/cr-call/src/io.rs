//! The file side of the call core: a [`LegStore`] on a [`LegsDir`], the call record, the
//! leftovers of a crash. Everything here blocks (file writes, syncs): call it from a
//! thread that may block, or from the event loop only for the per-packet leg writes the
//! recorder has always done there.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cr_audio::{LegOptions, LegWriter, RtpFrame};

use crate::layout::{LegsDir, LegsRoot, Roles};
use crate::legs::{Leg, LegCounts, LegError, LegStore};
use crate::record::CallRecord;
use crate::recovery::Leftover;

/// Why a legs directory could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `call.json` is not a call record.
    #[error("{}: {source}", path.display())]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IoError + '_ {
    move |source| IoError::Io { path: path.to_owned(), source }
}

/// A call's legs as files in its legs directory.
#[derive(Debug)]
pub struct FileLegs {
    dir: LegsDir,
    started: SystemTime,
}

impl FileLegs {
    /// Creates the legs directory of `record` under `root` and writes `call.json` into it
    /// (through `call.json.tmp`), so that a restart after a crash can seal the call.
    pub fn create(root: &LegsRoot, record: &CallRecord) -> Result<Self, IoError> {
        let dir = root.call(&record.id);
        std::fs::create_dir_all(dir.path()).map_err(io(dir.path()))?;
        let tmp = dir.call_record_tmp();
        let json = serde_json::to_vec_pretty(record).map_err(|source| IoError::BadRecord { path: tmp.clone(), source })?;
        std::fs::write(&tmp, json).map_err(io(&tmp))?;
        let dest = dir.call_record();
        std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
        Ok(Self { dir, started: SystemTime::now() })
    }

    /// The directory.
    pub fn dir(&self) -> &LegsDir {
        &self.dir
    }

    /// Sets the wall-clock time of the legs' sample 0 (the moment the call is admitted,
    /// which the core counts from too).
    pub fn start_at(&mut self, started: SystemTime) {
        self.started = started;
    }

    /// A missing side (one mixed stream, or a stream never offered) becomes a silent leg.
    pub fn silence_missing(&self, roles: &Roles) {
        let (caller, callee) = self.dir.leg_paths(roles);
        for p in [&caller, &callee] {
            if !p.exists()
                && let Ok(w) = LegWriter::create(p, LegOptions::new(8_000, self.started))
            {
                let _ = w.finish();
            }
        }
    }

    /// Removes the legs directory.
    pub fn remove(self) -> Result<(), IoError> {
        std::fs::remove_dir_all(self.dir.path()).map_err(io(self.dir.path()))
    }
}

/// A leg file being written.
pub struct FileLeg(LegWriter);

impl Leg for FileLeg {
    fn push_rtp(&mut self, frame: RtpFrame<'_>, since: Duration) -> Result<(), LegError> {
        Ok(self.0.push_rtp(frame, since)?)
    }

    fn tick(&mut self, since: Duration) -> Result<(), LegError> {
        Ok(self.0.tick(since)?)
    }

    fn finish(self) -> Result<LegCounts, LegError> {
        let s = self.0.finish()?;
        Ok(LegCounts { packets: s.packets, late: s.late_packets, quality: Some(s.quality) })
    }
}

impl LegStore for FileLegs {
    type Leg = FileLeg;

    fn create_leg(&mut self, index: usize, sample_rate: u32) -> Result<FileLeg, LegError> {
        let path = self.dir.stream(index);
        LegWriter::create(&path, LegOptions::new(sample_rate, self.started))
            .map(FileLeg)
            .map_err(|e| LegError::Other(format!("{}: {e}", path.display())))
    }

    fn write_roles(&mut self, roles: &Roles) -> Result<(), LegError> {
        let path = self.dir.roles();
        let json = serde_json::to_vec(roles).map_err(|e| LegError::Other(e.to_string()))?;
        std::fs::write(&path, json).map_err(|e| LegError::Other(format!("{}: {e}", path.display())))
    }

    fn write_metadata(&mut self, xml: &str) -> Result<(), LegError> {
        let path = self.dir.metadata_xml();
        std::fs::write(&path, xml).map_err(|e| LegError::Other(format!("{}: {e}", path.display())))
    }
}

/// The roles kept in `dir` (`roles.json`; default when it is missing or unreadable).
pub fn read_roles(dir: &LegsDir) -> Roles {
    std::fs::read(dir.roles()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// The caller's and callee's leg files of `dir`, after its `roles.json`.
pub fn leg_paths(dir: &LegsDir) -> (PathBuf, PathBuf) {
    dir.leg_paths(&read_roles(dir))
}

/// The legs directories under `root`, sorted (oldest set id first); none when `root`
/// cannot be read.
pub fn leftover_dirs(root: &LegsRoot) -> Vec<LegsDir> {
    let Ok(entries) = std::fs::read_dir(root.path()) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.into_iter().map(LegsDir::new).collect()
}

/// Reads what a crash left in `dir`.
pub fn read_leftover(dir: LegsDir) -> Result<Leftover, IoError> {
    let path = dir.call_record();
    let record = match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|source| IoError::BadRecord { path, source })?),
        Err(_) => None,
    };
    let (caller, callee) = leg_paths(&dir);
    let has_audio = caller.exists() || callee.exists();
    let metadata_xml = std::fs::read_to_string(dir.metadata_xml()).ok();
    Ok(Leftover { dir, record, has_audio, metadata_xml })
}
