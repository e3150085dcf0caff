//! A sealed recording set on local disk.

use std::io::Read;
use std::path::{Path, PathBuf};


use crate::error::SpoolError;

/// One file of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetFile {
    /// File name (no directory).
    pub name: String,
    /// Full local path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// A sealed set: every regular file in one directory, in upload order (audio and metadata
/// first, the signature next, the checksum file `<id>.sha256` last, so that a reader who
/// waits for the checksum file sees a complete set).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingSet {
    /// The set id (`<id>.json`, `<id>.sha256`, ...).
    pub id: String,
    /// The directory holding it.
    pub dir: PathBuf,
    /// Its files in upload order.
    pub files: Vec<SetFile>,
}

impl RecordingSet {
    /// Reads the file list of the set `id` in `dir`. The set must hold `<id>.sha256`.
    pub fn open(dir: &Path, id: &str) -> Result<Self, SpoolError> {
        check_id(id)?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(SpoolError::io(dir))? {
            let entry = entry.map_err(SpoolError::io(dir))?;
            let meta = entry.metadata().map_err(SpoolError::io(entry.path()))?;
            if !meta.is_file() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(SpoolError::BadSet {
                    id: id.to_owned(),
                    reason: format!("file name {:?} is not UTF-8", entry.file_name()),
                });
            };
            files.push(SetFile { path: entry.path(), name, size: meta.len() });
        }
        let manifest = format!("{id}.sha256");
        if !files.iter().any(|f| f.name == manifest) {
            return Err(SpoolError::BadSet {
                id: id.to_owned(),
                reason: format!("{} holds no {manifest}: only sealed sets are delivered", dir.display()),
            });
        }
        let rank = |n: &str| {
            if n == manifest {
                2
            } else if n.starts_with(&manifest) {
                1
            } else {
                0
            }
        };
        files.sort_by(|a, b| rank(&a.name).cmp(&rank(&b.name)).then(a.name.cmp(&b.name)));
        Ok(Self { id: id.to_owned(), dir: dir.to_owned(), files })
    }

    /// Sum of the file sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Ids become file names on every target: ASCII letters, digits, `-`, `_`, `.` only.
pub(crate) fn check_id(id: &str) -> Result<(), SpoolError> {
    if cr_types::set_id::is_valid(id) {
        Ok(())
    } else {
        Err(SpoolError::BadSet {
            id: id.to_owned(),
            reason: cr_types::set_id::RULE.into(),
        })
    }
}

/// SHA-256 of a local file (the workspace's one implementation, [`cr_types::sha256_file`]).
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    cr_types::sha256_file(path).map(|(digest, _)| digest)
}

/// Hashes what a reader yields.
pub(crate) fn sha256_reader(r: impl Read) -> std::io::Result<[u8; 32]> {
    cr_types::sha256_reader(r).map(|(digest, _)| digest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn manifest_goes_last_and_unsealed_sets_are_refused() {
        let d = tempfile::tempdir().unwrap();
        for n in ["x1.sha256", "x1.sha256.SHA256withRSA.sig", "x1.json", "x1-caller.wav", "x1-callee.wav"] {
            std::fs::write(d.path().join(n), n).unwrap();
        }
        let s = RecordingSet::open(d.path(), "x1").unwrap();
        let names: Vec<_> = s.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["x1-callee.wav", "x1-caller.wav", "x1.json", "x1.sha256.SHA256withRSA.sig", "x1.sha256"]);
        assert!(RecordingSet::open(d.path(), "x2").unwrap_err().to_string().contains("x2.sha256"));
        assert!(RecordingSet::open(d.path(), "../x").is_err());
    }
}
