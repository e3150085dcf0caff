//! The optional second factor of an operator: a time-based one-time password (TOTP,
//! RFC 6238 over HOTP, RFC 4226) with HMAC-SHA-1, 6 digits and 30-second steps — what
//! authenticator apps use by default.
//!
//! [`totp_code`] is the algorithm without I/O (time passed in as a step number); the
//! [`Journal`] keeps each operator's secret and the last time step a code was accepted
//! for, so that a code is good once: a code of a step at or before the last used one is
//! refused, also when it is right.

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};

use crate::Journal;
use crate::audit::insert_audit;
use crate::db::{TxKind, params};
use crate::error::JournalError;
use crate::model::AuditKind;
use crate::operators::Role;
use crate::store::Session;

/// Length of a time step, seconds (RFC 6238's default X = 30).
pub const TOTP_STEP_SECS: i64 = 30;

/// Digits of a code.
pub const TOTP_DIGITS: u32 = 6;

/// Bytes of a secret made by [`Journal::enroll_totp`] (160 bits, RFC 4226 section 4).
const SECRET_BYTES: usize = 20;

/// The code for `secret` at time step `step` (seconds since 1970 divided by the step
/// length), `digits` long with leading zeros (RFC 4226 section 5.3 dynamic truncation of
/// HMAC-SHA-1). `digits` is clamped to 6..=8.
pub fn totp_code(secret: &[u8], step: u64, digits: u32) -> String {
    let digits = digits.clamp(6, 8);
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret) else { return String::new() };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    let code = bin % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The time step of `at` (negative times are step 0).
fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().max(0) / TOTP_STEP_SECS
}

/// What an admin hands to an operator once, at enrolment: the secret for their
/// authenticator app, as base32 text and as an `otpauth://` URI (a QR code's content).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TotpEnrollment {
    /// The secret, base32 without padding.
    pub secret_base32: String,
    /// `otpauth://totp/callrec:NAME?secret=...&issuer=callrec&algorithm=SHA1&digits=6&period=30`.
    pub uri: String,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrollment { (secret not shown) }")
    }
}

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TotpRefusal {
    /// Not the code of the step before, at or after now (or not six digits).
    Wrong,
    /// The right code, but of a step a code was already accepted for (or an earlier one).
    Replayed,
    /// The operator has no second factor (or is not an enabled operator).
    NotEnrolled,
}

impl TotpRefusal {
    /// The stored form in `login_failed` details: `wrong`, `replayed`, `not_enrolled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TotpRefusal::Wrong => "wrong",
            TotpRefusal::Replayed => "replayed",
            TotpRefusal::NotEnrolled => "not_enrolled",
        }
    }
}

/// Which step of the window (now − 1, now, now + 1) `code` belongs to. Every step of the
/// window is computed and compared, so that the time taken does not tell which matched.
fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let Ok(s) = u64::try_from(step) else { continue };
        let expected = totp_code(secret, s, TOTP_DIGITS);
        let same = expected.bytes().zip(code.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if same && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn bad_secret(name: &str) -> JournalError {
    JournalError::Invalid {
        what: "TOTP secret",
        value: format!("(of operator {name:?}, not shown)"),
        reason: "is not base32 in the journal: enroll the operator again".to_owned(),
    }
}

fn require_admin(s: &mut Session<'_>, op: &'static str, by: &str) -> Result<(), JournalError> {
    let role = s.query_opt(op, "SELECT role FROM operators WHERE name = ?1 AND disabled_at IS NULL", params![by], |r| r.text(0))?;
    if role.and_then(|r| r.parse::<Role>().ok()).is_some_and(|r| r.allows(Role::Admin)) {
        Ok(())
    } else {
        Err(JournalError::Refused { reason: format!("operator {by:?} is not an enabled admin") })
    }
}

impl Journal {
    /// Gives operator `name` a new TOTP secret (replacing one they had: a lost phone), made
    /// from the operating system's randomness, and returns it — the only time it is shown.
    /// `by` is the admin doing it (authenticated by the caller). Audit event
    /// `totp_enrolled` (details: `operator`, `replaced`; never the secret).
    pub fn enroll_totp(&self, name: &str, by: &str, at: DateTime<Utc>) -> Result<TotpEnrollment, JournalError> {
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| JournalError::Refused {
            reason: format!("the operating system gives no randomness for a secret ({e})"),
        })?;
        let secret_base32 = data_encoding::BASE32_NOPAD.encode(&secret);
        let op = "enroll a second factor";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, "callrec operators")?;
        require_admin(&mut s, op, by)?;
        let enabled = s.query_opt(op, "SELECT name FROM operators WHERE name = ?1 AND disabled_at IS NULL", params![name], |r| r.text(0))?;
        if enabled.is_none() {
            return Err(self.store.missing(format!("enabled operator {name:?}")));
        }
        let replaced = s.execute(op, "DELETE FROM operator_totp WHERE operator = ?1", params![name])? > 0;
        s.execute(
            op,
            "INSERT INTO operator_totp (operator, secret, last_step, enrolled_at, enrolled_by) VALUES (?1, ?2, NULL, ?3, ?4)",
            params![name, secret_base32.as_str(), at, by],
        )?;
        insert_audit(&mut s, op, &AuditKind::TotpEnrolled, at, Some(by), None, &serde_json::json!({"operator": name, "replaced": replaced}))?;
        s.commit(op)?;
        let uri = format!(
            "otpauth://totp/callrec:{name}?secret={secret_base32}&issuer=callrec&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}"
        );
        Ok(TotpEnrollment { secret_base32, uri })
    }

    /// Removes operator `name`'s second factor; `by` is the admin doing it. Audit event
    /// `totp_disabled`. An operator without one is [`JournalError::Missing`].
    pub fn disable_totp(&self, name: &str, by: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        let op = "disable a second factor";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, "callrec operators")?;
        require_admin(&mut s, op, by)?;
        if s.execute(op, "DELETE FROM operator_totp WHERE operator = ?1", params![name])? == 0 {
            return Err(self.store.missing(format!("second factor of operator {name:?}")));
        }
        insert_audit(&mut s, op, &AuditKind::TotpDisabled, at, Some(by), None, &serde_json::json!({"operator": name}))?;
        s.commit(op)
    }

    /// Whether operator `name` signs in with a second factor.
    pub fn has_totp(&self, name: &str) -> Result<bool, JournalError> {
        let found = self.store.conn()?.query_opt(
            "look up a second factor",
            "SELECT operator FROM operator_totp WHERE operator = ?1",
            params![name],
            |r| r.text(0),
        )?;
        Ok(found.is_some())
    }

    /// Checks `code` for operator `name` at `at`: the code of the time step before, at or
    /// after `at`'s, and of a later step than the last accepted code's (which it then
    /// becomes). `Ok(Err(_))` says why a code was refused; the caller audits the refusal
    /// (a wrong code is a failed sign-in).
    pub fn verify_totp(&self, name: &str, code: &str, at: DateTime<Utc>) -> Result<Result<(), TotpRefusal>, JournalError> {
        let op = "check a one-time code";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, "callrec operators")?;
        let row = s.query_opt(
            op,
            "SELECT t.secret, t.last_step FROM operator_totp t JOIN operators o ON o.name = t.operator \
             WHERE t.operator = ?1 AND o.disabled_at IS NULL",
            params![name],
            |r| Ok((r.text(0)?, r.opt_i64(1)?)),
        )?;
        let Some((secret, last)) = row else { return Ok(Err(TotpRefusal::NotEnrolled)) };
        let secret = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).map_err(|_| bad_secret(name))?;
        let Some(step) = matching_step(&secret, code, step_of(at)) else { return Ok(Err(TotpRefusal::Wrong)) };
        if last.is_some_and(|l| step <= l) {
            return Ok(Err(TotpRefusal::Replayed));
        }
        s.execute(op, "UPDATE operator_totp SET last_step = ?2 WHERE operator = ?1", params![name, step])?;
        s.commit(op)?;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, the SHA-1 rows: the seed is the ASCII "12345678901234567890".
    const RFC_SEED: &[u8] = b"12345678901234567890";
    const RFC_SHA1: &[(u64, &str)] = &[
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        for &(time, code) in RFC_SHA1 {
            assert_eq!(totp_code(RFC_SEED, time / 30, 8), code, "T = {time}");
        }
    }

    #[test]
    fn six_digits_are_the_last_six_of_the_rfc_codes() {
        // Dynamic truncation modulo 10^6 instead of 10^8: the same number's last six digits.
        for &(time, code) in RFC_SHA1 {
            assert_eq!(totp_code(RFC_SEED, time / 30, 6), code[2..], "T = {time}");
        }
    }

    #[test]
    fn the_window_is_one_step_either_side() {
        let now = 1_111_111_111 / 30;
        let at = |s: i64| totp_code(RFC_SEED, s as u64, 6);
        assert_eq!(matching_step(RFC_SEED, &at(now), now), Some(now));
        assert_eq!(matching_step(RFC_SEED, &at(now - 1), now), Some(now - 1));
        assert_eq!(matching_step(RFC_SEED, &at(now + 1), now), Some(now + 1));
        assert_eq!(matching_step(RFC_SEED, &at(now - 2), now), None, "a minute old");
        assert_eq!(matching_step(RFC_SEED, &at(now + 2), now), None, "a minute ahead");
    }

    #[test]
    fn malformed_codes_match_nothing_and_do_not_panic() {
        let now = 1_111_111_111 / 30;
        let right = totp_code(RFC_SEED, now as u64, 6);
        for bad in ["", "12345", "1234567", "abcdef", " 12345", "١٢٣٤٥٦", &format!("{right} "), &format!("+{}", &right[1..])] {
            assert_eq!(matching_step(RFC_SEED, bad, now), None, "{bad:?}");
        }
        assert_eq!(matching_step(RFC_SEED, &right, 0), None);
        assert_eq!(totp_code(b"", 0, 6).len(), 6, "an empty key is still a key to HMAC");
    }
}
