//! `crctl config check`: every crate checks the part of the configuration it owns.
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
    let mut problems: Vec<cr_config::ConfigError> = Vec::new();
    problems.extend(crate::keys::check(&cfg));
    problems.extend(crate::policy::check(&cfg));
    if problems.is_empty() {
        println!("{}: OK", path.display());
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        ExitCode::from(1)
    }
}
