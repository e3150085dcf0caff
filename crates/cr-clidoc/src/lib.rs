//! Man pages and shell completions for callrec's binaries, generated from their clap
//! definitions so that they never drift from `--help`.
//!
//! Every binary calls [`generate_if_asked`] first thing in `main`: when the environment
//! variable [`ENV`] names a directory, it writes `man/NAME.1` (with one page per
//! subcommand, `NAME-SUB.1`) and `completions/{NAME.bash,_NAME,NAME.fish}` there and
//! exits instead of running. The package build (`scripts/build-deb.sh`) uses it.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let cmd = clap::Command::new("demo").about("A demo").arg(clap::Arg::new("x").long("x"));
//! cr_clidoc::write_all(cmd, dir.path()).unwrap();
//! assert!(dir.path().join("man/demo.1").is_file());
//! assert!(dir.path().join("completions/demo.bash").is_file());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs;
use std::io;
use std::path::Path;
use std::process::ExitCode;

use clap_complete::Shell;

/// Where `--help` points for every key, file, flag and exit code (shown under `--help`).
pub const REFERENCE: &str = "Reference: every configuration key, file, flag and exit code is listed in docs/reference.md\n(installed: /usr/share/doc/callrec/reference.md; man pages: man cr-recorder, man crctl, ...).";

/// The environment variable that asks a binary to write its documentation.
pub const ENV: &str = "CALLREC_GENERATE_DOCS";

/// When [`ENV`] is set, writes the man pages and completions of `cmd` into the directory it
/// names and returns the exit code to end with (0, or 2 when a file could not be written);
/// otherwise `None`, and the binary runs as usual.
pub fn generate_if_asked(cmd: impl FnOnce() -> clap::Command) -> Option<ExitCode> {
    let dir = std::env::var_os(ENV)?;
    let cmd = cmd();
    let name = cmd.get_name().to_string();
    match write_all(cmd, Path::new(&dir)) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("{name}: could not write the documentation into {}: {e}", Path::new(&dir).display());
            Some(ExitCode::from(2))
        }
    }
}

/// Writes `man/` and `completions/` for `cmd` under `dir` (created when missing).
pub fn write_all(cmd: clap::Command, dir: &Path) -> io::Result<()> {
    let mut cmd = cmd;
    cmd.build();
    let man = dir.join("man");
    fs::create_dir_all(&man)?;
    write_man(&cmd, cmd.get_name(), &man)?;
    let comp = dir.join("completions");
    fs::create_dir_all(&comp)?;
    let name = cmd.get_name().to_string();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, &name, &comp)?;
    }
    Ok(())
}

fn write_man(cmd: &clap::Command, page: &str, dir: &Path) -> io::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).title(page.to_uppercase()).render(&mut buf)?;
    fs::write(dir.join(format!("{page}.1")), buf)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        write_man(sub, &format!("{page}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
