//! Typed errors with context: the template, the path, the target.

use std::path::PathBuf;

/// A directory template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("directory template {template:?}: {reason}")]
#[non_exhaustive]
pub struct TemplateError {
    /// The template as written.
    pub template: String,
    /// Why it was refused.
    pub reason: String,
}

/// A local spool or delivery-log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A spool file holds something we cannot read.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The set to enqueue is not usable.
    #[error("set {id}: {reason}")]
    BadSet {
        /// The set id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

impl SpoolError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| SpoolError::Io { path, source }
    }
}

/// A delivery to one target failed. Every variant names the target; all of them are retried
/// (an operator may fix a password or a full disk meanwhile), and none removes a local file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The server could not be reached (refused, timed out, name not found).
    #[error("target {target}: cannot connect to {address}: {detail}")]
    Connect {
        /// Target name.
        target: String,
        /// host:port or URL.
        address: String,
        /// The cause.
        detail: String,
    },
    /// The SFTP server's host key is not the pinned one.
    #[error(
        "target {target}: host key mismatch: the server presented {found} but host_key pins {expected}; if the server's key was changed on purpose, put the new fingerprint in host_key"
    )]
    HostKeyMismatch {
        /// Target name.
        target: String,
        /// The pinned fingerprint.
        expected: String,
        /// What the server presented.
        found: String,
    },
    /// Sign-in was refused.
    #[error("target {target}: sign-in refused: {detail}")]
    Auth {
        /// Target name.
        target: String,
        /// The cause, e.g. "wrong user name or password".
        detail: String,
    },
    /// A remote file operation failed.
    #[error("target {target}: {op} {path}: {detail}")]
    Remote {
        /// Target name.
        target: String,
        /// What was attempted (mkdir, write, rename, stat, ...).
        op: &'static str,
        /// The remote path.
        path: String,
        /// The cause.
        detail: String,
    },
    /// What arrived is not what was sent.
    #[error("target {target}: verification of {path} failed: {detail}")]
    Verify {
        /// Target name.
        target: String,
        /// The remote path.
        path: String,
        /// Expected vs found.
        detail: String,
    },
    /// A different file of the same name exists at the target; it is never overwritten.
    #[error(
        "target {target}: {path} exists with different content ({detail}); it is not overwritten: move it away or check whether two installations write the same ids"
    )]
    Conflict {
        /// Target name.
        target: String,
        /// The remote path.
        path: String,
        /// Sizes or hashes.
        detail: String,
    },
    /// The local set could not be read.
    #[error("target {target}: local file {path}: {detail}")]
    Local {
        /// Target name.
        target: String,
        /// The local file.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
    /// A setting is unusable (e.g. a secret cannot be read).
    #[error("target {target}: {detail}")]
    Setup {
        /// Target name.
        target: String,
        /// The cause.
        detail: String,
    },
    /// A directory segment or file name handed to the target (`..`, `a/b`, a character its
    /// file system cannot store) is refused before anything is sent.
    #[error("target {target}: refused the name {name:?}: {reason}")]
    BadName {
        /// Target name.
        target: String,
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// The target kind cannot do this (yet).
    #[error("target {target}: {what} is not supported by this kind of target")]
    Unsupported {
        /// Target name.
        target: String,
        /// What was asked, e.g. "deleting a set".
        what: &'static str,
    },
    /// The server answered something the protocol does not allow.
    #[error("target {target}: unexpected answer: {detail}")]
    Protocol {
        /// Target name.
        target: String,
        /// The cause.
        detail: String,
    },
}

impl TargetError {
    /// Whether the error concerns only the set being delivered (a name conflict, an
    /// unreadable local file, a refused name), so the target can go on with other sets; otherwise the
    /// target itself is failing (unreachable, sign-in, full, protocol).
    pub fn is_set_specific(&self) -> bool {
        matches!(self, TargetError::Conflict { .. } | TargetError::Local { .. } | TargetError::BadName { .. })
    }
}
