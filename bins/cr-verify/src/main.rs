//! `cr-verify`: the auditor's verifier (docs/reference.md §4). Needs nothing but the certificate.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use rayon::prelude::*;

mod chain;
mod decision_log;

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
/// Deletion receipts, audit checkpoints and decision logs (metadata `kind`
/// `deletion-receipt`, `audit-checkpoint`, `decision-log`) are verified as any set and are
/// members of the chain (`OK <id> (deletion receipt for <set>)`, `OK <id> (decision log: N
/// entries, D declined, F failed)`); a decision log whose entries file disagrees with its
/// metadata fails. A missing set that a receipt which verified accounts for
/// is no gap: `DELETED <id> seq N by receipt <rid>`; the sets around it must still link
/// through the hashes the receipt names. A receipt that fails accounts for nothing. A set
/// that is present although a receipt records its deletion is checked as any set
/// (`PRESENT ...`). With --from-genesis the chain must be whole from sequence 1.
///
/// An export package (`crctl export`): a folder given that holds `SHA256SUMS` and
/// `SHA256SUMS.SHA256withRSA.sig` is also checked as a whole: the signature of SHA256SUMS,
/// every file it lists, no file it does not list, and its cert.pem being the certificate
/// given; `OK package <dir>: ...` or one `FAILED <dir>/<file>: <reason>` line per problem.
/// Its sets are verified as above; being one party's calls, the sequence numbers between
/// them are not expected (broken links among them still are reported).
///
/// Time-stamps (RFC 3161): with --tsa-cert, a set's token `<id>.sha256.tsr` (when present)
/// must time-stamp SHA-256 of its checksum file, be signed validly by a TSA certificate that
/// is one given or signed by one, and allow time-stamping; with --require-timestamps a set
/// without a token fails too. The same token is accepted by `openssl ts -verify -data
/// <id>.sha256 -in <id>.sha256.tsr -CAfile tsa-ca.pem`. Without --tsa-cert tokens are not
/// checked (a note on stderr says how many sets carry one).
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
    /// Expect the chain from its first set: every sequence number from 1 up to the highest
    /// found must be present or accounted for by a receipt. Without it, the numbers below
    /// the lowest set found are not expected (a folder may hold one day), and receipts for
    /// sets below it count only where they adjoin it.
    #[arg(long)]
    from_genesis: bool,
    /// The TSA certificate(s) (PEM, one or more; or DER) that time-stamp tokens must chain
    /// to: each set's `<id>.sha256.tsr` is checked when present.
    #[arg(long, value_name = "FILE")]
    tsa_cert: Option<PathBuf>,
    /// A set without a time-stamp token fails (needs --tsa-cert).
    #[arg(long, requires = "tsa_cert")]
    require_timestamps: bool,
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
    let tsa = match &args.tsa_cert {
        Some(p) => Some(cr_sign::TsaTrust::load(p).map_err(|e| anyhow::anyhow!("--tsa-cert {e}"))?),
        None => None,
    };
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
    let results: Vec<(cr_sign::SetReport, Option<cr_sign::TimestampInfo>)> = files
        .par_iter()
        .map(|f| {
            let mut r = cr_sign::verify_set(f, &cert);
            let mut stamp = None;
            if let Some(trust) = &tsa {
                match cr_sign::verify_set_timestamp(f, trust, args.require_timestamps) {
                    Ok(s) => stamp = s,
                    Err(p) => r.problems.push(p),
                }
            }
            let r = (r, stamp);
            if let Some(b) = &bar {
                b.inc(1);
            }
            r
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (reports, stamps): (Vec<cr_sign::SetReport>, Vec<Option<cr_sign::TimestampInfo>>) = results.into_iter().unzip();
    if tsa.is_none() {
        let carrying = files.iter().filter(|f| f.with_file_name(format!("{}.tsr", f.file_name().unwrap_or_default().to_string_lossy())).exists()).count();
        if carrying > 0 {
            eprintln!("cr-verify: note: {carrying} set(s) carry a time-stamp token (<id>.sha256.tsr); give --tsa-cert to check them");
        }
    }
    // What each verified set is (recording, receipt, checkpoint) and its chain link; a
    // receipt whose metadata is not one fails.
    let mut metas = Vec::with_capacity(reports.len());
    let mut meta_problems: Vec<Option<String>> = Vec::with_capacity(reports.len());
    for r in &reports {
        match r.is_ok().then(|| chain::read_meta(r)) {
            None | Some(Ok(None)) => (metas.push(None), meta_problems.push(None)),
            Some(Ok(Some(m))) => (metas.push(Some(m)), meta_problems.push(None)),
            Some(Err(e)) => (metas.push(None), meta_problems.push(Some(e))),
        };
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for p in &package_reports {
        write_package(&mut out, p, args.json)?;
    }
    let failed = reports.iter().zip(&meta_problems).filter(|(r, m)| !r.is_ok() || m.is_some()).count();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    for (((r, meta), meta_problem), stamp) in reports.iter().zip(&metas).zip(&meta_problems).zip(&stamps) {
        let mut reasons: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        reasons.extend(meta_problem.iter().cloned());
        if args.json {
            let mut problems: Vec<_> =
                r.problems.iter().map(|p| serde_json::json!({"file": p.file, "problem": p.to_string()})).collect();
            if let Some(e) = meta_problem {
                problems.push(serde_json::json!({"file": format!("{}.json", r.id), "problem": e}));
            }
            let obj = serde_json::json!({
                "id": r.id,
                "checksum_file": r.checksum_file,
                "ok": reasons.is_empty(),
                "kind": meta.as_ref().map(|m| m.kind_name.as_str()),
                "files": r.verified_files,
                "bytes": r.bytes,
                "problems": problems,
                "timestamp": stamp.as_ref().map(|s| serde_json::json!({"gen_time": s.gen_time, "tsa": s.tsa, "serial": s.serial, "policy": s.policy})),
            });
            writeln!(out, "{obj}")?;
        } else if reasons.is_empty() {
            writeln!(out, "OK {}{}", r.id, kind_note(meta.as_ref()))?;
        } else {
            writeln!(out, "FAILED {}: {}", r.id, reasons.join("; "))?;
        }
    }
    let chain = chain::check(&reports, &metas, &packages, args.from_genesis);
    for a in &chain.accounted {
        if args.json {
            let (key, d) = match a {
                chain::Accounted::Deleted(d) => ("deleted", d),
                chain::Accounted::Earlier(d) => ("deleted_before_sets_found", d),
                chain::Accounted::Present(d) => ("present_despite_receipt", d),
            };
            writeln!(out, "{}", serde_json::json!({key: d.id, "seq": d.seq, "receipt": d.receipt}))?;
        } else {
            writeln!(out, "{a}")?;
        }
    }
    for p in &chain.problems {
        if args.json {
            writeln!(out, "{}", serde_json::json!({"chain_problem": p}))?;
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
    let deleted = chain.accounted.iter().filter(|a| !matches!(a, chain::Accounted::Present(_))).count();
    if deleted > 0 {
        summary.push_str(&format!("; {deleted} deleted set(s) accounted for by receipts"));
    }
    if !chain.problems.is_empty() {
        summary.push_str(&format!("; {} chain problem(s)", chain.problems.len()));
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
    Ok(if failed == 0 && chain.problems.is_empty() && packages_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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

/// ` (deletion receipt for <set>)` / ` (audit checkpoint)` after `OK <id>`; nothing for a
/// recording.
fn kind_note(meta: Option<&chain::SetMeta>) -> String {
    let Some(m) = meta else { return String::new() };
    match (m.kind, &m.receipt) {
        (Some(cr_types::SetKind::Recording), _) => String::new(),
        (Some(cr_types::SetKind::DeletionReceipt), Some(rc)) => {
            format!(" (deletion receipt for {})", rc.deleted.id)
        }
        (Some(cr_types::SetKind::AuditCheckpoint), _) => " (audit checkpoint)".to_owned(),
        (Some(cr_types::SetKind::DecisionLog), _) => match &m.log {
            Some(l) => format!(" (decision log: {} entries, {} declined, {} failed)", l.entries, l.declined, l.failed),
            None => " (decision log)".to_owned(),
        },
        _ => format!(" (kind {})", m.kind_name),
    }
}
