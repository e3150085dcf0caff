//! `crctl config check`: the whole file through cr-setup's composition, the same
//! validation every daemon runs at start.
use std::path::Path;
use std::process::ExitCode;

/// Loads and validates the file; prints each problem as `FILE:LINE: key `K`: message`.
pub fn run(path: &Path) -> ExitCode {
    let cfg = match cr_config::Config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let checked = cr_setup::Checked::from_config(&cfg);
    for w in &checked.warnings {
        eprintln!("warning: {w}");
    }
    for note in &checked.notes {
        eprintln!("{}: note: {note}", cfg.path.display());
    }
    if checked.problems.is_empty() {
        println!("{}: OK", path.display());
        ExitCode::SUCCESS
    } else {
        for p in &checked.problems {
            eprintln!("{p}");
        }
        ExitCode::from(1)
    }
}
