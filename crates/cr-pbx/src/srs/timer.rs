//! Session timers (RFC 4028), in one place: the interval negotiated from `Session-Expires`
//! and `Min-SE`, the headers of our 2xx (we never refresh: `refresher=uac`), and the
//! expiry that ends a session the SRC stopped refreshing.

use crate::sip::SipMessage;
use std::time::{Duration, Instant};

/// Why a requested interval is refused: below our `Min-SE`, which the 422 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooSmall {
    /// Our Min-SE in seconds.
    pub(super) min_se: u32,
}

/// The session timer of one session.
#[derive(Debug, Default)]
pub(super) struct SessionTimer {
    /// Negotiated Session-Expires in seconds; None without a timer.
    interval: Option<u32>,
    /// When the session expires unless refreshed.
    expires_at: Option<Instant>,
}

impl SessionTimer {
    /// The interval `msg` asks for: `Ok(None)` without a `Session-Expires` header,
    /// `Err` below `min_se`. A value that is not a number counts as 1800 s (RFC 4028's
    /// recommended default).
    pub(super) fn requested(msg: &SipMessage, min_se: u32) -> Result<Option<u32>, TooSmall> {
        let Some(v) = msg.header("Session-Expires") else {
            return Ok(None);
        };
        let n: u32 = v
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .unwrap_or(1800);
        if n < min_se {
            return Err(TooSmall { min_se });
        }
        Ok(Some(n))
    }

    /// A timer of the negotiated `interval` (not running until the first refresh).
    pub(super) fn new(interval: Option<u32>) -> Self {
        SessionTimer {
            interval,
            expires_at: None,
        }
    }

    /// A re-INVITE/UPDATE asked for a new interval; a request without one (or with one
    /// too small, which a refresh does not refuse) keeps the current one.
    pub(super) fn renegotiate(&mut self, msg: &SipMessage, min_se: u32) {
        if let Ok(Some(se)) = Self::requested(msg, min_se) {
            self.interval = Some(se);
        }
    }

    /// The session was refreshed at `now` (our 2xx to an INVITE/UPDATE): the interval
    /// starts again.
    pub(super) fn refresh(&mut self, now: Instant) {
        if let Some(se) = self.interval {
            self.expires_at = Some(now + Duration::from_secs(se as u64));
        }
    }

    /// The headers of a 2xx that accepts the timer: `Session-Expires` with the SRC as
    /// refresher, and `Require: timer`.
    pub(super) fn answer_headers(&self) -> Vec<(&'static str, String)> {
        match self.interval {
            Some(se) => vec![
                ("Session-Expires", format!("{se};refresher=uac")),
                ("Require", "timer".to_owned()),
            ],
            None => Vec::new(),
        }
    }

    /// When the session expires.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.expires_at
    }

    /// The session expired at `now` without a refresh.
    pub(super) fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(se: Option<&str>) -> SipMessage {
        let h = se.map(|v| format!("Session-Expires: {v}\r\n")).unwrap_or_default();
        let text = format!(
            "INVITE sip:srs@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\nFrom: <sip:a@pbx>;tag=f\r\nTo: <sip:srs@10.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n{h}Content-Length: 0\r\n\r\n"
        );
        SipMessage::parse(text.as_bytes()).unwrap_or_else(|e| panic!("test message: {e}"))
    }

    #[test]
    fn negotiates_refreshes_and_expires() {
        assert_eq!(SessionTimer::requested(&with(None), 90), Ok(None));
        assert_eq!(SessionTimer::requested(&with(Some("60")), 90), Err(TooSmall { min_se: 90 }));
        assert_eq!(SessionTimer::requested(&with(Some("x;refresher=uac")), 90), Ok(Some(1800)));
        let mut t = SessionTimer::new(Some(120));
        assert_eq!(t.poll_timeout(), None);
        let now = Instant::now();
        t.refresh(now);
        assert!(!t.expired(now + Duration::from_secs(119)));
        assert!(t.expired(now + Duration::from_secs(120)));
        t.renegotiate(&with(Some("30")), 90); // too small for a refresh: kept
        assert_eq!(t.answer_headers()[0].1, "120;refresher=uac");
        assert!(SessionTimer::new(None).answer_headers().is_empty());
    }
}
