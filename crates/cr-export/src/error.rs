//! What can go wrong while exporting.

use std::path::{Path, PathBuf};

/// Why a package could not be written. Nothing is left behind when this is returned: the
/// package is built beside `--out` and moved into place only when complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The output directory exists and holds something: a package never overwrites.
    #[error("{0}: exists and is not empty; a package is only written into a new or empty directory (nothing was changed)")]
    OutNotEmpty(PathBuf),
    /// The output path exists and is not a directory.
    #[error("{0}: exists and is not a directory (nothing was changed)")]
    OutNotDirectory(PathBuf),
    /// A file of the package could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The manifest could not be encoded.
    #[error("manifest.json: {0}")]
    Manifest(#[from] serde_json::Error),
    /// Two sets with the same id were added.
    #[error("set {0} was added twice")]
    DuplicateSet(String),
    /// A set id that is not usable as a directory name.
    #[error(transparent)]
    Sign(#[from] cr_sign::SignError),
}

impl ExportError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io { path: path.to_owned(), source }
    }
}

/// Why a set could not be read back from where it lies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The set's checksum file is not there.
    #[error("{location}: set {id} is not there (no {file})")]
    NotThere {
        /// Where it was looked for (as [`SetSource::describe`](crate::SetSource::describe) says).
        location: String,
        /// The set id.
        id: String,
        /// The file that was looked for.
        file: String,
    },
    /// A file could not be read or copied.
    #[error("{location}: {path}: {source}")]
    Io {
        /// Where the set lies.
        location: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A storage target failed while the set was read back from it.
    #[error("{location}: {error}")]
    Target {
        /// Where the set lies.
        location: String,
        /// The target's error.
        error: String,
    },
    /// The set's checksum file is not one we accept, so its files are not known.
    #[error("{location}: {file}: {error}")]
    Malformed {
        /// Where the set lies.
        location: String,
        /// The checksum file.
        file: String,
        /// What is wrong with it.
        error: cr_sign::ManifestError,
    },
}
