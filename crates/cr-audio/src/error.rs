//! Typed errors of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in `cr-audio`. Each variant names the file it concerns
/// (when there is one), so that an operator can act on the message alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("create", "write", "read", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a RIFF/RF64 WAVE file at all.
    #[error("{path}: not a WAV file ({reason})")]
    NotWav {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file ends before its header says it should (a chunk or the header is cut off).
    #[error("{path}: WAV file is truncated ({reason}); `recover` can repair leg files")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Which part is missing.
        reason: String,
    },
    /// A chunk's size field is impossible (larger than the file, or a fixed-size chunk too short).
    #[error("{path}: bad WAV chunk size ({reason})")]
    BadChunk {
        /// The file.
        path: PathBuf,
        /// Which chunk and why.
        reason: String,
    },
    /// The audio format is valid WAV but not one this crate reads (e.g. ADPCM, 12-bit, 7 channels).
    #[error("{path}: unsupported audio format: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is unsupported; the message lists what is.
        reason: String,
    },
    /// A parameter given by the caller is out of range (sample rate, channel mode name, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The file would exceed what even RF64 can describe (more than 2^64 bytes).
    #[error("{path}: audio too large for RF64")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

impl AudioError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AudioError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = AudioError> = std::result::Result<T, E>;
