//! Seals two sets in a temporary spool, exports them into a package, verifies it.
//!
//! `cargo run -p cr-export --example make_package [OUT]` (default: a temporary directory),
//! then try `bash OUT/verify.sh` and open `OUT/index.html`.
use chrono::{TimeZone, Utc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).single().ok_or("no such time")?;
    let identity = cr_sign::Identity::generate("pbx-example", now)?;
    let spool = tempfile::tempdir()?;
    let keep = tempfile::tempdir()?;
    let out = std::env::args_os().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| keep.path().join("package"));
    let mut package = cr_export::PackageWriter::new(&out, cr_export::Request::new("EXAMPLE-1", "+49 30 999888", now), &identity)?;
    for (i, id) in ["example-1", "example-2"].into_iter().enumerate() {
        let dir = spool.path().join(id);
        std::fs::create_dir(&dir)?;
        let (wav, json) = (dir.join(format!("{id}.wav")), dir.join(format!("{id}.json")));
        std::fs::write(&wav, b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\0\0\0\0")?;
        std::fs::write(&json, format!("{{\"id\":\"{id}\"}}"))?;
        cr_sign::seal(id, &[wav, json], &identity)?;
        let start = now + chrono::Duration::minutes(i as i64);
        let mut call = cr_export::CallFacts::new(id, start, start + chrono::Duration::seconds(30));
        call.caller = "+49 30 999888".into();
        call.callee = "300".into();
        package.add_set(call, &mut cr_export::DirectorySource::new("spool", &dir))?;
    }
    let summary = package.finish()?;
    let report = cr_export::verify_package(&summary.dir, identity.certificate());
    println!("{}: {} sets, {} files, verified: {}", summary.dir.display(), summary.manifest.sets.len(), summary.files, report.is_ok());
    Ok(())
}
