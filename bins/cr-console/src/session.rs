//! Signed-in sessions without I/O: a random token per session (the cookie), the operator
//! and role it belongs to, its CSRF token, and the idle timeout, with time passed in.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cr_journal::Role;

/// 32 random bytes as hex: a session token or a CSRF token; `None` when the OS gives no
/// randomness (then no token is made at all: a guessable one would be worse).
pub fn random_token() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).ok()?;
    Some(hex::encode(b))
}

/// One signed-in operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The operator's name.
    pub operator: String,
    /// Their role when they signed in.
    pub role: Role,
    /// The token every form of this session carries.
    pub csrf: String,
    last_seen: DateTime<Utc>,
}

/// The sessions of one console process.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    by_token: HashMap<String, Session>,
}

impl Sessions {
    /// Sessions that end after `idle` without a request.
    pub fn new(idle: Duration) -> Self {
        Self { idle, by_token: HashMap::new() }
    }

    /// Starts a session for `operator` at `now`; returns its token (`None`: no randomness).
    pub fn create(&mut self, operator: &str, role: Role, now: DateTime<Utc>) -> Option<String> {
        self.expire(now);
        let token = random_token()?;
        let session = Session { operator: operator.to_owned(), role, csrf: random_token()?, last_seen: now };
        self.by_token.insert(token.clone(), session);
        Some(token)
    }

    /// The session of `token` at `now`, touched; `None` when unknown or idle too long (then
    /// it is ended).
    pub fn get(&mut self, token: &str, now: DateTime<Utc>) -> Option<Session> {
        let idle = self.idle;
        let s = self.by_token.get_mut(token)?;
        if (now - s.last_seen).to_std().is_ok_and(|d| d > idle) {
            self.by_token.remove(token);
            return None;
        }
        s.last_seen = s.last_seen.max(now);
        Some(s.clone())
    }

    /// Ends the session of `token`; returns it if there was one.
    pub fn remove(&mut self, token: &str) -> Option<Session> {
        self.by_token.remove(token)
    }

    fn expire(&mut self, now: DateTime<Utc>) {
        let idle = self.idle;
        self.by_token.retain(|_, s| (now - s.last_seen).to_std().map_or(true, |d| d <= idle));
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && !a.is_empty() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).single().unwrap_or_default()
    }

    #[test]
    fn a_session_lives_while_used_and_ends_after_the_idle_time() {
        let mut s = Sessions::new(Duration::from_secs(900));
        let token = s.create("anna", Role::Auditor, t(0)).unwrap_or_default();
        assert_eq!(token.len(), 64);
        let a = s.get(&token, t(600)).map(|x| x.operator);
        assert_eq!(a.as_deref(), Some("anna"));
        // 15 minutes after the last request, not after sign-in.
        assert!(s.get(&token, t(1500)).is_some());
        assert!(s.get(&token, t(2401)).is_none(), "idle for 901 s");
        assert!(s.get(&token, t(2402)).is_none(), "and gone for good");
    }

    #[test]
    fn tokens_are_random_and_unknown_ones_get_nothing() {
        let mut s = Sessions::new(Duration::from_secs(60));
        let a = s.create("anna", Role::Auditor, t(0)).unwrap_or_default();
        let b = s.create("anna", Role::Auditor, t(0)).unwrap_or_default();
        assert_ne!(a, b);
        let (ca, cb) = (s.get(&a, t(1)).map(|x| x.csrf), s.get(&b, t(1)).map(|x| x.csrf));
        assert_ne!(ca, cb, "each session has its own CSRF token");
        assert!(s.get("", t(1)).is_none());
        assert!(s.get(&a[..63], t(1)).is_none());
        assert!(s.remove(&a).is_some());
        assert!(s.get(&a, t(2)).is_none(), "signed out");
    }

    #[test]
    fn token_comparison_needs_the_whole_token() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", ""));
    }
}
