//! A 2xx to an INVITE waiting for its ACK (RFC 3261 §13.3.1.4): retransmitted over UDP
//! (T1 doubling up to T2) and given up after 64*T1, or sooner for an initial INVITE while
//! the RTP ports run out.

use crate::common::Timers;
use std::time::{Duration, Instant};

/// The 2xx of one INVITE and its retransmission state.
#[derive(Debug)]
pub(super) struct Pending2xx {
    /// The 2xx as sent.
    pub(super) bytes: Vec<u8>,
    retx_at: Option<Instant>,
    interval: Duration,
    give_up: Instant,
    /// CSeq of the INVITE (its ACK has the same number).
    pub(super) cseq: u32,
    /// When the 2xx was first sent.
    sent: Instant,
    /// The 2xx answers the initial INVITE (its ports may be reclaimed sooner under pressure).
    pub(super) initial: bool,
}

/// What a timeout means for a pending 2xx.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AckWait {
    /// Nothing due yet.
    Waiting,
    /// Send the 2xx again.
    Retransmit,
    /// No ACK came in time: the session ends.
    GiveUp,
}

impl Pending2xx {
    /// A 2xx just sent at `now` over a transport that is `reliable` or not.
    pub(super) fn new(bytes: Vec<u8>, cseq: u32, initial: bool, reliable: bool, timers: &Timers, now: Instant) -> Self {
        Pending2xx {
            bytes,
            retx_at: (!reliable).then(|| now + timers.t1),
            interval: timers.t1,
            give_up: now + timers.t1 * 64,
            cseq,
            sent: now,
            initial,
        }
    }

    /// When it is given up: 64*T1 after it was sent, or `wait` for an initial INVITE
    /// while the ports are under `pressure`.
    fn give_up_at(&self, pressure: bool, wait: Duration) -> Instant {
        if pressure && self.initial {
            self.give_up.min(self.sent + wait)
        } else {
            self.give_up
        }
    }

    /// The next retransmission or give-up.
    pub(super) fn poll_timeout(&self, pressure: bool, wait: Duration) -> Instant {
        let g = self.give_up_at(pressure, wait);
        self.retx_at.map_or(g, |r| g.min(r))
    }

    /// What is due at `now` (a retransmission moves the next one on).
    pub(super) fn on_timeout(&mut self, timers: &Timers, pressure: bool, wait: Duration, now: Instant) -> AckWait {
        if now >= self.give_up_at(pressure, wait) {
            return AckWait::GiveUp;
        }
        match self.retx_at {
            Some(r) if now >= r => {
                self.interval = (self.interval * 2).min(timers.t2);
                self.retx_at = Some(now + self.interval);
                AckWait::Retransmit
            }
            _ => AckWait::Waiting,
        }
    }
}
