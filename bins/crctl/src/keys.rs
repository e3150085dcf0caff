//! `crctl keys init`, `crctl cert`, `crctl seal` (filled in with cr-sign).
use std::path::PathBuf;
use std::process::ExitCode;

/// Creates key pair, keystore and certificate.
pub fn init(_cfg: &cr_config::Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

/// Prints the certificate.
pub fn cert(_cfg: &cr_config::Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

/// Seals files into a set.
pub fn seal(_cfg: &cr_config::Config, _id: &str, _files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

/// Checks `[keystore]`.
pub fn check(_cfg: &cr_config::Config) -> Vec<cr_config::ConfigError> {
    Vec::new()
}
