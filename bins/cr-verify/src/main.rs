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
/// Exit status: 0 every set verified and the chain is whole, 1 at least one set failed, the
/// chain has a gap or broken link, or no set was found, 2 could not run (bad arguments,
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
    for p in &args.paths {
        files.extend(cr_sign::find_checksum_files(p).with_context(|| format!("{}", p.display()))?);
    }
    files.sort();
    files.dedup();
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
    let chain = chain_problems(&reports);
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
    if args.json {
        eprintln!("{summary}");
    } else {
        writeln!(out, "{summary}")?;
    }
    Ok(if failed == 0 && chain.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The chain over every set that verified: each set's metadata (`<id>.json`, covered by
/// its signature) names its sequence number and the SHA-256 of its predecessor's checksum
/// file. Sets without chain data (sealed by `crctl seal`) are left out.
fn chain_problems(reports: &[cr_sign::SetReport]) -> Vec<cr_sign::ChainProblem> {
    let members: Vec<cr_sign::ChainMember> = reports
        .iter()
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
