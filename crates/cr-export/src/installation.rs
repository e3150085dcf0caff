//! Finding a set's readable copy in an installation (the journal's search hit and the
//! configured targets), for `crctl export` and the console alike. Feature `installation`.

use std::path::Path;

use cr_journal::{SearchHit, UploadState};

use crate::{CallFacts, DirectorySource, ExportError, NotExported, PackageSummary, PackageWriter, SetOutcome, SetSource};

/// Where one set will be read from.
pub enum SetCopy {
    /// A directory on this machine: the spool, or a folder target.
    Directory(DirectorySource),
    /// Only on remote targets (SFTP, SMB, OneDrive): the first it was delivered to.
    Target(TargetSource),
    /// Nowhere: the problem.
    Nowhere(String),
}

/// A set delivered to a remote target, read back file by file with
/// [`cr_storage::Target::fetch_file`] from the directory it was delivered into. The writer
/// verifies what arrives, so the target need not be trusted. Files of the set at the
/// target that its checksum file does not list are not seen (a remote directory is not
/// listed).
pub struct TargetSource {
    target: Box<dyn cr_storage::Target>,
    kind: String,
    dir: Vec<String>,
}

impl TargetSource {
    fn err(&self, e: cr_storage::TargetError) -> crate::SourceError {
        crate::SourceError::Target { location: self.describe(), error: e.to_string() }
    }
}

impl crate::SetSource for TargetSource {
    fn describe(&self) -> String {
        format!("target {} ({} {})", self.target.name(), self.kind, self.dir.join("/"))
    }

    fn fetch(&mut self, id: &str, dest: &Path) -> Result<u64, crate::SourceError> {
        let sums_name = cr_sign::checksum_file_name(id);
        let sums_path = dest.join(&sums_name);
        let Some(mut bytes) = self.target.fetch_file(&self.dir, &sums_name, &sums_path).map_err(|e| self.err(e))? else {
            return Err(crate::SourceError::NotThere { location: self.describe(), id: id.to_owned(), file: sums_name });
        };
        let io = |source| crate::SourceError::Io { location: self.describe(), path: sums_path.clone(), source };
        let text = std::fs::read(&sums_path).map_err(io)?;
        let manifest = cr_sign::Manifest::parse(&text)
            .map_err(|error| crate::SourceError::Malformed { location: self.describe(), file: sums_name.clone(), error })?;
        let mut names = vec![cr_sign::signature_file_name(id)];
        names.extend(manifest.entries().iter().map(|e| e.name.clone()));
        for name in names {
            // A file missing at the target stays missing here: verification names it.
            let got = self.target.fetch_file(&self.dir, &name, &dest.join(&name)).map_err(|e| self.err(e))?;
            bytes += got.unwrap_or(0);
        }
        self.target.disconnect();
        Ok(bytes)
    }
}

/// Finds a readable copy of `hit`: the spool first, then each folder target it reached,
/// then the first remote target it reached.
pub fn locate(cfg: &cr_config::Config, hit: &SearchHit) -> SetCopy {
    if let Some(loc) = &hit.location {
        let src = DirectorySource::new("spool", loc);
        if src.has_set(&hit.set_id) {
            return SetCopy::Directory(src);
        }
    }
    let mut remote = Vec::new();
    let mut problems = Vec::new();
    for d in hit.deliveries.iter().filter(|d| d.state == UploadState::Done) {
        let Some(path) = &d.remote_path else { continue };
        let kind = cr_storage::target_kind(cfg, &d.target);
        let kind = kind.as_deref();
        match kind {
            Some("folder") => {
                let src = DirectorySource::new(format!("target {} (folder)", d.target), path);
                if src.has_set(&hit.set_id) {
                    return SetCopy::Directory(src);
                }
            }
            Some(_) => remote.push(d),
            None => problems.push(format!("target {} is not in the configuration", d.target)),
        }
    }
    for d in remote {
        match cr_storage::target_from_config(cfg, &d.target) {
            Ok(spec) => {
                // Where it was delivered, as recorded then; for deliveries recorded before
                // the journal kept that, the template as configured now.
                let dir = match &d.remote_dir {
                    Some(dir) => dir.clone(),
                    None => match cr_storage::zone_from_config(cfg) {
                        Ok(zone) => spec.template.render(zone.local(hit.started_at)),
                        Err(e) => {
                            problems.push(e.to_string());
                            continue;
                        }
                    },
                };
                return SetCopy::Target(TargetSource { kind: spec.kind.clone(), target: spec.build(), dir });
            }
            Err(errs) => problems.push(errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")),
        }
    }
    let delivered: Vec<&str> = hit.deliveries.iter().filter(|d| d.state == UploadState::Done).map(|d| d.target.as_str()).collect();
    SetCopy::Nowhere(format!(
        "no copy found: not in the spool ({}) and not at any target it was delivered to ({}){}",
        hit.location.as_deref().unwrap_or("deleted"),
        if delivered.is_empty() { "none".to_owned() } else { delivered.join(", ") },
        if problems.is_empty() { String::new() } else { format!(": {}", problems.join("; ")) }
    ))
}

/// The manifest's facts of a call found by the journal's search.
pub fn call_facts(hit: &SearchHit) -> CallFacts {
    let mut c = CallFacts::new(&hit.set_id, hit.started_at, hit.ended_at);
    c.duration_ms = hit.duration_ms;
    c.direction = hit.direction.as_str().to_owned();
    c.caller = hit.caller.clone();
    c.callee = hit.callee.clone();
    c.configuration = hit.configuration.clone();
    c.channels = hit.channels.clone();
    c.chain_seq = hit.chain_seq;
    c
}


impl SetCopy {
    /// Adds the set `hit` to `writer` from this copy ([`PackageWriter::add_set`]), or
    /// records it as left out with the problem when no copy was found.
    pub fn add_to(self, writer: &mut PackageWriter<'_>, hit: &SearchHit) -> Result<SetOutcome, ExportError> {
        match self {
            SetCopy::Directory(mut src) => writer.add_set(call_facts(hit), &mut src),
            SetCopy::Target(mut src) => writer.add_set(call_facts(hit), &mut src),
            SetCopy::Nowhere(why) => writer.leave_out(call_facts(hit), why).map(SetOutcome::Refused),
        }
    }
}

/// What an export did: `crctl export --json` prints it, and it is the details of the
/// audit event `exported` (by `crctl export` and the console alike).
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ExportRecord {
    /// The request's reference.
    pub request: String,
    /// The party number asked for, as given.
    pub party: String,
    /// The package directory; none when nothing was written.
    pub out: Option<std::path::PathBuf>,
    /// The sets in the package.
    pub exported: Vec<String>,
    /// The sets left out, with their problems.
    pub not_exported: Vec<LeftOut>,
    /// Files listed in `SHA256SUMS`.
    pub files: usize,
    /// SHA-256 (hex) of `SHA256SUMS`; none when nothing was written.
    pub sha256sums_sha256: Option<String>,
    /// Where the export was made (`console`); absent for `crctl export`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Why the export was made, as the operator gave it; absent when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A set left out of a package, in an [`ExportRecord`].
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct LeftOut {
    /// The set id.
    pub id: String,
    /// Why it was left out.
    pub problems: Vec<String>,
}

impl LeftOut {
    fn of(n: &NotExported) -> Self {
        Self { id: n.call.id.clone(), problems: n.problems.clone() }
    }
}

impl ExportRecord {
    /// Nothing written: every matching set was left out (`not_exported`).
    pub fn nothing(request: &str, party: &str, not_exported: &[NotExported]) -> Self {
        Self {
            request: request.to_owned(),
            party: party.to_owned(),
            out: None,
            exported: Vec::new(),
            not_exported: not_exported.iter().map(LeftOut::of).collect(),
            files: 0,
            sha256sums_sha256: None,
            via: None,
            reason: None,
        }
    }

    /// The package `summary` written.
    pub fn written(summary: &PackageSummary) -> Self {
        let m = &summary.manifest;
        Self {
            request: m.request.reference.clone(),
            party: m.request.party.clone(),
            out: Some(summary.dir.clone()),
            exported: m.sets.iter().map(|s| s.call.id.clone()).collect(),
            not_exported: m.not_exported.iter().map(LeftOut::of).collect(),
            files: summary.files,
            sha256sums_sha256: Some(summary.sums_sha256.clone()),
            via: None,
            reason: None,
        }
    }

    /// The operator's reason for the export (an empty one is none).
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.trim().to_owned()).filter(|r| !r.is_empty());
        self
    }

    /// Says where the export was made (e.g. `console`).
    pub fn via(mut self, via: &str) -> Self {
        self.via = Some(via.to_owned());
        self
    }
}
