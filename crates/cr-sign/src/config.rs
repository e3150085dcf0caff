//! Opening the installation's keystore as `callrec.toml` describes it (feature `config`).

use cr_config::{Config, ConfigError};

use crate::error::SignError;
use crate::identity::Identity;

/// Opens the keystore of `[keystore]` with the password from `password_env` /
/// `password_file`, and logs the verification certificate (PEM and SHA-256 fingerprint) at
/// INFO, as every callrec binary does when it starts (S14, S19). A password Java keytool
/// cannot use is warned about.
pub fn open_configured(cfg: &Config) -> Result<Identity, SignError> {
    let path = cfg.keystore_path();
    let identity = Identity::open_keystore(&path, &configured_password(cfg)?)?;
    let cert = identity.certificate();
    tracing::info!(
        keystore = %path.display(),
        fingerprint = %cert.fingerprint_sha256(),
        "verification certificate \"{}\":\n{}",
        cert.subject_cn(),
        cert.pem()
    );
    Ok(identity)
}

/// The keystore password from `password_env` / `password_file`; refuses an empty one and
/// warns about one Java keytool cannot use.
pub fn configured_password(cfg: &Config) -> Result<String, SignError> {
    let password = cfg
        .keystore_password()
        .resolve()
        .map_err(|e| SignError::Password(format!("{}: {e}", cfg.path.display())))?;
    if password.is_empty() {
        return Err(SignError::Password(format!("{}: the keystore password is empty", cfg.path.display())));
    }
    if let Some(w) = crate::identity::password_warning(&password) {
        tracing::warn!("{w}");
    }
    Ok(password)
}

/// What [`check_configured`] found.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct KeystoreCheck {
    /// Problems, each at its key.
    pub problems: Vec<ConfigError>,
    /// Warnings (a password Java keytool cannot use), each naming the file.
    pub warnings: Vec<String>,
}

/// Checks `[keystore]` for `crctl config check`: a password source that resolves, and a
/// keystore that opens with it when it exists.
pub fn check_configured(cfg: &Config) -> KeystoreCheck {
    let mut out = KeystoreCheck::default();
    let key = if cfg.keystore.password_file.is_some() { "keystore.password_file" } else { "keystore.password_env" };
    let secret = cfg.keystore_password();
    if secret.env.is_none() && secret.file.is_none() {
        out.problems.push(cfg.error_at("keystore", "no keystore password: set password_env or password_file"));
        return out;
    }
    let pw = match secret.resolve() {
        Ok(pw) => pw,
        Err(e) => {
            out.problems.push(cfg.error_at(key, e));
            return out;
        }
    };
    if let Some(w) = crate::identity::password_warning(&pw) {
        out.warnings.push(format!("{}: {w}", cfg.path.display()));
    }
    let path = cfg.keystore_path();
    if path.exists()
        && let Err(e) = Identity::open_keystore(&path, &pw)
    {
        out.problems.push(cfg.error_at("keystore.path", e.to_string()));
    }
    out
}
