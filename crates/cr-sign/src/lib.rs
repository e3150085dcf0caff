//! # cr-sign
//!
//! Integrity: RSA-2048 key, PKCS#12 keystore, self-signed certificate, shasum-compatible
//! manifest, SHA256withRSA signature and the verifier. Being written (issue 2).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
