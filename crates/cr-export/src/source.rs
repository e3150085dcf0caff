//! Reading a set back from where it lies: the seam for every kind of storage.

use std::path::{Path, PathBuf};

use crate::error::SourceError;

/// Where a set is read back from for an export: the local spool, a folder target, and
/// (later) SFTP, SMB and OneDrive targets, each behind this one trait.
///
/// [`fetch`](Self::fetch) copies the set's files unchanged; the package writer verifies the
/// copy with the certificate before it becomes part of the package, so a source need not be
/// trusted.
pub trait SetSource {
    /// Where the set is read from, for messages and the manifest (e.g. `spool
    /// /var/lib/callrec/spool/ID` or `target nas (folder /srv/nas/2026/11/26)`).
    fn describe(&self) -> String;

    /// Copies every file of set `id` into `dest` (an existing empty directory): its
    /// checksum file, its signature, every file the checksum file lists, and any other file
    /// of the set lying there (which verification then reports as unlisted). Returns the
    /// bytes copied.
    fn fetch(&mut self, id: &str, dest: &Path) -> Result<u64, SourceError>;
}

/// A set lying in a local or mounted directory: the spool's set directory, or the directory
/// a folder target delivered it into (where other sets may lie beside it).
#[derive(Debug, Clone)]
pub struct DirectorySource {
    dir: PathBuf,
    label: String,
}

impl DirectorySource {
    /// Reads sets from `dir`; `label` says what it is in messages (e.g. `spool`, `target
    /// nas (folder)`), followed by the directory.
    pub fn new(label: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), label: label.into() }
    }

    /// True when set `id`'s checksum file is in the directory.
    pub fn has_set(&self, id: &str) -> bool {
        self.dir.join(cr_sign::checksum_file_name(id)).is_file()
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
        let (location, path) = (self.describe(), path.to_owned());
        move |source| SourceError::Io { location, path, source }
    }
}

impl SetSource for DirectorySource {
    fn describe(&self) -> String {
        format!("{} {}", self.label, self.dir.display())
    }

    fn fetch(&mut self, id: &str, dest: &Path) -> Result<u64, SourceError> {
        let sums_name = cr_sign::checksum_file_name(id);
        let sums_path = self.dir.join(&sums_name);
        let text = match std::fs::read(&sums_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SourceError::NotThere { location: self.describe(), id: id.to_owned(), file: sums_name });
            }
            r => r.map_err(self.io(&sums_path))?,
        };
        let manifest = cr_sign::Manifest::parse(&text).map_err(|error| SourceError::Malformed {
            location: self.describe(),
            file: sums_name.clone(),
            error,
        })?;
        let mut names = vec![sums_name, cr_sign::signature_file_name(id)];
        names.extend(manifest.entries().iter().map(|e| e.name.clone()));
        // Files of the set lying here that the checksum file does not list: copied too, so
        // that verification reports them instead of the export hiding them.
        let read = std::fs::read_dir(&self.dir).map_err(self.io(&self.dir))?;
        let mut extra: Vec<String> = read
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| cr_sign::belongs_to_set(f, id) && !names.contains(f))
            .collect();
        extra.sort();
        names.extend(extra);
        let mut bytes = 0;
        for name in names {
            let from = self.dir.join(&name);
            match std::fs::copy(&from, dest.join(&name)) {
                Ok(n) => bytes += n,
                // A listed file that is missing is for verification to report.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(&from)(e)),
            }
        }
        Ok(bytes)
    }
}
