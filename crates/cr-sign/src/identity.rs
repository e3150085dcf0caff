//! The installation's key pair, its self-signed certificate and the PKCS#12 keystore.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Datelike, Months, Timelike, Utc};
use der::asn1::Any;
use der::{Decode, DecodePem, Encode, Tag};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::{PrivateKey, PublicKey};
use sha2::{Digest, Sha256};
use signature::{Keypair, SignatureEncoding, Signer, Verifier};
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::error::SignError;

/// The product name in the certificate subject: "Call Recording <module id>" (S19).
pub const PRODUCT_NAME: &str = "Call Recording";
/// Key size (S15).
pub const KEY_BITS: usize = 2048;
/// Validity of the certificate in years (S19).
pub const VALIDITY_YEARS: u32 = 100;
const ALIAS: &str = "callrec";

/// How the keystore is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cipher {
    /// pbeWithSHAAnd3-KeyTripleDES-CBC for the key and the certificate, HMAC-SHA1 MAC: the
    /// reference's choice, opened by OpenSSL and Java keytool (the default).
    #[default]
    TripleDes,
    /// PBES2 with AES-256-CBC and HMAC-SHA256 (stronger; OpenSSL 3, Java 11+).
    Aes256,
}

/// The verification certificate: what an auditor needs, nothing secret.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    public: PublicKey,
    subject_cn: String,
}

impl Certificate {
    /// Reads a certificate from DER bytes.
    pub fn from_der(der: &[u8]) -> Result<Self, SignError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| SignError::BadCertificate(e.to_string()))?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        let spki_der = spki.to_der().map_err(|e| SignError::BadCertificate(e.to_string()))?;
        let public = <PublicKey as spki::DecodePublicKey>::from_public_key_der(&spki_der)
            .map_err(|e| SignError::BadCertificate(format!("not an RSA public key: {e}")))?;
        let subject_cn = cert
            .tbs_certificate()
            .subject()
            .common_name()
            .ok()
            .flatten()
            .map(|cn| cn.value().into_owned())
            .unwrap_or_default();
        Ok(Self { der: der.to_vec(), public, subject_cn })
    }

    /// Reads a certificate from PEM text (the first `CERTIFICATE` block) or, failing that,
    /// from DER bytes.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, SignError> {
        if let Ok(text) = std::str::from_utf8(bytes)
            && text.contains("-----BEGIN")
        {
            let cert = x509_cert::Certificate::from_pem(text.trim_start())
                .map_err(|e| SignError::BadCertificate(format!("PEM: {e}")))?;
            let der = cert.to_der().map_err(|e| SignError::BadCertificate(e.to_string()))?;
            return Self::from_der(&der);
        }
        Self::from_der(bytes)
    }

    /// Reads a certificate file (PEM or DER).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SignError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| SignError::io(path, e))?;
        Self::from_pem_or_der(&bytes).map_err(|e| match e {
            SignError::BadCertificate(why) => SignError::BadCertificateFile { path: path.to_owned(), why },
            other => other,
        })
    }

    /// DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM encoding, as `openssl x509` prints it.
    pub fn pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// SHA-256 fingerprint of the DER, `AB:CD:...` as `openssl x509 -fingerprint -sha256`
    /// prints it.
    pub fn fingerprint_sha256(&self) -> String {
        let digest = Sha256::digest(&self.der);
        let hex = hex::encode_upper(digest);
        hex.as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The subject's common name, e.g. "Call Recording pbx-berlin-01".
    pub fn subject_cn(&self) -> &str {
        &self.subject_cn
    }

    /// Checks a PKCS#1 v1.5 SHA-256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::try_from(signature) else {
            return false;
        };
        VerifyingKey::<Sha256>::new(self.public.clone()).verify(message, &sig).is_ok()
    }
}

/// The installation's signing identity: private key and certificate.
///
/// The private key never leaves this type except encrypted into a keystore; `Debug` does
/// not show it.
pub struct Identity {
    key: SigningKey<Sha256>,
    cert: Certificate,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("subject", &self.cert.subject_cn).finish_non_exhaustive()
    }
}

impl Identity {
    /// Creates a new RSA-2048 key pair and its self-signed certificate for `module_id`,
    /// valid from `now` for 100 years (S15, S19).
    pub fn generate(module_id: &str, now: DateTime<Utc>) -> Result<Self, SignError> {
        let mut rng = getrandom::SysRng;
        let private = PrivateKey::new(&mut rng, KEY_BITS).map_err(|e| SignError::Crypto(e.to_string()))?;
        let key = SigningKey::<Sha256>::new(private);
        let cert_der = self_signed_certificate(&key, module_id, now)?;
        let cert = Certificate::from_der(&cert_der)?;
        Ok(Self { key, cert })
    }

    /// The verification certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// PKCS#1 v1.5 SHA-256 signature of `message` (SHA256withRSA), raw bytes.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: Signature = self.key.sign(message);
        sig.to_vec()
    }

    /// Writes the keystore to `path`, encrypted with `password` (S16). Refuses to overwrite
    /// an existing file; the file is created with mode 0600 and appears complete or not at
    /// all.
    pub fn save_keystore(&self, path: &Path, password: &str, cipher: Cipher) -> Result<(), SignError> {
        if path.exists() {
            return Err(SignError::KeystoreExists(path.to_owned()));
        }
        let bytes = self.to_pkcs12(password, cipher)?;
        let tmp = tmp_name(path);
        let write = || -> std::io::Result<()> {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            // A hard link fails if `path` appeared meanwhile: never overwrite.
            std::fs::hard_link(&tmp, path)
        };
        let result = write();
        let _ = std::fs::remove_file(&tmp);
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.exists() => {
                Err(SignError::KeystoreExists(path.to_owned()))
            }
            Err(e) => Err(SignError::io(path, e)),
            Ok(()) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                }
                Ok(())
            }
        }
    }

    /// The PKCS#12 bytes of key and certificate.
    pub fn to_pkcs12(&self, password: &str, cipher: Cipher) -> Result<Vec<u8>, SignError> {
        use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain};
        let key_der = pkcs8::EncodePrivateKey::to_pkcs8_der(&self.key)
            .map_err(|e| SignError::Crypto(e.to_string()))?;
        let key = p12_keystore::PrivateKey::from_der(key_der.as_bytes()).map_err(|e| SignError::Crypto(e.to_string()))?;
        let cert = p12_keystore::Certificate::from_der(self.cert.der()).map_err(|e| SignError::Crypto(e.to_string()))?;
        let local_key_id = Sha256::digest(self.cert.der())[..20].to_vec();
        let mut store = KeyStore::new();
        store.add_entry(ALIAS, KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, [cert])));
        let (enc, mac) = match cipher {
            Cipher::TripleDes => (EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc, MacAlgorithm::HmacSha1),
            Cipher::Aes256 => (EncryptionAlgorithm::PbeWithHmacSha256AndAes256, MacAlgorithm::HmacSha256),
        };
        store
            .writer(password)
            .encryption_algorithm(enc)
            .mac_algorithm(mac)
            .encryption_iterations(10_000)
            .mac_iterations(10_000)
            .write()
            .map_err(|e| SignError::Crypto(e.to_string()))
    }

    /// Opens a keystore written by [`Identity::save_keystore`] (or by OpenSSL / keytool
    /// holding one RSA key and its certificate).
    pub fn open_keystore(path: &Path, password: &str) -> Result<Self, SignError> {
        let bytes = std::fs::read(path).map_err(|e| SignError::io(path, e))?;
        Self::from_pkcs12(&bytes, password).map_err(|e| e.with_keystore_path(path))
    }

    /// Reads key and certificate from PKCS#12 bytes.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Self, SignError> {
        use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
        let store = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict).map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => SignError::WrongPassword(PathBuf::new()),
            other => SignError::BadKeystore { path: PathBuf::new(), why: other.to_string() },
        })?;
        let bad = |why: &str| SignError::BadKeystore { path: PathBuf::new(), why: why.to_owned() };
        let (_, chain) = store.private_key_chain().ok_or_else(|| bad("holds no private key with a certificate"))?;
        let cert_der = chain.certs().first().ok_or_else(|| bad("the key has no certificate"))?.as_der().to_vec();
        let private = <PrivateKey as pkcs8::DecodePrivateKey>::from_pkcs8_der(chain.key().as_der())
            .map_err(|e| bad(&format!("the private key is not RSA: {e}")))?;
        let cert = Certificate::from_der(&cert_der)?;
        let key = SigningKey::<Sha256>::new(private);
        // The certificate must belong to the key, or every signature would fail to verify.
        let probe = b"callrec keystore self-test";
        let identity = Self { key, cert };
        if !identity.cert.verify(probe, &identity.sign(probe)) {
            return Err(bad("the certificate does not belong to the private key"));
        }
        Ok(identity)
    }
}

/// The message for a password that Java tools will refuse, if it is one.
pub fn password_warning(password: &str) -> Option<&'static str> {
    if password.is_ascii() {
        None
    } else {
        Some("the keystore password contains non-ASCII characters: Java keytool cannot open such a keystore")
    }
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Our own certificate profile: subject = issuer = CN only, an end-entity signing
/// certificate (the CABF root profile refuses a CN-only subject).
struct SelfSigned {
    subject: Name,
}

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts: Vec<Extension> = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        exts.push(ski.to_extension(tbs.subject(), &exts)?);
        exts.push(
            AuthorityKeyIdentifier { key_identifier: Some(ski.0.clone()), ..Default::default() }
                .to_extension(tbs.subject(), &exts)?,
        );
        exts.push(BasicConstraints { ca: false, path_len_constraint: None }.to_extension(tbs.subject(), &exts)?);
        exts.push(
            KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation).to_extension(tbs.subject(), &exts)?,
        );
        Ok(exts)
    }
}

fn common_name(value: &str) -> Result<Name, SignError> {
    let crypto = |e: der::Error| SignError::Crypto(e.to_string());
    let value = Any::new(Tag::Utf8String, value.as_bytes()).map_err(crypto)?;
    let atv = x509_cert::attr::AttributeTypeAndValue { oid: const_oid::db::rfc4519::COMMON_NAME, value };
    let mut rdn = RelativeDistinguishedName::default();
    rdn.insert(atv).map_err(crypto)?;
    let mut seq = RdnSequence::default();
    seq.push(rdn);
    // Through DER, so that the value stays a UTF8String whatever characters it holds.
    Name::from_der(&seq.to_der().map_err(crypto)?).map_err(crypto)
}

fn der_time(t: DateTime<Utc>) -> Result<Time, SignError> {
    let dt = der::DateTime::new(
        u16::try_from(t.year()).map_err(|_| SignError::Crypto(format!("year {} out of range", t.year())))?,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .map_err(|e| SignError::Crypto(e.to_string()))?;
    Ok(Time::from(dt))
}

fn self_signed_certificate(key: &SigningKey<Sha256>, module_id: &str, now: DateTime<Utc>) -> Result<Vec<u8>, SignError> {
    let crypto = |e: &dyn std::fmt::Display| SignError::Crypto(e.to_string());
    let subject = common_name(&format!("{PRODUCT_NAME} {module_id}"))?;
    let not_after = now
        .checked_add_months(Months::new(12 * VALIDITY_YEARS))
        .ok_or_else(|| SignError::Crypto("validity end out of range".into()))?;
    let validity = Validity::new(der_time(now)?, der_time(not_after)?);
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| crypto(&e))?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let serial = SerialNumber::new(&serial).map_err(|e| crypto(&e))?;
    let public_der = key.verifying_key().to_public_key_der().map_err(|e| crypto(&e))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(public_der.as_bytes()).map_err(|e| crypto(&e))?;
    let builder = CertificateBuilder::new(SelfSigned { subject }, serial, validity, spki).map_err(|e| crypto(&e))?;
    let cert = builder.build::<_, Signature>(key).map_err(|e| crypto(&e))?;
    cert.to_der().map_err(|e| crypto(&e))
}
