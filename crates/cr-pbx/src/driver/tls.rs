//! SIP over TLS for the SRS driver: a rustls (ring) server configuration from PEM files,
//! and the optional check of which SBCs may connect: a client certificate issued by a
//! configured CA, and/or one whose SHA-256 fingerprint is pinned.

use crate::error::DriverError;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::Digest as _;
use std::path::PathBuf;
use std::sync::Arc;

/// TLS settings of `[pbx.siprec]` (`tls_certificate`, `tls_key`, `tls_client_ca`,
/// `tls_client_fingerprints`), paths already resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file: our certificate chain, leaf first.
    pub certificate: PathBuf,
    /// PEM file: our private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM file of CA certificates: when set, a client must present a certificate they issued.
    pub client_ca: Option<PathBuf>,
    /// `sha256:HEX` fingerprints (colons allowed): when set, a client must present one of
    /// these certificates.
    pub client_fingerprints: Vec<String>,
}

fn tls_err(key: &'static str, reason: impl Into<String>) -> DriverError {
    DriverError::Tls {
        key,
        reason: reason.into(),
    }
}

/// Parses `sha256:AB:CD:...` or `sha256:abcd...` into 32 bytes.
pub fn parse_fingerprint(value: &str) -> Result<[u8; 32], DriverError> {
    let bad = || {
        tls_err(
            "tls_client_fingerprints",
            format!(
                "{:?} is not sha256: and 64 hex digits (openssl x509 -noout -fingerprint -sha256)",
                value.chars().take(80).collect::<String>()
            ),
        )
    };
    let (alg, hex_part) = value.split_once(':').ok_or_else(bad)?;
    if !alg.eq_ignore_ascii_case("sha256") {
        return Err(bad());
    }
    let digits: String = hex_part.chars().filter(|c| *c != ':').collect();
    let bytes = hex_decode(&digits).ok_or_else(bad)?;
    bytes.try_into().map_err(|_| bad())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The rustls server configuration of `s`: loads and checks every file (for `config
/// check` and the driver alike).
pub fn server_config(s: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, DriverError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&s.certificate)
        .map_err(|e| {
            tls_err(
                "tls_certificate",
                format!("{}: {e}", s.certificate.display()),
            )
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            tls_err(
                "tls_certificate",
                format!("{}: {e}", s.certificate.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(tls_err(
            "tls_certificate",
            format!(
                "{}: no PEM certificate in the file",
                s.certificate.display()
            ),
        ));
    }
    // The key's parse error never quotes the file's content.
    let key = PrivateKeyDer::from_pem_file(&s.key).map_err(|e| {
        tls_err(
            "tls_key",
            format!(
                "{}: no usable PEM private key ({})",
                s.key.display(),
                pem_error_kind(&e)
            ),
        )
    })?;
    let pins = s
        .client_fingerprints
        .iter()
        .map(|f| parse_fingerprint(f))
        .collect::<Result<Vec<_>, _>>()?;
    let ca_verifier = match &s.client_ca {
        None => None,
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(path)
                .map_err(|e| tls_err("tls_client_ca", format!("{}: {e}", path.display())))?;
            for c in cas {
                let c =
                    c.map_err(|e| tls_err("tls_client_ca", format!("{}: {e}", path.display())))?;
                roots
                    .add(c)
                    .map_err(|e| tls_err("tls_client_ca", format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(tls_err(
                    "tls_client_ca",
                    format!("{}: no PEM certificate in the file", path.display()),
                ));
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| tls_err("tls_client_ca", format!("{}: {e}", path.display())))?;
            Some(v)
        }
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| tls_err("tls_certificate", e.to_string()))?;
    let builder = if pins.is_empty() {
        match ca_verifier {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        }
    } else {
        builder.with_client_cert_verifier(Arc::new(PinnedClients {
            pins,
            chain: ca_verifier,
            provider,
        }))
    };
    let cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_err("tls_key", format!("does not fit the certificate: {e}")))?;
    Ok(Arc::new(cfg))
}

fn pem_error_kind(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::NoItemsFound => "no PEM item found",
        E::Io(e) if e.kind() == std::io::ErrorKind::NotFound => "no such file",
        E::Io(_) => "cannot read the file",
        _ => "malformed PEM",
    }
}

/// Accepts only client certificates whose SHA-256 fingerprint is pinned (after the CA
/// check, when a CA is configured too). The handshake signature proves the client holds
/// the pinned certificate's key.
#[derive(Debug)]
struct PinnedClients {
    pins: Vec<[u8; 32]>,
    chain: Option<Arc<dyn ClientCertVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.chain {
            Some(c) => c.root_hint_subjects(),
            None => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(c) = &self.chain {
            c.verify_client_cert(end_entity, intermediates, now)?;
        }
        let fp: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
        if self.pins.contains(&fp) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_and_without_colons() {
        let hex = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(
            parse_fingerprint(&format!("sha256:{hex}")).ok(),
            Some([0xab; 32])
        );
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{colons}")).ok(),
            Some([0xab; 32])
        );
        for bad in [
            "",
            "sha256:",
            "md5:ab",
            &format!("sha256:{}", "ab".repeat(31)),
            "sha256:zz",
        ] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_files_are_named_by_key() {
        let s = TlsSettings {
            certificate: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            ..Default::default()
        };
        let e = server_config(&s).expect_err("no files");
        assert!(
            matches!(
                e,
                DriverError::Tls {
                    key: "tls_certificate",
                    ..
                }
            ),
            "{e}"
        );
    }
}
