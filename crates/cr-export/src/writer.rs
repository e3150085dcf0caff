//! Writing a package: staged beside the output directory, moved into place when complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::error::ExportError;
use crate::manifest::{
    CallFacts, ExportedSet, MANIFEST_FORMAT, MANIFEST_VERSION, NotExported, PackageManifest, Request, SetFile,
};
use crate::source::SetSource;
use crate::{page, tree};

/// The checksum file over the whole package.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The signature of [`SUMS_FILE`] (base64 SHA256withRSA, as a set's signature).
pub const SUMS_SIGNATURE_FILE: &str = "SHA256SUMS.SHA256withRSA.sig";
/// The directory holding one subdirectory per set.
pub const SETS_DIR: &str = "sets";

/// What [`PackageWriter::add_set`] did with one set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetOutcome {
    /// Verified and put into the package.
    Exported(ExportedSet),
    /// Not put into the package; the manifest says why.
    Refused(NotExported),
}

/// What [`PackageWriter::finish`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PackageSummary {
    /// The package directory.
    pub dir: PathBuf,
    /// The manifest as written.
    pub manifest: PackageManifest,
    /// Files listed in `SHA256SUMS`.
    pub files: usize,
    /// SHA-256 (hex) of `SHA256SUMS`.
    pub sums_sha256: String,
}

/// Builds a disclosure package.
///
/// [`new`](Self::new) checks that the output directory is new or empty and opens a staging
/// directory beside it (`.<name>.partial-<pid>`); [`add_set`](Self::add_set) reads each set
/// back into it and verifies the copy with the certificate; [`finish`](Self::finish) writes
/// `cert.pem`, `manifest.json`, `index.html`, `verify.sh`, `README.txt`, `SHA256SUMS` and
/// its signature, and renames the staging directory onto the output (which must still be
/// empty then). Dropping the writer before `finish`, or any error, removes the staging
/// directory: a package appears complete or not at all.
pub struct PackageWriter<'a> {
    out: PathBuf,
    staging: PathBuf,
    identity: &'a cr_sign::Identity,
    request: Request,
    time_zone: Option<chrono_tz::Tz>,
    sets: Vec<ExportedSet>,
    not_exported: Vec<NotExported>,
    /// SHA-256 of set files already known from their verified checksum files.
    known: BTreeMap<String, [u8; 32]>,
    done: bool,
}

impl std::fmt::Debug for PackageWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageWriter").field("out", &self.out).field("sets", &self.sets.len()).finish()
    }
}

impl<'a> PackageWriter<'a> {
    /// Starts a package for `request` in `out`, which must not exist or be an empty
    /// directory; `identity` signs `SHA256SUMS` and gives `cert.pem`.
    pub fn new(out: &Path, request: Request, identity: &'a cr_sign::Identity) -> Result<Self, ExportError> {
        match std::fs::read_dir(out) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ExportError::OutNotEmpty(out.to_owned()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) if out.exists() && !out.is_dir() => return Err(ExportError::OutNotDirectory(out.to_owned())),
            Err(e) => return Err(ExportError::io(out)(e)),
        }
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "package".into());
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        std::fs::create_dir(&staging).map_err(ExportError::io(&staging))?;
        let writer = Self {
            out: out.to_owned(),
            staging,
            identity,
            request,
            time_zone: None,
            sets: Vec::new(),
            not_exported: Vec::new(),
            known: BTreeMap::new(),
            done: false,
        };
        let sets = writer.staging.join(SETS_DIR);
        std::fs::create_dir(&sets).map_err(ExportError::io(&sets))?;
        Ok(writer)
    }

    /// Shows times in `index.html` in this zone. Default: UTC. The manifest always holds
    /// UTC.
    pub fn time_zone(mut self, zone: chrono_tz::Tz) -> Self {
        self.time_zone = Some(zone);
        self
    }

    /// Reads set `call.id` back from `source` into the package and verifies the copy with
    /// the certificate. A set that cannot be read or does not verify is left out and listed
    /// in the manifest's `not_exported` with its problems ([`SetOutcome::Refused`]); an
    /// error is returned only when the package itself cannot be written.
    pub fn add_set(&mut self, call: CallFacts, source: &mut dyn SetSource) -> Result<SetOutcome, ExportError> {
        if !cr_sign::is_valid_id(&call.id) {
            return Err(cr_sign::SignError::BadId(call.id).into());
        }
        if self.has(&call.id) {
            return Err(ExportError::DuplicateSet(call.id));
        }
        let rel = format!("{SETS_DIR}/{}", call.id);
        let dir = self.staging.join(&rel);
        std::fs::create_dir(&dir).map_err(ExportError::io(&dir))?;
        let read_from = source.describe();
        let refuse = |this: &mut Self, problems: Vec<String>, read_from: Option<String>| {
            std::fs::remove_dir_all(&dir).map_err(ExportError::io(&dir))?;
            let n = NotExported { call: call.clone(), read_from, problems };
            this.not_exported.push(n.clone());
            Ok(SetOutcome::Refused(n))
        };
        if let Err(e) = source.fetch(&call.id, &dir) {
            return refuse(self, vec![e.to_string()], None);
        }
        let sums = dir.join(cr_sign::checksum_file_name(&call.id));
        let report = cr_sign::verify_set(&sums, self.identity.certificate());
        if !report.is_ok() {
            return refuse(self, report.problems.iter().map(|p| p.to_string()).collect(), Some(read_from));
        }
        // verify_set parsed and matched it just now; its hashes serve SHA256SUMS.
        let text = std::fs::read(&sums).map_err(ExportError::io(&sums))?;
        if let Ok(m) = cr_sign::Manifest::parse(&text) {
            for e in m.entries() {
                self.known.insert(format!("{rel}/{}", e.name), e.sha256);
            }
        }
        let mut files = Vec::new();
        for path in tree::files(&dir).map_err(ExportError::io(&dir))? {
            let name = tree::relative(&dir, &path);
            let size = std::fs::metadata(&path).map_err(ExportError::io(&path))?.len();
            files.push(SetFile { path: format!("{rel}/{name}"), size });
        }
        let set = ExportedSet { call, directory: rel, checksum_sha256: report.checksum_sha256, read_from, files };
        self.sets.push(set.clone());
        Ok(SetOutcome::Exported(set))
    }

    /// Records that set `call.id` matched but is left out, with `problem` (e.g. no copy of
    /// it could be found): it is listed in the manifest's `not_exported`.
    pub fn leave_out(&mut self, call: CallFacts, problem: impl Into<String>) -> Result<NotExported, ExportError> {
        if self.has(&call.id) {
            return Err(ExportError::DuplicateSet(call.id));
        }
        let n = NotExported { call, read_from: None, problems: vec![problem.into()] };
        self.not_exported.push(n.clone());
        Ok(n)
    }

    /// The sets verified so far.
    pub fn exported(&self) -> &[ExportedSet] {
        &self.sets
    }

    /// The sets left out so far.
    pub fn not_exported(&self) -> &[NotExported] {
        &self.not_exported
    }

    /// Writes the package's own files, `SHA256SUMS` and its signature, and moves the
    /// package into the output directory.
    pub fn finish(mut self) -> Result<PackageSummary, ExportError> {
        let cert = self.identity.certificate();
        let mut sets = std::mem::take(&mut self.sets);
        sets.sort_by(|a, b| (a.call.started_at, &a.call.id).cmp(&(b.call.started_at, &b.call.id)));
        let manifest = PackageManifest {
            format: MANIFEST_FORMAT.to_owned(),
            version: MANIFEST_VERSION,
            request: self.request.clone(),
            certificate_subject: cert.subject_cn().to_owned(),
            certificate_sha256: cert.fingerprint_sha256(),
            sets,
            not_exported: std::mem::take(&mut self.not_exported),
        };
        let mut json = serde_json::to_vec_pretty(&manifest)?;
        json.push(b'\n');
        let zone = self.time_zone;
        self.write("cert.pem", cert.pem().as_bytes())?;
        self.write("manifest.json", &json)?;
        self.write("index.html", page::index_html(&manifest, zone).as_bytes())?;
        self.write("README.txt", page::readme(&manifest).as_bytes())?;
        self.write(page::VERIFY_SCRIPT, page::VERIFY_SH.as_bytes())?;
        set_mode(&self.staging.join(page::VERIFY_SCRIPT), 0o700)?;

        let mut entries = Vec::new();
        for path in tree::files(&self.staging).map_err(ExportError::io(&self.staging))? {
            let name = tree::relative(&self.staging, &path);
            let sha256 = match self.known.get(&name) {
                Some(h) => *h,
                None => cr_sign::sha256_file(&path).map_err(ExportError::io(&path))?.0,
            };
            entries.push(cr_sign::ManifestEntry { sha256, name });
        }
        let files = entries.len();
        let sums = cr_sign::Manifest::new(entries).to_text();
        let signature = base64::engine::general_purpose::STANDARD.encode(self.identity.sign(sums.as_bytes()));
        self.write(SUMS_FILE, sums.as_bytes())?;
        self.write(SUMS_SIGNATURE_FILE, signature.as_bytes())?;
        sync_dir(&self.staging)?;
        // rename(2) replaces an empty directory and fails on a non-empty one: never overwrites.
        std::fs::rename(&self.staging, &self.out).map_err(|e| {
            if self.out.is_dir() {
                ExportError::OutNotEmpty(self.out.clone())
            } else {
                ExportError::io(&self.out)(e)
            }
        })?;
        self.done = true;
        if let Some(parent) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(PackageSummary { dir: self.out.clone(), manifest, files, sums_sha256: cr_sign::sha256_hex(sums.as_bytes()) })
    }

    fn has(&self, id: &str) -> bool {
        self.sets.iter().any(|s| s.call.id == id) || self.not_exported.iter().any(|s| s.call.id == id)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ExportError> {
        let path = self.staging.join(name);
        std::fs::write(&path, bytes).map_err(ExportError::io(&path))
    }
}

impl Drop for PackageWriter<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ExportError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(ExportError::io(path))
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(ExportError::io(dir))
}
