//! `crctl export`: the disclosure package of one party's recordings (cr-export).
//!
//! Finds the party's sets as `crctl search` does, reads each back from where it lies (the
//! spool, a folder target it was delivered to, else an SFTP, SMB or OneDrive target, from
//! the directory recorded at delivery), verifies it with the certificate before
//! it enters the package, and writes the package into `--out`, which must not exist or be
//! empty. An audit event `exported` names the request, the party and the sets.
//!
//! Exit status: 0 every matching set is in the package; 1 a problem was found — no set
//! matches (nothing written), a set did not verify or could not be found (the package holds
//! the others, its manifest names the problem; nothing is written when no set verified);
//! 2 could not run (bad arguments, `--out` not empty, no journal, keystore).
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use cr_export::{CallFacts, DirectorySource, PackageWriter, Request, SetOutcome, SetSource};
use cr_journal::{AuditKind, SearchHit, SearchQuery, UploadState};
use serde::Serialize;

use crate::journal_cmds::{self, DisplayZone};

/// `crctl export` arguments.
#[derive(Args)]
pub struct ExportArgs {
    /// The party number (caller or callee) whose calls are asked for, in any form; matched
    /// as `crctl search --number` matches.
    #[arg(long)]
    pub party: String,
    /// How the number matches, and the time range.
    #[command(flatten)]
    pub range: journal_cmds::MatchArgs,
    /// The request's reference (letter, ticket), written into the manifest and the audit log.
    #[arg(long)]
    pub request: String,
    /// The package directory: must not exist, or be empty. Never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Who makes the export (role auditor or above), named in the manifest and the audit
    /// log.
    #[command(flatten)]
    pub who: crate::auth::OperatorArgs,
    /// Print one JSON object (the outcome) instead of text lines.
    #[arg(long)]
    pub json: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// Where one set will be read from.
enum Found {
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
struct TargetSource {
    target: Box<dyn cr_storage::Target>,
    kind: String,
    dir: Vec<String>,
}

impl TargetSource {
    fn err(&self, e: cr_storage::TargetError) -> cr_export::SourceError {
        cr_export::SourceError::Target { location: self.describe(), error: e.to_string() }
    }
}

impl cr_export::SetSource for TargetSource {
    fn describe(&self) -> String {
        format!("target {} ({} {})", self.target.name(), self.kind, self.dir.join("/"))
    }

    fn fetch(&mut self, id: &str, dest: &Path) -> Result<u64, cr_export::SourceError> {
        let sums_name = cr_sign::checksum_file_name(id);
        let sums_path = dest.join(&sums_name);
        let Some(mut bytes) = self.target.fetch_file(&self.dir, &sums_name, &sums_path).map_err(|e| self.err(e))? else {
            return Err(cr_export::SourceError::NotThere { location: self.describe(), id: id.to_owned(), file: sums_name });
        };
        let io = |source| cr_export::SourceError::Io { location: self.describe(), path: sums_path.clone(), source };
        let text = std::fs::read(&sums_path).map_err(io)?;
        let manifest = cr_sign::Manifest::parse(&text)
            .map_err(|error| cr_export::SourceError::Malformed { location: self.describe(), file: sums_name.clone(), error })?;
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
fn locate(cfg: &cr_config::Config, hit: &SearchHit) -> Found {
    if let Some(loc) = &hit.location {
        let src = DirectorySource::new("spool", loc);
        if src.has_set(&hit.set_id) {
            return Found::Directory(src);
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
                    return Found::Directory(src);
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
                return Found::Target(TargetSource { kind: spec.kind.clone(), target: spec.build(), dir });
            }
            Err(errs) => problems.push(errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")),
        }
    }
    let delivered: Vec<&str> = hit.deliveries.iter().filter(|d| d.state == UploadState::Done).map(|d| d.target.as_str()).collect();
    Found::Nowhere(format!(
        "no copy found: not in the spool ({}) and not at any target it was delivered to ({}){}",
        hit.location.as_deref().unwrap_or("deleted"),
        if delivered.is_empty() { "none".to_owned() } else { delivered.join(", ") },
        if problems.is_empty() { String::new() } else { format!(": {}", problems.join("; ")) }
    ))
}

fn facts(hit: &SearchHit) -> CallFacts {
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

/// The `--json` outcome, and the audit event's details.
#[derive(Serialize)]
struct Outcome<'a> {
    request: &'a str,
    party: &'a str,
    out: Option<&'a Path>,
    exported: Vec<&'a str>,
    not_exported: Vec<Refused<'a>>,
    files: usize,
    sha256sums_sha256: Option<&'a str>,
}

#[derive(Serialize)]
struct Refused<'a> {
    id: &'a str,
    problems: &'a [String],
}

fn progress(n: usize, quiet: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if quiet || n < 2 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sets {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// `crctl export`.
pub fn run(cfg: &cr_config::Config, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let (tz, (from, to)) = journal_cmds::time_range(cfg, &args.range)?;
    if args.request.trim().is_empty() {
        anyhow::bail!("--request must name the request (e.g. the letter's or ticket's reference)");
    }
    // Refuse a full --out before reading anything.
    if std::fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(cr_export::ExportError::OutNotEmpty(args.out.clone()).into());
    }
    let journal = journal_cmds::open(cfg, false)?;
    let operator = crate::auth::require(&journal, &args.who, cr_journal::Role::Auditor, "exporting recordings")?;
    let hits = journal.search(&SearchQuery {
        number: Some(args.party.clone()),
        exact: args.range.exact,
        from,
        to,
        limit: None,
        ..Default::default()
    })?;
    if hits.is_empty() {
        eprintln!("crctl export: no recordings of party {} match: nothing exported, {} not written", args.party, args.out.display());
        return Ok(ExitCode::from(1));
    }
    let copies: Vec<Found> = hits.iter().map(|h| locate(cfg, h)).collect();
    let identity = crate::keys::open_identity(cfg)?;
    let now = Utc::now();
    let mut request = Request::new(&args.request, &args.party, now);
    request.from = from;
    request.to = to;
    request.operator = Some(operator.name.clone());
    let mut writer = PackageWriter::new(&args.out, request, &identity)?;
    if let Some(z) = tz.named() {
        writer = writer.time_zone(z);
    }
    let bar = progress(hits.len(), args.no_progress || args.json);
    for (hit, copy) in hits.iter().zip(copies) {
        let line = match copy {
            Found::Directory(mut src) => added(writer.add_set(facts(hit), &mut src)?, &tz, hit),
            Found::Target(mut src) => added(writer.add_set(facts(hit), &mut src)?, &tz, hit),
            Found::Nowhere(why) => {
                let n = writer.leave_out(facts(hit), why)?;
                Some(format!("FAILED {}: {}", n.call.id, n.problems.join("; ")))
            }
        };
        let Some(line) = line else { continue };
        match &bar {
            Some(b) => b.println(&line),
            None if !args.json => println!("{line}"),
            None => {}
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if writer.exported().is_empty() {
        let outcome = Outcome {
            request: &args.request,
            party: &args.party,
            out: None,
            exported: Vec::new(),
            not_exported: writer.not_exported().iter().map(|n| Refused { id: &n.call.id, problems: &n.problems }).collect(),
            files: 0,
            sha256sums_sha256: None,
        };
        if args.json {
            println!("{}", serde_json::to_string(&outcome)?);
        }
        eprintln!("crctl export: no set of party {} verified: nothing exported, {} not written", args.party, args.out.display());
        return Ok(ExitCode::from(1));
    }
    let summary = writer.finish().context("writing the package")?;
    let m = &summary.manifest;
    let outcome = Outcome {
        request: &args.request,
        party: &args.party,
        out: Some(&summary.dir),
        exported: m.sets.iter().map(|s| s.call.id.as_str()).collect(),
        not_exported: m.not_exported.iter().map(|n| Refused { id: &n.call.id, problems: &n.problems }).collect(),
        files: summary.files,
        sha256sums_sha256: Some(&summary.sums_sha256),
    };
    journal
        .audit(&AuditKind::Exported, now, Some(&operator.name), None, &serde_json::to_value(&outcome)?)
        .context("the package is written, but the journal could not record the export")?;
    if args.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        println!(
            "package {}: {} set(s) exported, {} not exported, {} files; SHA256SUMS {}",
            summary.dir.display(),
            m.sets.len(),
            m.not_exported.len(),
            summary.files,
            summary.sums_sha256
        );
    }
    Ok(if m.not_exported.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The output line for a set the writer took or refused.
fn added(outcome: SetOutcome, tz: &DisplayZone, hit: &SearchHit) -> Option<String> {
    match outcome {
        SetOutcome::Exported(s) => Some(format!("EXPORTED {} ({}) from {}", s.call.id, describe(tz, hit), s.read_from)),
        SetOutcome::Refused(n) => Some(format!("FAILED {}: {}", n.call.id, n.problems.join("; "))),
        _ => None,
    }
}

fn describe(tz: &DisplayZone, hit: &SearchHit) -> String {
    format!("{}, {} -> {}, {}", tz.show(hit.started_at), hit.caller, hit.callee, journal_cmds::duration(hit.duration_ms))
}
