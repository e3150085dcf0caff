//! Sealing a set: checksum file and its signature.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::error::SignError;
use crate::hash::sha256_file;
use crate::identity::Identity;
use crate::manifest::{Manifest, ManifestEntry, is_plain_file_name};

/// The checksum file name of set `id`: `<id>.sha256`.
pub fn checksum_file_name(id: &str) -> String {
    format!("{id}.sha256")
}

/// The signature file name of set `id`: `<id>.sha256.SHA256withRSA.sig` (S18).
pub fn signature_file_name(id: &str) -> String {
    format!("{id}.sha256.SHA256withRSA.sig")
}

/// One sealed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    /// File name inside the set's directory.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// What [`seal`] wrote.
#[derive(Debug, Clone)]
pub struct SealedSet {
    /// The set id.
    pub id: String,
    /// The directory holding the set.
    pub dir: PathBuf,
    /// `<dir>/<id>.sha256`.
    pub checksum_file: PathBuf,
    /// SHA-256 (hex) of the checksum file: the link the next set of the chain names.
    pub checksum_sha256: String,
    /// `<dir>/<id>.sha256.SHA256withRSA.sig`.
    pub signature_file: PathBuf,
    /// The sealed files, in the order given.
    pub files: Vec<SealedFile>,
}

/// True for ids we accept ([`cr_types::set_id::is_valid`]): 1–128 characters of
/// `A-Z a-z 0-9 - _ .`, not starting with `.`: safe on every target's file system.
pub fn is_valid_id(id: &str) -> bool {
    cr_types::set_id::is_valid(id)
}

/// Seals `files` (metadata and audio, all in one directory) into set `id`: writes
/// `<id>.sha256` in shasum format and `<id>.sha256.SHA256withRSA.sig` beside them (S17,
/// S18). Files are hashed streaming; both outputs appear complete or not at all.
pub fn seal(id: &str, files: &[PathBuf], identity: &Identity) -> Result<SealedSet, SignError> {
    let mut hashed = HashedFiles::new(id)?;
    hashed.add(files)?;
    seal_hashed(hashed, identity)
}

/// Files of one set, checked and hashed, waiting to be sealed by [`seal_hashed`]. Hash
/// the large audio files first and add a small metadata file last, so that whatever must
/// be held while sealing (e.g. the journal's chain link) is held only briefly.
#[derive(Debug, Clone)]
pub struct HashedFiles {
    id: String,
    dir: Option<(PathBuf, PathBuf)>,
    entries: Vec<ManifestEntry>,
    sealed: Vec<SealedFile>,
}

impl HashedFiles {
    /// An empty list for set `id` (checked to be a usable file name).
    pub fn new(id: &str) -> Result<Self, SignError> {
        if !is_valid_id(id) {
            return Err(SignError::BadId(id.to_owned()));
        }
        Ok(Self { id: id.to_owned(), dir: None, entries: Vec::new(), sealed: Vec::new() })
    }

    /// Hashes `files` (streaming) and adds them in this order. All files of a set must lie
    /// in one directory, with plain names, each once.
    pub fn add(&mut self, files: &[PathBuf]) -> Result<(), SignError> {
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| is_plain_file_name(n))
                .ok_or_else(|| SignError::BadSetFile(path.clone()))?;
            let parent = parent_dir(path);
            let canonical = parent.canonicalize().map_err(|e| SignError::io(path, e))?;
            let (_, set_dir) = self.dir.get_or_insert_with(|| (parent.clone(), canonical.clone()));
            if *set_dir != canonical
                || name == checksum_file_name(&self.id)
                || name == signature_file_name(&self.id)
                || self.entries.iter().any(|e| e.name == name)
            {
                return Err(SignError::BadSetFile(path.clone()));
            }
            let (sha256, size) = sha256_file(path).map_err(|e| SignError::io(path, e))?;
            self.entries.push(ManifestEntry { sha256, name: name.to_owned() });
            self.sealed.push(SealedFile { name: name.to_owned(), size, sha256: hex::encode(sha256) });
        }
        Ok(())
    }
}

/// Writes the checksum file and its signature for files hashed by [`HashedFiles`].
pub fn seal_hashed(hashed: HashedFiles, identity: &Identity) -> Result<SealedSet, SignError> {
    let HashedFiles { id, dir, entries, sealed } = hashed;
    let (dir, _) = dir.ok_or_else(|| SignError::BadSetFile(PathBuf::from("(no files given)")))?;
    let text = Manifest::new(entries).to_text();
    let checksum_file = dir.join(checksum_file_name(&id));
    let signature_file = dir.join(signature_file_name(&id));
    let signature = base64::engine::general_purpose::STANDARD.encode(identity.sign(text.as_bytes()));
    write_atomic(&checksum_file, text.as_bytes())?;
    write_atomic(&signature_file, signature.as_bytes())?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(SealedSet {
        id,
        dir,
        checksum_sha256: crate::hash::sha256_hex(text.as_bytes()),
        checksum_file,
        signature_file,
        files: sealed,
    })
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| SignError::io(path, e))
}
