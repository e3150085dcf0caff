//! `cr-recorder`: see `--help`. Being filled in (see the project issues).
use std::process::ExitCode;

use clap::Parser;

/// cr-recorder — part of callrec (not yet implemented; exits 2).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (CONTRACT §1).
    #[arg(long)]
    config: std::path::PathBuf,
}

fn main() -> ExitCode {
    let _args = Args::parse();
    eprintln!("cr-recorder: not implemented yet");
    ExitCode::from(2)
}
