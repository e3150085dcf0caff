//! One process of a kind per data directory.
//!
//! A second `cr-recorder` on the same configuration must not "recover" the legs of the
//! calls the first one is recording, and two uploaders on one spool must not deliver the
//! same set twice. Each takes an exclusive advisory lock (`flock`) on a file in the data
//! directory before it touches anything else, and holds it as long as it runs. The kernel
//! releases the lock when the process ends, however it ends, so a crash never leaves a
//! stale lock behind; the pid written into the file only tells the operator who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why [`InstanceLock::acquire`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds the lock.
    #[error("{} is in use by another running {name} (pid {}); stop it first, or give this one its own data_dir", path.display(), pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()))]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The process the lock names.
        name: String,
        /// The holder's pid, as it wrote it into the lock file.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    #[error("{}: cannot take the instance lock: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// An exclusive lock on `DIR/NAME.lock`, held until dropped.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock `dir/name.lock` (creating `dir` 0700 and the file 0600 when missing)
    /// without waiting, and writes this process's pid into it.
    pub fn acquire(dir: &Path, name: &str) -> Result<Self, LockError> {
        let path = dir.join(format!("{name}.lock"));
        let io = |source| LockError::Io { path: path.clone(), source };
        crate::private_dir(dir).map_err(io)?;
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held { path, name: name.to_owned(), pid: text.trim().parse().ok() });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).and_then(|()| file.seek(SeekFrom::Start(0))).map_err(io)?;
        writeln!(file, "{}", std::process::id()).and_then(|()| file.sync_data()).map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_dir_is_refused_and_names_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(d.path(), "cr-recorder").unwrap();
        // flock locks belong to the open file description: a second open in the same
        // process conflicts just as another process would.
        match InstanceLock::acquire(d.path(), "cr-recorder") {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        // Another kind of process has its own lock.
        let _other = InstanceLock::acquire(d.path(), "cr-uploader").unwrap();
        drop(first);
        InstanceLock::acquire(d.path(), "cr-recorder").unwrap();
    }
}
