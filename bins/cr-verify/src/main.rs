//! `cr-verify`: the auditor's verifier (docs/reference.md §4). Needs nothing but the certificate.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use rayon::prelude::*;

/// Verify callrec recording sets with nothing but the installation's certificate.
///
/// For each set: the signature of its checksum file (<id>.sha256.SHA256withRSA.sig) must
/// verify with the certificate's public key, every file listed in <id>.sha256 must be present
/// with that SHA-256, and no audio or metadata file of the set may be unlisted.
///
/// Prints `OK <id>` or `FAILED <id>: <reason naming the file>` per set, then a summary line
/// (or, with --json, one JSON object per set).
///
/// The chain: each set sealed by cr-recorder names its sequence number and the SHA-256 of
/// the previous set's checksum file. Across the sets found, every missing sequence number
/// between the lowest and the highest and every link that does not fit is reported as a
/// `CHAIN ...` line (sets before the lowest number are not expected: a folder may hold one
/// day, and retention removes the oldest).
///
/// An export package (`crctl export`): a folder given that holds `SHA256SUMS` and
/// `SHA256SUMS.SHA256withRSA.sig` is also checked as a whole: the signature of SHA256SUMS,
/// every file it lists, no file it does not list, and its cert.pem being the certificate
/// given; `OK package <dir>: ...` or one `FAILED <dir>/<file>: <reason>` line per problem.
/// Its sets are verified as above; being one party's calls, the sequence numbers between
/// them are not expected (broken links among them still are reported).
///
/// Exit status: 0 every set (and package) verified and the chain is whole, 1 at least one set
/// or package failed, the chain has a gap or broken link, or no set was found, 2 could not run (bad arguments,
/// unreadable certificate or path).
#[derive(Parser)]
#[command(version, about, long_about, after_long_help = cr_clidoc::REFERENCE)]
struct Args {
    /// The installation's certificate (PEM or DER), as `crctl cert` prints it.
    #[arg(long)]
    cert: PathBuf,
    /// Checksum files (<id>.sha256) or folders, searched recursively.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// One JSON object per set on stdout instead of text lines.
    #[arg(long)]
    json: bool,
    /// Verify this many sets at once (default: one per CPU core).
    #[arg(long)]
    jobs: Option<usize>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
}

fn main() -> ExitCode {
    if let Some(code) = cr_clidoc::generate_if_asked(<Args as clap::CommandFactory>::command) {
        return code;
    }
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cr-verify: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cert = cr_sign::Certificate::load(&args.cert).map_err(anyhow::Error::new)?;
    let mut files = Vec::new();
    let mut packages = Vec::new();
    for p in &args.paths {
        if p.is_dir() && cr_export::is_package(p) {
            packages.push(p.clone());
        }
        files.extend(cr_sign::find_checksum_files(p).with_context(|| format!("{}", p.display()))?);
    }
    files.sort();
    files.dedup();
    let package_reports: Vec<cr_export::PackageReport> =
        packages.iter().map(|p| cr_export::verify_package(p, &cert)).collect();
    if let Some(jobs) = args.jobs {
        rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build_global()?;
    }
    let bar = if !args.no_progress && std::io::stderr().is_terminal() && files.len() > 1 {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sets {binary_bytes_per_sec} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let reports: Vec<cr_sign::SetReport> = files
        .par_iter()
        .map(|f| {
            let r = cr_sign::verify_set(f, &cert);
            if let Some(b) = &bar {
                b.inc(1);
            }
            r
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for p in &package_reports {
        write_package(&mut out, p, args.json)?;
    }
    let failed = reports.iter().filter(|r| !r.is_ok()).count();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    for r in &reports {
        if args.json {
            let problems: Vec<_> = r
                .problems
                .iter()
                .map(|p| serde_json::json!({"file": p.file, "problem": p.to_string()}))
                .collect();
            let obj = serde_json::json!({
                "id": r.id,
                "checksum_file": r.checksum_file,
                "ok": r.is_ok(),
                "files": r.verified_files,
                "bytes": r.bytes,
                "problems": problems,
            });
            writeln!(out, "{obj}")?;
        } else if r.is_ok() {
            writeln!(out, "OK {}", r.id)?;
        } else {
            let reasons: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
            writeln!(out, "FAILED {}: {}", r.id, reasons.join("; "))?;
        }
    }
    let chain = chain_problems(&reports, &packages);
    for p in &chain {
        if args.json {
            writeln!(out, "{}", serde_json::json!({"chain_problem": p.to_string()}))?;
        } else {
            writeln!(out, "CHAIN {p}")?;
        }
    }
    if reports.is_empty() {
        eprintln!("cr-verify: no recording sets (*.sha256) found");
        return Ok(ExitCode::from(1));
    }
    let mut summary = format!(
        "verified {} set(s): {} OK, {} FAILED ({:.1} MB hashed)",
        reports.len(),
        reports.len() - failed,
        failed,
        bytes as f64 / 1e6
    );
    if !chain.is_empty() {
        summary.push_str(&format!("; {} chain problem(s)", chain.len()));
    }
    let packages_failed = package_reports.iter().filter(|p| !p.is_ok()).count();
    if !package_reports.is_empty() {
        summary.push_str(&format!(
            "; {} package(s): {} OK, {} FAILED",
            package_reports.len(),
            package_reports.len() - packages_failed,
            packages_failed
        ));
    }
    if args.json {
        eprintln!("{summary}");
    } else {
        writeln!(out, "{summary}")?;
    }
    Ok(if failed == 0 && chain.is_empty() && packages_failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `OK package DIR: ...` or one `FAILED DIR/FILE: reason` line per problem (or one JSON
/// object).
fn write_package(out: &mut impl Write, p: &cr_export::PackageReport, json: bool) -> std::io::Result<()> {
    if json {
        let problems: Vec<_> =
            p.problems.iter().map(|x| serde_json::json!({"file": x.file, "problem": x.to_string()})).collect();
        let obj = serde_json::json!({
            "package": p.dir,
            "ok": p.is_ok(),
            "files": p.verified_files,
            "bytes": p.bytes,
            "problems": problems,
        });
        return writeln!(out, "{obj}");
    }
    if p.is_ok() {
        return writeln!(
            out,
            "OK package {}: SHA256SUMS signed by this certificate, {} listed file(s) match, none unlisted",
            p.dir.display(),
            p.verified_files
        );
    }
    for x in &p.problems {
        writeln!(out, "FAILED {}: {}", p.dir.join(&x.file).display(), x.kind)?;
    }
    Ok(())
}

/// The chain over every set that verified: each set's metadata (`<id>.json`, covered by
/// its signature) names its sequence number and the SHA-256 of its predecessor's checksum
/// file. Sets without chain data (sealed by `crctl seal`) are left out. The sets inside an
/// export package are one party's calls: there the chain is checked among themselves, and
/// the numbers between them are not expected.
fn chain_problems(reports: &[cr_sign::SetReport], packages: &[PathBuf]) -> Vec<cr_sign::ChainProblem> {
    let in_package = |r: &cr_sign::SetReport| packages.iter().position(|p| r.checksum_file.starts_with(p));
    let mut problems = chain_of(reports.iter().filter(|r| in_package(r).is_none()));
    for i in 0..packages.len() {
        let inside = chain_of(reports.iter().filter(|r| in_package(r) == Some(i)));
        problems.extend(inside.into_iter().filter(|p| !matches!(p, cr_sign::ChainProblem::Gap { .. })));
    }
    problems
}

fn chain_of<'a>(reports: impl Iterator<Item = &'a cr_sign::SetReport>) -> Vec<cr_sign::ChainProblem> {
    let members: Vec<cr_sign::ChainMember> = reports
        .filter(|r| r.is_ok())
        .filter_map(|r| {
            let meta = r.checksum_file.with_file_name(format!("{}.json", r.id));
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
            Some(cr_sign::ChainMember {
                id: r.id.clone(),
                seq: v["chain"]["seq"].as_u64()?,
                prev_sha256: v["chain"]["prev_sha256"].as_str()?.to_owned(),
                checksum_sha256: r.checksum_sha256.clone(),
            })
        })
        .collect();
    cr_sign::check_chain(&members)
}
