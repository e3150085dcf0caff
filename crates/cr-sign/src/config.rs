//! Opening the installation's keystore as `callrec.toml` describes it (feature `config`).

use cr_config::Config;

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
