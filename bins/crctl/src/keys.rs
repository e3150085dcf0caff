//! `crctl keys init`, `crctl cert`, `crctl seal`, and the `[keystore]` part of `config check`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cr_config::{Cipher, Config};

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
        cr_storage::private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
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
///
/// Seals only files named as a set's files are (`ID.json`, `ID.wav`, `ID-caller.wav`, ...;
/// regular files, not symbolic links), and never replaces an existing seal: a signature
/// over a set is evidence, and re-sealing other content under the same id would forge it.
pub fn seal(cfg: &Config, id: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    if !cr_sign::is_valid_id(id) {
        return Err(cr_sign::SignError::BadId(id.to_owned()).into());
    }
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !cr_sign::belongs_to_set(name, id) {
            anyhow::bail!(
                "{}: not a file of set {id}: a set's files are named {id}.json, {id}.wav, {id}-caller.wav, ... (rename or copy them first)",
                f.display()
            );
        }
        let meta = std::fs::symlink_metadata(f).with_context(|| f.display().to_string())?;
        if !meta.file_type().is_file() {
            anyhow::bail!("{}: not a regular file (symbolic links and special files are not sealed)", f.display());
        }
    }
    if let Some(dir) = files.first().map(|f| f.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))) {
        for existing in [cr_sign::checksum_file_name(id), cr_sign::signature_file_name(id)] {
            let p = dir.join(&existing);
            if std::fs::symlink_metadata(&p).is_ok() {
                anyhow::bail!(
                    "{}: set {id} is sealed already; a seal is never replaced (move the set's files elsewhere to seal them anew)",
                    p.display()
                );
            }
        }
    }
    let identity = open_identity(cfg)?;
    let set = cr_sign::seal(id, files, &identity)?;
    println!("{}", set.checksum_file.display());
    println!("{}", set.signature_file.display());
    Ok(ExitCode::SUCCESS)
}

