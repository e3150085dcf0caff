use std::fmt;
use std::path::PathBuf;

/// A configuration problem, located in the file.
///
/// Displayed as `FILE:LINE: KEY: MESSAGE` (the line and key are left out where they are not
/// known, e.g. when the file cannot be read at all).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line of the offending key or value, where known.
    pub line: Option<usize>,
    /// The dotted key, e.g. `targets[1].host_key`; empty for file-level problems.
    pub key: String,
    /// What is wrong and, where possible, what to do about it.
    pub message: String,
}

impl ConfigError {
    /// A new error; see the fields.
    pub fn new(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
