//! RFC 3161 trusted time-stamps, without I/O: [`TimestampRequest`] builds the DER
//! `TimeStampReq` for a checksum file (SHA-256 imprint, random nonce, `certReq` true) and
//! checks the TSA's `TimeStampResp` against it; [`verify_timestamp`] checks a stored reply
//! (`<id>.sha256.tsr`) against the checksum file and the trusted TSA certificates.
//!
//! What is checked, for the fetcher and `cr-verify` alike: the status is granted; the token
//! is CMS `SignedData` over a `TSTInfo`; its imprint is SHA-256 of the checksum file (and,
//! when the request is known, its nonce is the request's); exactly one signer, whose
//! certificate is in the token, is allowed to time-stamp (extended key usage
//! `timeStamping`), was valid at the token's time, and is a trusted certificate or is
//! signed by one; the signed attributes name `TSTInfo` as content type, their
//! `messageDigest` is SHA-256 of the `TSTInfo`, and the RSA PKCS#1 v1.5 SHA-256 signature
//! over them is valid. Not checked: revocation of the TSA certificate, the ESS
//! `signingCertificate` attribute, chains longer than one issuer.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, OctetString, Uint};
use der::{Decode, Encode, Sequence, Tagged};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};

use crate::identity::Certificate;

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// Largest reply accepted (a token with its certificate is a few KiB).
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Why a time-stamp reply or token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not DER of the expected structure (truncated, garbage, too large).
    #[error("the reply is not a well-formed time-stamp response: {0}")]
    Malformed(String),
    /// The TSA refused to time-stamp.
    #[error("the TSA refused: status {status}{text}")]
    Refused {
        /// PKIStatus (2 rejection, 3 waiting, 4/5 revocation).
        status: u32,
        /// The TSA's status text, with a leading ": ", or empty.
        text: String,
    },
    /// The token's imprint is not SHA-256 of this checksum file.
    #[error("the token time-stamps other data (its imprint is not SHA-256 of the checksum file)")]
    WrongImprint,
    /// The token's nonce is not the request's.
    #[error("the token's nonce is not the one asked for (a replayed or foreign reply)")]
    WrongNonce,
    /// The signer is not trusted or not allowed to time-stamp.
    #[error("the token's signer is not trusted: {0}")]
    Untrusted(String),
    /// The CMS signature or the signed attributes do not match.
    #[error("the token's signature is invalid: {0}")]
    BadSignature(String),
}

fn malformed(e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(e.to_string())
}

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    nonce: Uint,
    cert_req: bool,
}

#[derive(Sequence)]
struct PkiStatusInfo {
    status: u32,
    status_string: Option<Vec<String>>,
    fail_info: Option<BitString>,
}

#[derive(Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    time_stamp_token: Option<ContentInfo>,
}

#[derive(Sequence)]
struct Accuracy {
    seconds: Option<Uint>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<Uint>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<Uint>,
}

#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Uint,
    gen_time: Any,
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    nonce: Option<Uint>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<Any>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    extensions: Option<x509_cert::ext::Extensions>,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimestampInfo {
    /// The TSA's time (`genTime`), as written: `YYYYMMDDhhmmss[.f]Z`.
    pub gen_time: String,
    /// The token's serial number, hex.
    pub serial: String,
    /// The TSA policy OID.
    pub policy: String,
    /// Common name of the signing TSA certificate.
    pub tsa: String,
}

/// The TSA certificates trusted to time-stamp (`[timestamping] tsa_cert`): a token's signer
/// must be one of them or be signed by one.
#[derive(Debug, Clone)]
pub struct TsaTrust {
    anchors: Vec<(x509_cert::Certificate, Certificate)>,
}

impl TsaTrust {
    /// The certificates of a PEM file (one or more `CERTIFICATE` blocks) or one DER
    /// certificate. Only RSA keys are supported.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, String> {
        let certs = if bytes.starts_with(b"-----") || std::str::from_utf8(bytes).is_ok_and(|t| t.contains("-----BEGIN")) {
            x509_cert::Certificate::load_pem_chain(bytes).map_err(|e| format!("PEM: {e}"))?
        } else {
            vec![x509_cert::Certificate::from_der(bytes).map_err(|e| format!("DER: {e}"))?]
        };
        if certs.is_empty() {
            return Err("holds no certificate".into());
        }
        let mut anchors = Vec::new();
        for c in certs {
            let der = c.to_der().map_err(|e| e.to_string())?;
            let rsa = Certificate::from_der(&der).map_err(|e| e.to_string())?;
            anchors.push((c, rsa));
        }
        Ok(Self { anchors })
    }

    /// Reads [`from_pem_or_der`](Self::from_pem_or_der) from a file; the error names it.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_pem_or_der(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `signer` (parsed and as RSA key) is trusted: equal to an anchor, or issued
    /// and signed by one.
    fn admits(&self, signer: &x509_cert::Certificate, signer_der: &[u8]) -> Result<(), TimestampError> {
        for (anchor, key) in &self.anchors {
            if anchor.to_der().is_ok_and(|d| d == signer_der) {
                return Ok(());
            }
            if anchor.tbs_certificate().subject() == signer.tbs_certificate().issuer() {
                let alg = signer.signature_algorithm().oid;
                let tbs = signer.tbs_certificate().to_der().map_err(malformed)?;
                let sig = signer.signature().raw_bytes();
                if alg == SHA256_WITH_RSA && key.verify(&tbs, sig) {
                    return Ok(());
                }
            }
        }
        Err(TimestampError::Untrusted(format!(
            "{:?} is neither a configured TSA certificate nor signed by one",
            signer.tbs_certificate().subject().to_string()
        )))
    }
}

/// A time-stamp request for one checksum file.
#[derive(Debug, Clone)]
pub struct TimestampRequest {
    der: Vec<u8>,
    digest: [u8; 32],
    nonce: Vec<u8>,
}

impl TimestampRequest {
    /// The request for `message` (the checksum file's bytes) with `nonce` (random bytes from
    /// the caller: this module reads no randomness).
    pub fn new(message: &[u8], nonce: [u8; 16]) -> Self {
        let digest: [u8; 32] = Sha256::digest(message).into();
        let uint = Uint::new(&nonce).unwrap_or_else(|_| unreachable!("16 bytes are a valid unsigned integer"));
        let nonce_bytes = uint.as_bytes().to_vec();
        let req = TimeStampReq {
            version: 1,
            message_imprint: imprint(&digest),
            nonce: uint,
            cert_req: true,
        };
        let der = req.to_der().unwrap_or_else(|e| unreachable!("a fixed-shape request encodes: {e}"));
        Self { der, digest, nonce: nonce_bytes }
    }

    /// The DER `TimeStampReq` (HTTP body, `application/timestamp-query`).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Checks the TSA's reply (`application/timestamp-reply`) to this request; on success
    /// the reply is what is stored as `<id>.sha256.tsr`.
    pub fn check_reply(&self, reply: &[u8], trust: &TsaTrust) -> Result<TimestampInfo, TimestampError> {
        check(reply, &self.digest, Some(&self.nonce), trust)
    }
}

fn imprint(digest: &[u8; 32]) -> MessageImprint {
    MessageImprint {
        hash_algorithm: AlgorithmIdentifierOwned { oid: SHA256, parameters: None },
        hashed_message: OctetString::new(digest.to_vec()).unwrap_or_else(|_| unreachable!("32 bytes fit")),
    }
}

/// Verifies a stored reply (`<id>.sha256.tsr`) against the checksum file's bytes.
pub fn verify_timestamp(reply: &[u8], message: &[u8], trust: &TsaTrust) -> Result<TimestampInfo, TimestampError> {
    let digest: [u8; 32] = Sha256::digest(message).into();
    check(reply, &digest, None, trust)
}

fn check(reply: &[u8], digest: &[u8; 32], nonce: Option<&[u8]>, trust: &TsaTrust) -> Result<TimestampInfo, TimestampError> {
    if reply.len() > MAX_REPLY_BYTES {
        return Err(malformed(format!("{} bytes, more than the {MAX_REPLY_BYTES} accepted", reply.len())));
    }
    let resp = TimeStampResp::from_der(reply).map_err(malformed)?;
    if resp.status.status > 1 {
        let text = resp.status.status_string.map(|s| format!(": {}", s.join("; "))).unwrap_or_default();
        return Err(TimestampError::Refused { status: resp.status.status, text: text.chars().take(200).collect() });
    }
    let token = resp.time_stamp_token.ok_or_else(|| malformed("granted, but no token"))?;
    if token.content_type != SIGNED_DATA {
        return Err(malformed("the token is not CMS SignedData"));
    }
    let sd: SignedData = token.content.decode_as().map_err(malformed)?;
    if sd.encap_content_info.econtent_type != TST_INFO {
        return Err(malformed("the token's content is not a TSTInfo"));
    }
    let econtent = sd.encap_content_info.econtent.as_ref().ok_or_else(|| malformed("the token has no content"))?;
    let tst_der = econtent.decode_as::<OctetString>().map_err(malformed)?.into_bytes();
    let tst = TstInfo::from_der(&tst_der).map_err(malformed)?;
    if tst.message_imprint.hash_algorithm.oid != SHA256 || tst.message_imprint.hashed_message.as_bytes() != digest {
        return Err(TimestampError::WrongImprint);
    }
    if let Some(want) = nonce
        && tst.nonce.as_ref().map(Uint::as_bytes) != Some(want)
    {
        return Err(TimestampError::WrongNonce);
    }
    let gen_time = generalized_time(&tst.gen_time)?;

    let signers = sd.signer_infos.0.as_slice();
    let [si] = signers else {
        return Err(TimestampError::BadSignature(format!("{} signers, exactly one expected", signers.len())));
    };
    let certs: Vec<x509_cert::Certificate> = sd
        .certificates
        .iter()
        .flat_map(|s| s.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let signer = certs
        .iter()
        .find(|c| identifies(&si.sid, c))
        .ok_or_else(|| TimestampError::Untrusted("the token does not carry its signer's certificate".into()))?;
    let signer_der = signer.to_der().map_err(malformed)?;
    trust.admits(signer, &signer_der)?;
    match signer.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if eku.0.contains(&KP_TIME_STAMPING) => {}
        _ => return Err(TimestampError::Untrusted("its certificate does not allow time-stamping (extendedKeyUsage)".into())),
    }
    let validity = signer.tbs_certificate().validity();
    let (from, to) = (validity.not_before.to_string(), validity.not_after.to_string());
    let at = x509_time(&gen_time);
    if at < x509_time_of(&validity.not_before) || at > x509_time_of(&validity.not_after) {
        return Err(TimestampError::Untrusted(format!("its certificate was not valid at {gen_time} ({from} to {to})")));
    }

    if si.digest_alg.oid != SHA256 {
        return Err(TimestampError::BadSignature("the signer's digest is not SHA-256".into()));
    }
    let attrs = si.signed_attrs.as_ref().ok_or_else(|| TimestampError::BadSignature("no signed attributes".into()))?;
    let attr = |oid| attrs.iter().find(|a| a.oid == oid).and_then(|a| a.values.iter().next());
    let ct = attr(CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    if ct != Some(TST_INFO) {
        return Err(TimestampError::BadSignature("the signed content type is not TSTInfo".into()));
    }
    let md = attr(MESSAGE_DIGEST).and_then(|v| v.decode_as::<OctetString>().ok());
    if md.as_ref().map(OctetString::as_bytes) != Some(Sha256::digest(&tst_der).as_slice()) {
        return Err(TimestampError::BadSignature("messageDigest does not match the TSTInfo".into()));
    }
    let alg = si.signature_algorithm.oid;
    if alg != RSA && alg != SHA256_WITH_RSA {
        return Err(TimestampError::BadSignature(format!("signature algorithm {alg} is not supported (RSA with SHA-256 only)")));
    }
    let signed = attrs.to_der().map_err(malformed)?;
    let key = Certificate::from_der(&signer_der).map_err(|e| TimestampError::Untrusted(e.to_string()))?;
    if !key.verify(&signed, si.signature.as_bytes()) {
        return Err(TimestampError::BadSignature("RSA signature over the signed attributes does not verify".into()));
    }
    Ok(TimestampInfo {
        gen_time,
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        tsa: key.subject_cn().to_owned(),
    })
}

fn identifies(sid: &SignerIdentifier, cert: &x509_cert::Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => &isn.issuer == tbs.issuer() && &isn.serial_number == tbs.serial_number(),
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(tbs.get_extension::<SubjectKeyIdentifier>(), Ok(Some((_, s))) if &s == ski)
        }
    }
}

/// `genTime` (GeneralizedTime, fractions allowed as RFC 3161 permits), checked for shape.
fn generalized_time(any: &Any) -> Result<String, TimestampError> {
    if any.tag() != der::Tag::GeneralizedTime {
        return Err(malformed("genTime is not a GeneralizedTime"));
    }
    let s = std::str::from_utf8(any.value()).map_err(malformed)?;
    let ok = s.len() >= 15
        && s.ends_with('Z')
        && s[..14].bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 15 || (s.as_bytes()[14] == b'.' && s[15..s.len() - 1].bytes().all(|b| b.is_ascii_digit())));
    if !ok {
        return Err(malformed("genTime is not YYYYMMDDhhmmss[.f]Z"));
    }
    Ok(s.to_owned())
}

/// A sortable `YYYYMMDDhhmmss` form of a generalized time.
fn x509_time(gen_time: &str) -> String {
    gen_time[..14].to_owned()
}

fn x509_time_of(t: &x509_cert::time::Time) -> String {
    let d = t.to_date_time();
    format!("{:04}{:02}{:02}{:02}{:02}{:02}", d.year(), d.month(), d.day(), d.hour(), d.minutes(), d.seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> TsaTrust {
        let id = crate::Identity::generate("t", chrono::Utc::now()).unwrap_or_else(|e| panic!("{e}"));
        TsaTrust::from_pem_or_der(id.certificate().der()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn request_is_der_with_imprint_and_nonce() {
        let r = TimestampRequest::new(b"abc", [0x80; 16]);
        let back = TimeStampReq::from_der(r.der()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.message_imprint.hashed_message.as_bytes(), Sha256::digest(b"abc").as_slice());
        assert!(back.cert_req);
        assert_eq!(back.nonce.as_bytes(), &[0x80; 16]);
    }

    // Guards against: a truncated or garbage reply panicking or being accepted.
    #[test]
    fn garbage_and_truncated_replies_are_malformed() {
        let t = trust();
        let r = TimestampRequest::new(b"abc", [1; 16]);
        for bad in [&b""[..], b"\x30\x03\x02\x01", b"<html>500</html>", &[0x30; 40]] {
            assert!(matches!(r.check_reply(bad, &t), Err(TimestampError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_rejection_is_refused_with_its_status() {
        // TimeStampResp { status { 2, ["bad"] } }
        let reply = [0x30, 0x0c, 0x30, 0x0a, 0x02, 0x01, 0x02, 0x30, 0x05, 0x0c, 0x03, b'b', b'a', b'd'];
        let r = TimestampRequest::new(b"abc", [1; 16]);
        assert_eq!(r.check_reply(&reply, &trust()), Err(TimestampError::Refused { status: 2, text: ": bad".into() }));
    }
}
