//! Verifying a package from the certificate alone: `SHA256SUMS`, its signature, every file.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::tree;
use crate::writer::{SUMS_FILE, SUMS_SIGNATURE_FILE};

/// The largest `SHA256SUMS` read: about 700 000 files, far more than any package.
const MAX_SUMS_BYTES: u64 = 64 << 20;

/// True when `dir` holds a package: `SHA256SUMS` and its signature beside it.
pub fn is_package(dir: &Path) -> bool {
    dir.join(SUMS_FILE).is_file() && dir.join(SUMS_SIGNATURE_FILE).is_file()
}

/// The outcome of [`verify_package`] (the package level; its sets are verified one by one
/// with [`cr_sign::verify_set`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PackageReport {
    /// The package directory.
    pub dir: PathBuf,
    /// Files listed in `SHA256SUMS` whose hash matched.
    pub verified_files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Everything found wrong; empty when the package verified.
    pub problems: Vec<PackageProblem>,
}

impl PackageReport {
    /// True when `SHA256SUMS` is signed by the certificate's key and every file matches it.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing wrong with a package, naming the file (relative to the package).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackageProblem {
    /// The file, relative to the package directory.
    pub file: String,
    /// What is wrong.
    pub kind: PackageProblemKind,
}

/// What is wrong with a file of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackageProblemKind {
    /// The file could not be read.
    Unreadable(String),
    /// `SHA256SUMS` is not one we accept.
    Malformed(cr_sign::ManifestError),
    /// The signature file is missing.
    SignatureMissing,
    /// The signature file is not base64.
    SignatureNotBase64,
    /// `SHA256SUMS`'s signature does not verify with the certificate.
    SignatureInvalid,
    /// Listed in `SHA256SUMS` but not there.
    Missing,
    /// Its SHA-256 differs from `SHA256SUMS`'s.
    Mismatch,
    /// In the package, but not listed in `SHA256SUMS`.
    Unlisted,
    /// The package's `cert.pem` is not the certificate verified against.
    OtherCertificate,
}

impl fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.kind)
    }
}

impl fmt::Display for PackageProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            PackageProblemKind::Unreadable(e) => format!("cannot be read: {e}"),
            PackageProblemKind::Malformed(e) => format!("malformed: {e}"),
            PackageProblemKind::SignatureMissing => "signature file missing".to_owned(),
            PackageProblemKind::SignatureNotBase64 => "signature file is not base64".to_owned(),
            PackageProblemKind::SignatureInvalid => {
                "signature does not verify with this certificate (SHA256SUMS altered, or signed by another key)".to_owned()
            }
            PackageProblemKind::Missing => "listed in SHA256SUMS but missing".to_owned(),
            PackageProblemKind::Mismatch => "content does not match its SHA-256 in SHA256SUMS (altered)".to_owned(),
            PackageProblemKind::Unlisted => "not listed in SHA256SUMS (added to the package)".to_owned(),
            PackageProblemKind::OtherCertificate => {
                "is not the certificate given to verify with (compare the fingerprints)".to_owned()
            }
        };
        f.write_str(&why)
    }
}

/// Verifies the package in `dir` with `cert`: the signature of `SHA256SUMS`, every file it
/// lists, no file it does not list (but itself and its signature), and that the package's
/// `cert.pem` is `cert`. Never panics on bad input; every problem names its file. The sets
/// inside are not checked here: verify each with [`cr_sign::verify_set`].
pub fn verify_package(dir: &Path, cert: &cr_sign::Certificate) -> PackageReport {
    let mut report = PackageReport { dir: dir.to_owned(), verified_files: 0, bytes: 0, problems: Vec::new() };
    let mut problem = |file: &str, kind| report.problems.push(PackageProblem { file: file.to_owned(), kind });
    let text = match read_bounded(&dir.join(SUMS_FILE)) {
        Ok(t) => t,
        Err(e) => {
            problem(SUMS_FILE, PackageProblemKind::Unreadable(e));
            return report;
        }
    };
    match cr_sign::verify_signature_file(&text, &dir.join(SUMS_SIGNATURE_FILE), cert) {
        Ok(()) => {}
        Err(cr_sign::ProblemKind::SignatureInvalid) => problem(SUMS_FILE, PackageProblemKind::SignatureInvalid),
        Err(cr_sign::ProblemKind::SignatureMissing) => problem(SUMS_SIGNATURE_FILE, PackageProblemKind::SignatureMissing),
        Err(cr_sign::ProblemKind::SignatureNotBase64) => {
            problem(SUMS_SIGNATURE_FILE, PackageProblemKind::SignatureNotBase64)
        }
        Err(cr_sign::ProblemKind::Unreadable(e)) => problem(SUMS_SIGNATURE_FILE, PackageProblemKind::Unreadable(e)),
        Err(other) => problem(SUMS_SIGNATURE_FILE, PackageProblemKind::Unreadable(format!("{other:?}"))),
    }
    match std::fs::read(dir.join("cert.pem")).map(|b| cr_sign::Certificate::from_pem_or_der(&b)) {
        Ok(Ok(c)) if c.der() == cert.der() => {}
        Ok(_) => problem("cert.pem", PackageProblemKind::OtherCertificate),
        Err(e) => problem("cert.pem", PackageProblemKind::Unreadable(e.to_string())),
    }
    let sums = match cr_sign::Manifest::parse_tree(&text) {
        Ok(m) => m,
        Err(e) => {
            problem(SUMS_FILE, PackageProblemKind::Malformed(e));
            return report;
        }
    };
    match tree::files(dir) {
        Err(e) => problem(".", PackageProblemKind::Unreadable(e.to_string())),
        Ok(found) => {
            let listed: std::collections::HashSet<&str> = sums.entries().iter().map(|e| e.name.as_str()).collect();
            for path in found {
                let name = tree::relative(dir, &path);
                if name != SUMS_FILE && name != SUMS_SIGNATURE_FILE && !listed.contains(name.as_str()) {
                    problem(&name, PackageProblemKind::Unlisted);
                }
            }
        }
    }
    for entry in sums.entries() {
        let path = dir.join(&entry.name);
        // A listed name is a relative path of plain names (parse_tree); a symbolic link
        // inside the package could still point out of it: only regular files are read.
        let kind = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(PackageProblemKind::Missing),
            Err(e) => Some(PackageProblemKind::Unreadable(e.to_string())),
            Ok(m) if !m.file_type().is_file() => {
                Some(PackageProblemKind::Unreadable("not a regular file (a link or a directory)".into()))
            }
            Ok(_) => match cr_sign::sha256_file(&path) {
                Ok((digest, len)) => {
                    report.bytes += len;
                    (digest != entry.sha256).then_some(PackageProblemKind::Mismatch)
                }
                Err(e) => Some(PackageProblemKind::Unreadable(e.to_string())),
            },
        };
        match kind {
            None => report.verified_files += 1,
            Some(kind) => report.problems.push(PackageProblem { file: entry.name.clone(), kind }),
        }
    }
    report
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(MAX_SUMS_BYTES + 1).read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_SUMS_BYTES {
        return Err(format!("larger than {} MiB, more than any package's SHA256SUMS", MAX_SUMS_BYTES >> 20));
    }
    Ok(buf)
}
