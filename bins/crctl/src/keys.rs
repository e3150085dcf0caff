//! `crctl keys init`, `crctl cert`, `crctl seal`, and the `[keystore]` part of `config check`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cr_config::{Cipher, Config, ConfigError};

fn cipher(cfg: &Config) -> cr_sign::Cipher {
    match cfg.keystore.cipher {
        Cipher::TripleDes => cr_sign::Cipher::TripleDes,
        Cipher::Aes256 => cr_sign::Cipher::Aes256,
    }
}

/// Opens the keystore and logs the certificate (PEM and fingerprint) at INFO (S14, S19).
pub fn open_identity(cfg: &Config) -> anyhow::Result<cr_sign::Identity> {
    Ok(cr_sign::open_configured(cfg)?)
}

/// `crctl keys init`: creates the key pair, the keystore and the certificate; refuses to
/// overwrite. Also writes `cert.pem` beside the keystore for auditors.
pub fn init(cfg: &Config) -> anyhow::Result<ExitCode> {
    let path = cfg.keystore_path();
    if path.exists() {
        return Err(cr_sign::SignError::KeystoreExists(path).into());
    }
    let pw = cr_sign::configured_password(cfg)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let identity = cr_sign::Identity::generate(&cfg.installation.module_id, chrono::Utc::now())?;
    identity.save_keystore(&path, &pw, cipher(cfg))?;
    let cert = identity.certificate();
    let pem_path = path.with_file_name("cert.pem");
    if !pem_path.exists() {
        std::fs::write(&pem_path, cert.pem()).with_context(|| format!("writing {}", pem_path.display()))?;
    }
    tracing::info!(keystore = %path.display(), fingerprint = %cert.fingerprint_sha256(), "key pair created");
    // The audit trail starts with the key: which certificate, when, by whom.
    match cr_journal::Journal::open_url(&cfg.journal.url, &cfg.installation.data_dir, &cr_journal::OpenOptions::new()) {
        Ok(journal) => {
            let actor = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
            journal.audit(
                &cr_journal::AuditKind::KeyCreated,
                chrono::Utc::now(),
                Some(&format!("crctl:{actor}")),
                None,
                &serde_json::json!({
                    "subject": cert.subject_cn(),
                    "fingerprint_sha256": cert.fingerprint_sha256(),
                    "keystore": path,
                    "cipher": format!("{:?}", cfg.keystore.cipher),
                }),
            )?;
        }
        Err(e) => tracing::warn!("key created, but the journal could not record it: {e}"),
    }
    eprintln!("created keystore {} and certificate {}", path.display(), pem_path.display());
    print_cert(cert);
    Ok(ExitCode::SUCCESS)
}

fn print_cert(cert: &cr_sign::Certificate) {
    print!("{}", cert.pem());
    println!("SHA-256 fingerprint: {}", cert.fingerprint_sha256());
}

/// `crctl cert`: prints the certificate PEM and its SHA-256 fingerprint.
pub fn cert(cfg: &Config) -> anyhow::Result<ExitCode> {
    let identity = open_identity(cfg)?;
    print_cert(identity.certificate());
    Ok(ExitCode::SUCCESS)
}

/// `crctl seal --id ID FILE...`.
pub fn seal(cfg: &Config, id: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let identity = open_identity(cfg)?;
    let set = cr_sign::seal(id, files, &identity)?;
    println!("{}", set.checksum_file.display());
    println!("{}", set.signature_file.display());
    Ok(ExitCode::SUCCESS)
}

/// Checks `[keystore]`: a password source that resolves, and a keystore that opens with it
/// when it exists.
pub fn check(cfg: &Config) -> Vec<ConfigError> {
    let key = if cfg.keystore.password_file.is_some() { "keystore.password_file" } else { "keystore.password_env" };
    let secret = cfg.keystore_password();
    if secret.env.is_none() && secret.file.is_none() {
        return vec![cfg.error_at("keystore", "no keystore password: set password_env or password_file")];
    }
    let pw = match secret.resolve() {
        Ok(pw) => pw,
        Err(e) => return vec![cfg.error_at(key, e)],
    };
    if let Some(w) = cr_sign::password_warning(&pw) {
        eprintln!("warning: {}: {w}", cfg.path.display());
    }
    let path = cfg.keystore_path();
    if path.exists()
        && let Err(e) = cr_sign::Identity::open_keystore(&path, &pw)
    {
        return vec![cfg.error_at("keystore.path", e.to_string())];
    }
    Vec::new()
}
