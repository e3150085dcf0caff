//! The target trait and the delivery procedure shared by file-system-like targets.

use std::path::Path;

use crate::error::TargetError;
use crate::set::{RecordingSet, sha256_file};
use crate::template::{PathRules, check_name};

/// What a successful delivery reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivered {
    /// Where the set lies at the target, for the log (e.g. `sftp://host:22/rec/2026/03`).
    pub location: String,
    /// Files written in this attempt.
    pub files_written: usize,
    /// Files that were already there, identical (a retry after an interrupted attempt).
    pub files_present: usize,
    /// Bytes written in this attempt.
    pub bytes_written: u64,
}

/// A storage target: receives whole sets into a directory below its base.
pub trait Target: Send {
    /// The target's configured name.
    fn name(&self) -> &str;
    /// Which names its file system can store (for template checks).
    fn rules(&self) -> PathRules;
    /// One line for the start-up log: kind, server, share/drive, base directory.
    fn describe(&self) -> String;
    /// Connects and signs in, to report whether the target is reachable; returns details
    /// worth logging (e.g. the OneDrive drive id).
    fn check(&mut self) -> Result<String, TargetError>;
    /// Delivers every file of `set` into `dir` (segments below the base; empty = the base),
    /// each under a temporary name first and renamed when complete and verified. Files that
    /// are already there and identical are kept; a different file of the same name is never
    /// overwritten ([`TargetError::Conflict`]). `progress` receives byte counts as they go.
    fn deliver(
        &mut self,
        set: &RecordingSet,
        dir: &[String],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Delivered, TargetError>;
    /// Deletes the files `names` of a set from `dir` (segments below the base, as
    /// delivered), together with any temporary file an interrupted delivery left for them,
    /// then looks again and fails ([`TargetError::Verify`]) if any of them is still there.
    /// A file already absent is not an error (a retry after an interrupted deletion): it
    /// counts in [`Removed::already_absent`]. Directories are left in place. A segment or
    /// name that is not one plain name for the target's file system (`..`, `a/b`) is refused
    /// ([`TargetError::BadName`]) before anything is sent.
    fn remove_set(&mut self, dir: &[String], names: &[String]) -> Result<Removed, TargetError> {
        let _ = (dir, names);
        Err(TargetError::Unsupported { target: self.name().to_owned(), what: "deleting a set" })
    }
    /// Copies the file `name` of a delivered set in `dir` (segments below the base, as
    /// delivered) into the local file `dest` (created or replaced), to read a set back (an
    /// export verifies what it reads). `Ok(None)` when the file is not there (nothing is
    /// left at `dest`), else the bytes copied. Names are checked as for
    /// [`remove_set`](Self::remove_set), before anything is sent.
    fn fetch_file(&mut self, dir: &[String], name: &str, dest: &Path) -> Result<Option<u64>, TargetError> {
        let _ = (dir, name, dest);
        Err(TargetError::Unsupported { target: self.name().to_owned(), what: "reading a set back" })
    }
    /// Drops any open connection (after a failure, so the next attempt starts afresh).
    fn disconnect(&mut self) {}
}

/// What a successful [`Target::remove_set`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Removed {
    /// Where the set lay at the target (e.g. `sftp://host:22/rec/2026/03`).
    pub location: String,
    /// Files deleted in this attempt.
    pub removed: usize,
    /// Files that were already gone.
    pub already_absent: usize,
}

/// How much is checked after each file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Verify {
    /// The size at the target must equal the local size (default; SSH and SMB 3 protect the
    /// bytes in transit).
    #[default]
    Size,
    /// Also read the file back and compare its SHA-256 (doubles the traffic).
    Content,
}

/// File operations of a target that has directories, temporary names and renames (folder,
/// SFTP, SMB). [`StoreTarget`] turns one into a [`Target`].
pub trait Store: Send {
    /// The target's configured name.
    fn target_name(&self) -> &str;
    /// Which names the store can hold.
    fn rules(&self) -> PathRules;
    /// One line for the start-up log.
    fn describe(&self) -> String;
    /// Connects and signs in if not connected.
    fn connect(&mut self) -> Result<(), TargetError>;
    /// Drops the connection.
    fn disconnect(&mut self);
    /// Creates `dir` and its parents, one level at a time.
    fn ensure_dir(&mut self, dir: &[String]) -> Result<(), TargetError>;
    /// The size of `dir/name`, or `None` if it does not exist.
    fn size_of(&mut self, dir: &[String], name: &str) -> Result<Option<u64>, TargetError>;
    /// Writes `local` to `dir/name`, replacing a partial file of that name.
    fn put(
        &mut self,
        local: &Path,
        dir: &[String],
        name: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), TargetError>;
    /// Renames `dir/from` to `dir/to`; `to` does not exist (checked just before).
    fn rename_new(&mut self, dir: &[String], from: &str, to: &str) -> Result<(), TargetError>;
    /// Deletes `dir/name`; `Ok(false)` when it did not exist. The default refuses
    /// ([`TargetError::Unsupported`]).
    fn remove(&mut self, dir: &[String], name: &str) -> Result<bool, TargetError> {
        let _ = (dir, name);
        Err(TargetError::Unsupported { target: self.target_name().to_owned(), what: "deleting a file" })
    }
    /// Reads `dir/name` from its start into `sink`; `Ok(None)` when it does not exist, else
    /// the bytes read.
    fn read_into(&mut self, dir: &[String], name: &str, sink: &mut dyn std::io::Write) -> Result<Option<u64>, TargetError>;
    /// Reads `dir/name` back and returns its SHA-256.
    fn sha256_of(&mut self, dir: &[String], name: &str) -> Result<[u8; 32], TargetError> {
        use sha2::Digest as _;
        let mut h = HashSink(sha2::Sha256::new());
        match self.read_into(dir, name, &mut h)? {
            Some(_) => Ok(h.0.finalize().into()),
            None => Err(TargetError::Remote {
                target: self.target_name().to_owned(),
                op: "read",
                path: format!("{}/{name}", done_loc(dir)),
                detail: "no such file".into(),
            }),
        }
    }
    /// A printable location of `dir`.
    fn location(&self, dir: &[String]) -> String;
}

/// Feeds what is written into a SHA-256.
struct HashSink(sha2::Sha256);

impl std::io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A [`Target`] made of a [`Store`] and the shared delivery procedure.
#[derive(Debug)]
pub struct StoreTarget<S> {
    store: S,
    verify: Verify,
}

impl<S: Store> StoreTarget<S> {
    /// Wraps `store`; verification defaults to [`Verify::Size`].
    pub fn new(store: S) -> Self {
        Self { store, verify: Verify::Size }
    }

    /// Sets what is checked after each file (default [`Verify::Size`]).
    pub fn verify(mut self, verify: Verify) -> Self {
        self.verify = verify;
        self
    }

    /// The store inside.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
}

/// The temporary name a file is written under before it is renamed.
pub fn temp_name(name: &str) -> String {
    format!(".{name}.part")
}

impl<S: Store> Target for StoreTarget<S> {
    fn name(&self) -> &str {
        self.store.target_name()
    }
    fn rules(&self) -> PathRules {
        self.store.rules()
    }
    fn describe(&self) -> String {
        self.store.describe()
    }
    fn check(&mut self) -> Result<String, TargetError> {
        self.store.connect()?;
        let loc = self.store.location(&[]);
        self.store.ensure_dir(&[])?;
        Ok(loc)
    }
    fn disconnect(&mut self) {
        self.store.disconnect();
    }

    fn fetch_file(&mut self, dir: &[String], name: &str, dest: &Path) -> Result<Option<u64>, TargetError> {
        check_names(self.store.target_name(), self.store.rules(), dir, &[name.to_owned()])?;
        self.store.connect()?;
        let target = self.store.target_name().to_owned();
        let local = |e: std::io::Error| TargetError::Local {
            target: target.clone(),
            path: dest.to_owned(),
            detail: e.to_string(),
        };
        let mut f = std::fs::File::create(dest).map_err(local)?;
        let n = self.store.read_into(dir, name, &mut f)?;
        if n.is_none() {
            drop(f);
            std::fs::remove_file(dest).map_err(local)?;
        } else {
            f.sync_all().map_err(local)?;
        }
        Ok(n)
    }

    fn remove_set(&mut self, dir: &[String], names: &[String]) -> Result<Removed, TargetError> {
        check_names(self.store.target_name(), self.store.rules(), dir, names)?;
        self.store.connect()?;
        let mut done = Removed { location: self.store.location(dir), removed: 0, already_absent: 0 };
        for name in names {
            self.store.remove(dir, &temp_name(name))?;
            if self.store.remove(dir, name)? {
                done.removed += 1;
            } else {
                done.already_absent += 1;
            }
        }
        // Look again: a deletion counts only when the target no longer shows the file.
        for name in names {
            if let Some(size) = self.store.size_of(dir, name)? {
                return Err(TargetError::Verify {
                    target: self.store.target_name().to_owned(),
                    path: format!("{}/{name}", done_loc(dir)),
                    detail: format!("still there after deletion ({size} bytes)"),
                });
            }
        }
        Ok(done)
    }

    fn deliver(
        &mut self,
        set: &RecordingSet,
        dir: &[String],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Delivered, TargetError> {
        let target = self.store.target_name().to_owned();
        self.store.connect()?;
        self.store.ensure_dir(dir)?;
        let mut done = Delivered {
            location: self.store.location(dir),
            files_written: 0,
            files_present: 0,
            bytes_written: 0,
        };
        let remote = |n: &str| format!("{}/{n}", done_loc(dir));
        for f in &set.files {
            let local_hash = || {
                sha256_file(&f.path).map_err(|e| TargetError::Local {
                    target: target.clone(),
                    path: f.path.clone(),
                    detail: e.to_string(),
                })
            };
            if let Some(size) = self.store.size_of(dir, &f.name)? {
                // There already: a retry after an interrupted attempt, or someone else's file.
                if size == f.size && self.store.sha256_of(dir, &f.name)? == local_hash()? {
                    done.files_present += 1;
                    progress(f.size);
                    continue;
                }
                return Err(TargetError::Conflict {
                    target,
                    path: remote(&f.name),
                    detail: format!("{size} bytes there, {} bytes here", f.size),
                });
            }
            let tmp = temp_name(&f.name);
            self.store.put(&f.path, dir, &tmp, progress)?;
            let size = self.store.size_of(dir, &tmp)?;
            if size != Some(f.size) {
                return Err(TargetError::Verify {
                    target,
                    path: remote(&tmp),
                    detail: format!("{} bytes expected, {size:?} found", f.size),
                });
            }
            if self.verify == Verify::Content {
                let there = self.store.sha256_of(dir, &tmp)?;
                let here = local_hash()?;
                if there != here {
                    return Err(TargetError::Verify {
                        target,
                        path: remote(&tmp),
                        detail: format!("SHA-256 {} expected, {} read back", hex::encode(here), hex::encode(there)),
                    });
                }
            }
            if self.store.size_of(dir, &f.name)?.is_some() {
                return Err(TargetError::Conflict {
                    target,
                    path: remote(&f.name),
                    detail: "appeared while uploading".into(),
                });
            }
            self.store.rename_new(dir, &tmp, &f.name)?;
            done.files_written += 1;
            done.bytes_written += f.size;
        }
        Ok(done)
    }
}

/// Refuses (before anything is sent) a directory segment or file name that is not one plain
/// name under `rules`: `..`, `a/b`, an empty name, a character the file system cannot store.
pub(crate) fn check_names(target: &str, rules: PathRules, dir: &[String], names: &[String]) -> Result<(), TargetError> {
    for name in dir.iter().chain(names) {
        check_name(name, rules).map_err(|reason| TargetError::BadName { target: target.to_owned(), name: name.clone(), reason })?;
    }
    Ok(())
}

fn done_loc(dir: &[String]) -> String {
    if dir.is_empty() { ".".to_owned() } else { dir.join("/") }
}
