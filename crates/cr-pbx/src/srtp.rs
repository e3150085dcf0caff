//! SRTP (RFC 3711) keyed by SDES (RFC 4568) for the recording server: which offers we take
//! (`srtp` under `[pbx.siprec]`), the `a=crypto:` attribute, and the per-stream decryption
//! in front of the leg writers.
//!
//! The cryptography is `rtc-srtp` (webrtc-rs, sans-I/O, on `ring`): AES-CM with HMAC-SHA1
//! (80- and 32-bit tags) and AEAD AES-GCM (RFC 7714), with a replay window per SSRC. The
//! recorder only receives: the key in our answer is fresh from the OS CSPRNG and never
//! used, but it makes the answer valid. Master keys are zeroized when dropped and never
//! printed (their `Debug` shows the suite only).

use crate::error::DriverError;
use base64::Engine as _;
use zeroize::Zeroizing;

/// What the recorder does with SRTP offers (`[pbx.siprec] srtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SrtpPolicy {
    /// `"off"`: only plain RTP (`RTP/AVP`) is recorded; an offer whose audio streams are all
    /// SRTP gets `488 Not Acceptable Here`, never a 200 OK.
    Off,
    /// `"allow"` (the default): plain RTP and SRTP (SDES).
    #[default]
    Allow,
    /// `"require"`: only SRTP; a plain RTP offer gets 488.
    Require,
}

impl SrtpPolicy {
    /// Parses `"off"`, `"allow"` or `"require"`.
    pub fn parse(value: &str) -> Result<SrtpPolicy, DriverError> {
        match value {
            "off" => Ok(SrtpPolicy::Off),
            "allow" => Ok(SrtpPolicy::Allow),
            "require" => Ok(SrtpPolicy::Require),
            _ => Err(DriverError::SrtpPolicy {
                value: value.chars().take(40).collect(),
            }),
        }
    }

    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Allow => "allow",
            SrtpPolicy::Require => "require",
        }
    }

    /// True if a stream of this kind (SRTP or plain) may be recorded. An SRTP stream also
    /// needs a crypto attribute we can use.
    pub(crate) fn accepts(self, srtp: bool) -> bool {
        match self {
            SrtpPolicy::Off => !srtp,
            SrtpPolicy::Allow => true,
            SrtpPolicy::Require => srtp,
        }
    }
}

/// The SRTP crypto suites we decrypt (RFC 4568 §6.2, RFC 7714 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpSuite {
    /// `AES_CM_128_HMAC_SHA1_80`
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`
    AesCm128HmacSha1_32,
    /// `AEAD_AES_128_GCM`
    AeadAes128Gcm,
    /// `AEAD_AES_256_GCM`
    AeadAes256Gcm,
}

impl SrtpSuite {
    /// Every suite we support.
    pub const ALL: [SrtpSuite; 4] = [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::AeadAes256Gcm,
    ];

    /// The SDES name.
    pub fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            SrtpSuite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    fn from_name(name: &str) -> Option<SrtpSuite> {
        SrtpSuite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Master key and master salt lengths in bytes.
    fn key_salt_len(self) -> (usize, usize) {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 | SrtpSuite::AesCm128HmacSha1_32 => (16, 14),
            SrtpSuite::AeadAes128Gcm => (16, 12),
            SrtpSuite::AeadAes256Gcm => (32, 12),
        }
    }

    fn profile(self) -> rtc_srtp::protection_profile::ProtectionProfile {
        use rtc_srtp::protection_profile::ProtectionProfile as P;
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => P::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => P::Aes128CmHmacSha1_32,
            SrtpSuite::AeadAes128Gcm => P::AeadAes128Gcm,
            SrtpSuite::AeadAes256Gcm => P::AeadAes256Gcm,
        }
    }
}

/// A master key and salt (`key||salt`). Zeroized on drop; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpKey({} bytes, redacted)", self.0.len())
    }
}

impl SrtpKey {
    /// A fresh key for `suite` from the operating system's CSPRNG.
    pub(crate) fn random(suite: SrtpSuite) -> Option<SrtpKey> {
        let (k, s) = suite.key_salt_len();
        let mut v = Zeroizing::new(vec![0u8; k + s]);
        getrandom::fill(&mut v).ok()?;
        Some(SrtpKey(v))
    }

    fn base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*self.0))
    }
}

/// Why an `a=crypto:` attribute cannot be used. Never carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoRefused {
    /// Not `TAG SUITE KEY-PARAMS [SESSION-PARAMS]`, or the tag is not 1-9 digits.
    #[error("malformed crypto attribute")]
    Malformed,
    /// A suite we do not decrypt.
    #[error("unsupported crypto suite")]
    UnknownSuite,
    /// Several keys or an MKI (we support one master key per stream).
    #[error("MKI or several master keys are not supported")]
    Mki,
    /// Session parameters (KDR, UNENCRYPTED_SRTP, ...) we do not implement.
    #[error("session parameters are not supported")]
    SessionParams,
    /// Not `inline:` base64 of the suite's key and salt length.
    #[error("key is not inline base64 of the suite's key and salt length")]
    BadKey,
}

/// One usable `a=crypto:` attribute of an offer (RFC 4568 §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesCrypto {
    /// The tag (our answer repeats it).
    pub tag: u32,
    /// The suite.
    pub suite: SrtpSuite,
    pub(crate) key: SrtpKey,
}

impl SdesCrypto {
    /// Parses the value after `a=crypto:`: `TAG SUITE inline:KEY||SALT[|LIFETIME]` — an
    /// MKI, several keys, or session parameters are refused.
    pub fn parse(value: &str) -> Result<SdesCrypto, CryptoRefused> {
        let mut it = value.split_whitespace();
        let (Some(tag), Some(suite), Some(params)) = (it.next(), it.next(), it.next()) else {
            return Err(CryptoRefused::Malformed);
        };
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CryptoRefused::Malformed);
        }
        let tag: u32 = tag.parse().map_err(|_| CryptoRefused::Malformed)?;
        let suite = SrtpSuite::from_name(suite).ok_or(CryptoRefused::UnknownSuite)?;
        if it.next().is_some() {
            return Err(CryptoRefused::SessionParams);
        }
        if params.contains(';') {
            return Err(CryptoRefused::Mki);
        }
        let inline = params
            .strip_prefix("inline:")
            .ok_or(CryptoRefused::BadKey)?;
        let mut parts = inline.split('|');
        let b64 = parts.next().unwrap_or("");
        let mut rest: Vec<&str> = parts.collect();
        // `|LIFETIME` is optional (e.g. 2^31); `|MKI:LEN` is refused.
        if rest.iter().any(|p| p.contains(':')) {
            return Err(CryptoRefused::Mki);
        }
        if rest.len() > 1 {
            return Err(CryptoRefused::Malformed);
        }
        if let Some(l) = rest.pop()
            && !valid_lifetime(l)
        {
            return Err(CryptoRefused::Malformed);
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Zeroizing::new)
            .map_err(|_| CryptoRefused::BadKey)?;
        let (k, s) = suite.key_salt_len();
        if key.len() != k + s {
            return Err(CryptoRefused::BadKey);
        }
        Ok(SdesCrypto {
            tag,
            suite,
            key: SrtpKey(key),
        })
    }
}

/// `2^31` or a decimal number of packets.
fn valid_lifetime(l: &str) -> bool {
    match l.strip_prefix("2^") {
        Some(e) => e.parse::<u8>().is_ok_and(|e| e <= 48),
        None => !l.is_empty() && l.len() <= 15 && l.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// The SRTP of one accepted stream: the offer's crypto attribute (to decrypt) and our own
/// key (for the answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSrtp {
    /// The chosen attribute of the offer (tag, suite, the SRC's key).
    pub offer: SdesCrypto,
    pub(crate) answer_key: SrtpKey,
}

impl StreamSrtp {
    /// Our `a=crypto:` attribute value for the answer: same tag and suite, our key.
    pub(crate) fn answer_attribute(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{} {} inline:{}",
            self.offer.tag,
            self.offer.suite.name(),
            self.answer_key.base64().as_str()
        ))
    }
}

/// Why a received packet was dropped by [`SrtpReceiver::unprotect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SrtpReject {
    /// Failed authentication (wrong key, tampered, truncated, not SRTP at all).
    Auth,
    /// Seen before, or older than the replay window.
    Replay,
}

/// Replay window in packets (libsrtp's default; RFC 3711 asks for at least 64).
const REPLAY_WINDOW: usize = 128;

/// Decrypts the SRTP of one stream (sans-I/O: feed it each datagram of the stream). The
/// driver keeps one per SRTP stream; public for integrators with their own sockets and for
/// fuzzing.
pub struct SrtpReceiver {
    /// None: keys that could not be used; every packet fails authentication.
    ctx: Option<rtc_srtp::context::Context>,
    /// After a re-key: the old keys, for packets still in flight, until the new keys
    /// authenticate a packet.
    previous: Option<rtc_srtp::context::Context>,
}

impl std::fmt::Debug for SrtpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpReceiver { .. }")
    }
}

impl SrtpReceiver {
    /// A receiver for the SRC's key of `offer`; None if the crypto provider refuses it.
    pub fn new(offer: &SdesCrypto) -> Option<SrtpReceiver> {
        let provider = rtc_srtp::crypto::default_provider().ok()?;
        let (k, _) = offer.suite.key_salt_len();
        let (key, salt) = offer.key.0.split_at(k);
        let ctx = rtc_srtp::context::Context::new(
            key,
            salt,
            offer.suite.profile(),
            Some(rtc_srtp::option::srtp_replay_protection(REPLAY_WINDOW)),
            None,
            provider.crypto(),
        )
        .ok()?;
        Some(SrtpReceiver {
            ctx: Some(ctx),
            previous: None,
        })
    }

    /// A receiver that drops every packet (as failing authentication).
    pub(crate) fn refuse_all() -> SrtpReceiver {
        SrtpReceiver {
            ctx: None,
            previous: None,
        }
    }

    /// This receiver with `old`'s keys kept for packets still in flight (a re-key).
    pub(crate) fn replacing(mut self, old: Option<SrtpReceiver>) -> SrtpReceiver {
        self.previous = old.and_then(|o| o.ctx);
        self
    }

    /// The plain RTP packet of `packet`, or why it is dropped.
    pub fn unprotect(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpReject> {
        let Some(ctx) = &mut self.ctx else {
            return Err(SrtpReject::Auth);
        };
        match decrypt(ctx, packet) {
            Ok(p) => {
                self.previous = None;
                Ok(p)
            }
            Err(SrtpReject::Auth) => match &mut self.previous {
                Some(old) => decrypt(old, packet),
                None => Err(SrtpReject::Auth),
            },
            Err(e) => Err(e),
        }
    }
}

fn decrypt(ctx: &mut rtc_srtp::context::Context, packet: &[u8]) -> Result<Vec<u8>, SrtpReject> {
    match ctx.decrypt_rtp(packet) {
        Ok(p) => Ok(p.to_vec()),
        Err(rtc_shared::error::Error::SrtpSsrcDuplicated(..)) => Err(SrtpReject::Replay),
        Err(_) => Err(SrtpReject::Auth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY30: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn policy_values() {
        assert_eq!(SrtpPolicy::parse("off").ok(), Some(SrtpPolicy::Off));
        assert_eq!(SrtpPolicy::parse("allow").ok(), Some(SrtpPolicy::Allow));
        assert_eq!(SrtpPolicy::parse("require").ok(), Some(SrtpPolicy::Require));
        for bad in ["", "on", "OFF", "yes"] {
            assert!(SrtpPolicy::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!SrtpPolicy::Off.accepts(true));
        assert!(SrtpPolicy::Off.accepts(false));
        assert!(!SrtpPolicy::Require.accepts(false));
        assert!(SrtpPolicy::Allow.accepts(true) && SrtpPolicy::Allow.accepts(false));
    }

    #[test]
    fn crypto_attribute_of_rfc4568_parses() {
        let c = SdesCrypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20"))
            .expect("usable");
        assert_eq!((c.tag, c.suite), (1, SrtpSuite::AesCm128HmacSha1_80));
        assert_eq!(c.key.0.len(), 30);
        let c = SdesCrypto::parse(&format!("12 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}"))
            .expect("usable");
        assert_eq!((c.tag, c.suite), (12, SrtpSuite::AesCm128HmacSha1_32));
    }

    #[test]
    fn unusable_crypto_attributes_are_refused_with_the_reason() {
        use CryptoRefused::*;
        let k = KEY30;
        for (v, why) in [
            ("", Malformed),
            ("1", Malformed),
            ("x AES_CM_128_HMAC_SHA1_80 inline:AAAA", Malformed),
            ("1234567890 AES_CM_128_HMAC_SHA1_80 inline:AAAA", Malformed),
            ("1 F8_128_HMAC_SHA1_80 inline:AAAA", UnknownSuite),
            (
                &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k}|2^20|1:4"),
                Mki,
            ),
            (&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k}|1:4"), Mki),
            (
                &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k};inline:{k}"),
                Mki,
            ),
            (
                &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k} KDR=1"),
                SessionParams,
            ),
            (
                &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k} UNENCRYPTED_SRTP"),
                SessionParams,
            ),
            (
                &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{k}|2^99"),
                Malformed,
            ),
            (&format!("1 AES_CM_128_HMAC_SHA1_80 {k}"), BadKey),
            ("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64", BadKey),
            (&format!("1 AEAD_AES_256_GCM inline:{k}"), BadKey),
        ] {
            let e = SdesCrypto::parse(v).expect_err(v);
            assert_eq!(e, why, "{v}");
            assert!(!e.to_string().contains(k), "no key in the message");
        }
    }

    #[test]
    fn keys_are_not_printed() {
        let c = SdesCrypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}"))
            .expect("usable");
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains("redacted") && !dbg.contains(KEY30) && !dbg.contains('['),
            "{dbg}"
        );
    }

    #[test]
    fn random_answer_keys_have_the_suites_length_and_differ() {
        for suite in SrtpSuite::ALL {
            let (k, s) = suite.key_salt_len();
            let a = SrtpKey::random(suite).expect("CSPRNG");
            let b = SrtpKey::random(suite).expect("CSPRNG");
            assert_eq!(a.0.len(), k + s);
            assert_ne!(a, b);
        }
    }

    fn stream(suite: SrtpSuite) -> StreamSrtp {
        let key = SrtpKey::random(suite).expect("CSPRNG");
        StreamSrtp {
            offer: SdesCrypto {
                tag: 1,
                suite,
                key: key.clone(),
            },
            answer_key: key,
        }
    }

    fn protect(s: &StreamSrtp, seqs: std::ops::Range<u16>) -> Vec<Vec<u8>> {
        let (k, _) = s.offer.suite.key_salt_len();
        let provider = rtc_srtp::crypto::default_provider().expect("ring");
        let key = &s.offer.key.0;
        let mut tx = rtc_srtp::context::Context::new(
            &key[..k],
            &key[k..],
            s.offer.suite.profile(),
            None,
            None,
            provider.crypto(),
        )
        .expect("context");
        seqs.map(|i| {
            let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
            p[2..4].copy_from_slice(&i.to_be_bytes());
            p.extend_from_slice(&[0x55; 160]);
            tx.encrypt_rtp(&p).expect("protect").to_vec()
        })
        .collect()
    }

    proptest::proptest! {
        // Guards against a crafted a=crypto line panicking the SIP task.
        #[test]
        fn random_crypto_attributes_never_panic(v in "[0-9A-Za-z_:|;^+/= ]{0,80}") {
            let _ = SdesCrypto::parse(&v);
        }

        // Guards against a crafted packet panicking the RTP receiver.
        #[test]
        fn random_packets_never_panic(p in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut rx = SrtpReceiver::new(&stream(SrtpSuite::AeadAes128Gcm).offer).expect("receiver");
            proptest::prop_assert!(rx.unprotect(&p).is_err());
        }
    }

    // Guards against old keys staying valid for good after a re-key.
    #[test]
    fn old_keys_are_accepted_only_until_the_new_ones_authenticate() {
        let (a, b) = (
            stream(SrtpSuite::AesCm128HmacSha1_80),
            stream(SrtpSuite::AesCm128HmacSha1_80),
        );
        let (pa, pb) = (protect(&a, 0..4), protect(&b, 10..12));
        let mut rx = SrtpReceiver::new(&a.offer).expect("receiver");
        assert!(rx.unprotect(&pa[0]).is_ok());
        let mut rx = SrtpReceiver::new(&b.offer)
            .expect("receiver")
            .replacing(Some(rx));
        assert!(rx.unprotect(&pa[1]).is_ok(), "in flight with the old keys");
        assert!(rx.unprotect(&pb[0]).is_ok(), "new keys");
        assert_eq!(
            rx.unprotect(&pa[2]),
            Err(SrtpReject::Auth),
            "old keys retired"
        );
        assert_eq!(rx.unprotect(&pb[0]), Err(SrtpReject::Replay));
        assert!(rx.unprotect(&pb[1]).is_ok());
    }

    #[test]
    fn garbage_never_panics_and_is_refused_by_auth() {
        let c = SdesCrypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}"))
            .expect("usable");
        let s = StreamSrtp {
            answer_key: SrtpKey::random(c.suite).expect("CSPRNG"),
            offer: c,
        };
        let mut rx = SrtpReceiver::new(&s.offer).expect("receiver");
        for junk in [
            &b""[..],
            b"\x80",
            &[0x80u8, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1][..],
            &[0x80u8; 200][..],
        ] {
            assert_eq!(rx.unprotect(junk), Err(SrtpReject::Auth));
        }
        assert_eq!(
            SrtpReceiver::refuse_all().unprotect(&[0x80u8; 40]),
            Err(SrtpReject::Auth)
        );
    }
}

/// Cost of decrypting one 20 ms G.711 packet, per suite (for the README's dependency note):
/// `cargo test -p cr-pbx --lib --release measure_srtp -- --ignored --nocapture`.
#[cfg(test)]
#[test]
#[ignore = "a measurement, not a check"]
fn measure_srtp_unprotect_cost() {
    for suite in SrtpSuite::ALL {
        let key = SrtpKey::random(suite).expect("CSPRNG");
        let (k, _) = suite.key_salt_len();
        let provider = rtc_srtp::crypto::default_provider().expect("ring");
        let mut tx = rtc_srtp::context::Context::new(
            &key.0[..k],
            &key.0[k..],
            suite.profile(),
            None,
            None,
            provider.crypto(),
        )
        .expect("context");
        let srtp = StreamSrtp {
            offer: SdesCrypto {
                tag: 1,
                suite,
                key: key.clone(),
            },
            answer_key: key,
        };
        let mut rx = SrtpReceiver::new(&srtp.offer).expect("receiver");
        let n = 50_000u32;
        let packets: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
                p[2..4].copy_from_slice(&(i as u16).to_be_bytes());
                p[4..8].copy_from_slice(&(i * 160).to_be_bytes());
                p.extend_from_slice(&[0xd5; 160]);
                tx.encrypt_rtp(&p).expect("protect").to_vec()
            })
            .collect();
        let t = std::time::Instant::now();
        for p in &packets {
            rx.unprotect(p).expect("authentic");
        }
        let ns = t.elapsed().as_nanos() / n as u128;
        println!("{}: {ns} ns per packet", suite.name());
    }
}
