//! Verifying a set from the certificate alone (S20).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::hash::sha256_file;
use crate::identity::Certificate;
use crate::manifest::{MAX_MANIFEST_BYTES, Manifest, ManifestError};
use crate::seal::signature_file_name;

/// File extensions of audio and metadata files: a file of the set with one of these must be
/// listed in the checksum file.
const SET_EXTENSIONS: &[&str] = &["wav", "rf64", "w64", "json", "xml", "flac", "ogg", "opus", "mp3"];

/// The outcome of verifying one set.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SetReport {
    /// The set id (checksum file name without `.sha256`).
    pub id: String,
    /// The checksum file.
    pub checksum_file: PathBuf,
    /// Files whose hash matched.
    pub verified_files: Vec<String>,
    /// Bytes hashed.
    pub bytes: u64,
    /// SHA-256 (hex) of the checksum file itself: what the next set of the chain names as
    /// its predecessor. Empty when the checksum file could not be read.
    pub checksum_sha256: String,
    /// Everything found wrong; empty when the set verified.
    pub problems: Vec<Problem>,
}

impl SetReport {
    /// True when the checksums match the files and the signature verifies.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing wrong with a set, naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The file concerned (a name inside the set's directory).
    pub file: String,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong with a file of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file could not be read.
    Unreadable(String),
    /// The checksum file is not one we accept.
    Malformed(ManifestError),
    /// Listed in the checksum file, but not there.
    Missing,
    /// Its SHA-256 differs from the checksum file's.
    Mismatch,
    /// An audio or metadata file of the set that the checksum file does not list.
    Unlisted,
    /// No signature file beside the checksum file.
    SignatureMissing,
    /// The signature file is not base64.
    SignatureNotBase64,
    /// The signature does not verify with this certificate's key: the checksum file was
    /// altered, or the set was signed by another key.
    SignatureInvalid,
    /// No time-stamp token `<id>.sha256.tsr`, and one is required.
    TimestampMissing,
    /// The time-stamp token does not prove this checksum file's time: why.
    TimestampInvalid(crate::TimestampError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match &self.kind {
            ProblemKind::Unreadable(e) => format!("cannot be read: {e}"),
            ProblemKind::Malformed(e) => format!("malformed: {e}"),
            ProblemKind::Missing => "listed but missing".to_owned(),
            ProblemKind::Mismatch => "content does not match its SHA-256 (altered)".to_owned(),
            ProblemKind::Unlisted => "belongs to the set but is not listed in the checksum file".to_owned(),
            ProblemKind::SignatureMissing => "signature file missing".to_owned(),
            ProblemKind::SignatureNotBase64 => "signature file is not base64".to_owned(),
            ProblemKind::SignatureInvalid => {
                "signature does not verify with this certificate (checksum file altered, or signed by another key)"
                    .to_owned()
            }
            ProblemKind::TimestampMissing => "time-stamp token missing (--require-timestamps)".to_owned(),
            ProblemKind::TimestampInvalid(e) => format!("time-stamp token refused: {e}"),
        };
        write!(f, "{}: {why}", self.file)
    }
}

/// The set id of a checksum file path, if its name ends in `.sha256`.
pub fn set_id(checksum_file: &Path) -> Option<&str> {
    checksum_file.file_name()?.to_str()?.strip_suffix(".sha256").filter(|s| !s.is_empty())
}

/// Verifies the set whose checksum file is `checksum_file`: the signature of the checksum
/// file with `cert`, every listed file present and matching, no audio or metadata file of
/// the set unlisted. Names that would leave the directory are refused before anything is
/// opened. Never panics on bad input; every problem names its file.
pub fn verify_set(checksum_file: &Path, cert: &Certificate) -> SetReport {
    let name = checksum_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let id = set_id(checksum_file).unwrap_or(&name).to_owned();
    let dir = match checksum_file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut report = SetReport {
        id: id.clone(),
        checksum_file: checksum_file.to_owned(),
        verified_files: Vec::new(),
        bytes: 0,
        checksum_sha256: String::new(),
        problems: Vec::new(),
    };
    let mut problem = |file: &str, kind| report.problems.push(Problem { file: file.to_owned(), kind });

    let text = match read_bounded(checksum_file) {
        Ok(t) => t,
        Err(e) => {
            problem(&name, ProblemKind::Unreadable(e));
            return report;
        }
    };
    // Larger than any checksum file we write: say so, rather than check a signature over
    // the first MiB only and call a file that openssl verifies "altered".
    if text.len() > MAX_MANIFEST_BYTES {
        problem(&name, ProblemKind::Malformed(ManifestError::TooLarge(text.len())));
        return report;
    }
    report.checksum_sha256 = crate::hash::sha256_hex(&text);
    let mut problem = |file: &str, kind| report.problems.push(Problem { file: file.to_owned(), kind });
    // The signature first: it is cheap, and a forged checksum file is the worst case.
    let sig_name = signature_file_name(&id);
    match verify_signature_file(&text, &dir.join(&sig_name), cert) {
        Ok(()) => {}
        Err(ProblemKind::SignatureInvalid) => problem(&name, ProblemKind::SignatureInvalid),
        Err(kind) => problem(&sig_name, kind),
    }
    let manifest = match Manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            problem(&name, ProblemKind::Malformed(e));
            return report;
        }
    };
    // Files of the set lying beside it but not listed.
    if let Ok(read) = std::fs::read_dir(&dir) {
        let mut unlisted: Vec<String> = read
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| belongs_to_set(f, &id) && !manifest.entries().iter().any(|e| &e.name == f))
            .collect();
        unlisted.sort();
        for f in unlisted {
            problem(&f, ProblemKind::Unlisted);
        }
    }
    for entry in manifest.entries() {
        let path = dir.join(&entry.name);
        match sha256_file(&path) {
            Ok((digest, len)) if digest == entry.sha256 => {
                report.bytes += len;
                report.verified_files.push(entry.name.clone());
            }
            Ok((_, len)) => {
                report.bytes += len;
                report.problems.push(Problem { file: entry.name.clone(), kind: ProblemKind::Mismatch });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problems.push(Problem { file: entry.name.clone(), kind: ProblemKind::Missing });
            }
            Err(e) => report
                .problems
                .push(Problem { file: entry.name.clone(), kind: ProblemKind::Unreadable(e.to_string()) }),
        }
    }
    report
}

/// Checks the signature file `sig_file` (base64 of a SHA256withRSA signature, line breaks
/// allowed) over `message` with `cert`. The error says what is wrong:
/// [`ProblemKind::SignatureMissing`], [`ProblemKind::Unreadable`],
/// [`ProblemKind::SignatureNotBase64`] (all about the signature file) or
/// [`ProblemKind::SignatureInvalid`] (about the signed file, or the key).
pub fn verify_signature_file(message: &[u8], sig_file: &Path, cert: &Certificate) -> Result<(), ProblemKind> {
    let sig_b64 = match std::fs::read(sig_file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ProblemKind::SignatureMissing),
        Err(e) => return Err(ProblemKind::Unreadable(e.to_string())),
        Ok(b) => b,
    };
    let compact: Vec<u8> = sig_b64.into_iter().filter(|b| !b.is_ascii_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(&compact) {
        Err(_) => Err(ProblemKind::SignatureNotBase64),
        Ok(sig) if !cert.verify(message, &sig) => Err(ProblemKind::SignatureInvalid),
        Ok(_) => Ok(()),
    }
}

/// Checks the time-stamp token of the set whose checksum file is `checksum_file`
/// (`<id>.sha256.tsr` beside it) against the checksum file and `trust`. `Ok(None)`: there is
/// none and `required` is false. The problem names the token file (or the checksum file when
/// it cannot be read).
pub fn verify_set_timestamp(checksum_file: &Path, trust: &crate::TsaTrust, required: bool) -> Result<Option<crate::TimestampInfo>, Problem> {
    let name = checksum_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let token_name = format!("{name}.tsr");
    let token_path = checksum_file.with_file_name(&token_name);
    let fail = |file: &str, kind| Err(Problem { file: file.to_owned(), kind });
    let token = match std::fs::metadata(&token_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if required { fail(&token_name, ProblemKind::TimestampMissing) } else { Ok(None) };
        }
        Err(e) => return fail(&token_name, ProblemKind::Unreadable(e.to_string())),
        Ok(m) if m.len() > crate::MAX_REPLY_BYTES as u64 => {
            return fail(&token_name, ProblemKind::TimestampInvalid(crate::TimestampError::Malformed(format!("{} bytes", m.len()))));
        }
        Ok(_) => std::fs::read(&token_path).map_err(|e| Problem { file: token_name.clone(), kind: ProblemKind::Unreadable(e.to_string()) })?,
    };
    let message = read_bounded(checksum_file).map_err(|e| Problem { file: name.clone(), kind: ProblemKind::Unreadable(e) })?;
    crate::verify_timestamp(&token, &message, trust)
        .map(Some)
        .map_err(|e| Problem { file: token_name, kind: ProblemKind::TimestampInvalid(e) })
}

/// True for an audio or metadata file name of set `id`: `<id>.<ext>`, `<id>.<part>.<ext>` or
/// `<id>-caller...`/`<id>-callee...`.
pub fn belongs_to_set(file: &str, id: &str) -> bool {
    let Some(rest) = file.strip_prefix(id) else {
        return false;
    };
    let ours = rest.starts_with('.') || rest.starts_with("-caller") || rest.starts_with("-callee");
    let ext = rest.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    ours && rest.contains('.') && SET_EXTENSIONS.contains(&ext.as_str())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(MAX_MANIFEST_BYTES as u64 + 1).read_to_end(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Every checksum file (`*.sha256`) under `root`, recursively, sorted; `root` itself if it
/// is a file. Symbolic links to directories are not followed (no loops).
pub fn find_checksum_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let meta = std::fs::metadata(root)?;
    if meta.is_file() {
        out.push(root.to_owned());
        return Ok(out);
    }
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            let path = entry.path();
            if ft.is_dir() {
                stack.push(path);
            } else if (ft.is_file() || ft.is_symlink()) && path.extension().is_some_and(|e| e == "sha256") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
