//! Opening the leg files a PBX names in `POST /v1/recordings`: only regular files inside
//! `[pbx.api] leg_dirs`, never through a symbolic link, never the recorder's own files,
//! owned as configured. The file is opened once and read through that descriptor, so
//! what was checked is what is sealed.
//!
//! The caller learns only the class of a refusal ([`LegError`]'s `Display`): a file that
//! does not exist, one that cannot be read and one outside `leg_dirs` look the same, so
//! the API is no oracle for other files; the detail goes to the log.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use cr_config::ApiSettings;

/// Why a leg was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LegError {
    /// `[pbx.api] leg_dirs` is empty: ingest by path is off.
    #[error("ingest by path is off: [pbx.api] leg_dirs lists no directory")]
    NoLegDirs,
    /// Not an absolute path.
    #[error("must be an absolute path")]
    NotAbsolute,
    /// Missing, unreadable, outside `leg_dirs`, a link, not a regular file, owned by
    /// someone else, or inside the recorder's data directory. `detail` is for the log only.
    #[error("not an accepted leg file (it must be a readable regular file in [pbx.api] leg_dirs, not a link)")]
    NotAccepted {
        /// What exactly was wrong, for the operator's log.
        detail: String,
    },
    /// Accepted, but not a WAV file this recorder reads. `detail` is for the log only.
    #[error("not a WAV file this recorder reads (PCM, µ-law or A-law WAV/RF64)")]
    NotWav {
        /// The reader's error, for the operator's log.
        detail: String,
    },
}

impl LegError {
    /// The detail for the log (never sent to the client).
    pub fn detail(&self) -> Option<&str> {
        match self {
            LegError::NotAccepted { detail } | LegError::NotWav { detail } => Some(detail),
            _ => None,
        }
    }
}

fn refused(path: &Path, why: impl std::fmt::Display) -> LegError {
    LegError::NotAccepted {
        // Debug form: a path from the request may hold line breaks (no forged log lines).
        detail: format!("{path:?}: {why}"),
    }
}

/// A leg file that passed every check, opened, with its WAV header read.
pub struct OpenedLeg {
    /// The canonical path (for logs).
    pub path: PathBuf,
    /// The reader over the checked descriptor.
    pub reader: cr_audio::WavReader,
}

impl std::fmt::Debug for OpenedLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedLeg")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Opens leg `path` under the rules of `settings` and reads its WAV header.
pub fn open_leg(path: &Path, settings: &ApiSettings) -> Result<OpenedLeg, LegError> {
    if settings.leg_dirs.is_empty() {
        return Err(LegError::NoLegDirs);
    }
    if !path.is_absolute() {
        return Err(LegError::NotAbsolute);
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(refused(path, "names no file"));
    };
    if path
        .components()
        .next_back()
        .is_some_and(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(refused(path, "names no file"));
    }
    // The directories, symbolic links resolved; the last component is opened with
    // O_NOFOLLOW below, so a link there is refused whatever it points to.
    let dir = std::fs::canonicalize(parent).map_err(|e| refused(path, format_args!("directory: {e}")))?;
    let full = dir.join(name);
    if settings.forbidden_dirs.iter().any(|d| full.starts_with(d)) {
        return Err(refused(path, "lies in the recorder's own data directory"));
    }
    if !settings.leg_dirs.iter().any(|d| full.starts_with(d)) {
        return Err(refused(
            path,
            format_args!("{full:?} is outside [pbx.api] leg_dirs"),
        ));
    }
    let file = open_no_links(&full).map_err(|e| refused(path, e))?;
    let meta = file.metadata().map_err(|e| refused(path, e))?;
    if !meta.file_type().is_file() {
        return Err(refused(path, "not a regular file"));
    }
    if let Some(owner) = settings.leg_owner {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != owner {
            return Err(refused(
                path,
                format_args!("owned by uid {}, not by leg_owner {owner}", meta.uid()),
            ));
        }
    }
    let reader = cr_audio::WavReader::from_file(file, &full).map_err(|e| LegError::NotWav { detail: e.to_string() })?;
    Ok(OpenedLeg { path: full, reader })
}

/// Opens `path` (which holds no symbolic link, being canonical) read-only, refusing a
/// link anywhere on it: `openat2(RESOLVE_NO_SYMLINKS)` where the kernel has it (Linux
/// 5.6), else `O_NOFOLLOW` on the last component. `O_NONBLOCK`: a FIFO must not block
/// the open (it is refused as not a regular file right after).
fn open_no_links(path: &Path) -> std::io::Result<File> {
    use rustix::fs::{CWD, Mode, OFlags, ResolveFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    match rustix::fs::openat2(
        CWD,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(File::from(fd)),
        // No openat2 (old kernel, or a seccomp filter that answers ENOSYS or EPERM).
        Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags.bits() as i32)
                .open(path)
        }
        Err(e) => Err(e.into()),
    }
}
