use std::path::{Path, PathBuf};

/// What went wrong while creating, opening or using keys and certificates, or sealing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `keys init` would overwrite a keystore.
    #[error("keystore {0} exists already: refusing to overwrite it (move it away first if you really mean to replace the installation's key)")]
    KeystoreExists(PathBuf),
    /// The password does not open the keystore.
    #[error("keystore password is wrong ({0})")]
    WrongPassword(PathBuf),
    /// The keystore is damaged or not ours.
    #[error("keystore {path} cannot be read: {why}")]
    BadKeystore {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Bytes that are not a usable certificate.
    #[error("not a usable certificate: {0}")]
    BadCertificate(String),
    /// A certificate file that is not a usable certificate.
    #[error("{path}: not a usable certificate: {why}")]
    BadCertificateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A file to seal is not a plain file name inside the set's directory.
    #[error("cannot seal {0}: every file of a set must lie in one directory, with a plain name")]
    BadSetFile(PathBuf),
    /// The set id is not usable as a file name.
    #[error("set id {0:?} is not usable as a file name (letters, digits, '-', '_', '.' only)")]
    BadId(String),
    /// The keystore password could not be had (variable unset, file unreadable, empty).
    #[error("keystore password: {0}")]
    Password(String),
    /// A cryptographic operation failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

impl SignError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }

    /// Fills in the keystore path of errors made before it was known.
    pub(crate) fn with_keystore_path(self, p: &Path) -> Self {
        match self {
            Self::WrongPassword(_) => Self::WrongPassword(p.to_owned()),
            Self::BadKeystore { why, .. } => Self::BadKeystore { path: p.to_owned(), why },
            Self::BadCertificate(why) => Self::BadKeystore { path: p.to_owned(), why: format!("certificate: {why}") },
            other => other,
        }
    }
}
