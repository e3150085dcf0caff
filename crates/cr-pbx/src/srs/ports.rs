//! RTP port allocation: even ports of the configured range, chosen at random so the
//! ports of a call cannot be guessed from those of the call before (issue 11, probe 1).

use super::StreamInfo;
use crate::common::{RandomSource, random_below};
use std::collections::BTreeSet;

/// Below this share of free RTP ports (percent) the core is "under pressure": unacknowledged
/// 200 OKs are given up after [`super::SrsConfig::ack_wait_under_pressure`] instead of 64*T1.
pub const PRESSURE_FREE_PERCENT: usize = 10;

/// The even ports of a range: in use, reserved and free.
#[derive(Debug)]
pub(super) struct PortPool {
    /// The range, inclusive, as configured.
    range: (u16, u16),
    /// Ports in use or reserved.
    pub(super) used: BTreeSet<u16>,
    /// Chooses ports (unpredictable, so an attacker cannot aim at a call's port).
    random: Box<dyn RandomSource>,
}

impl PortPool {
    /// A pool of the even ports of `range` (inclusive), choosing with `random`.
    pub(super) fn new(range: (u16, u16), random: Box<dyn RandomSource>) -> Self {
        PortPool {
            range,
            used: BTreeSet::new(),
            random,
        }
    }

    /// Even ports of the range not in use and not reserved.
    pub(super) fn free(&self) -> usize {
        let (lo, hi) = self.range;
        self.total().saturating_sub(self.used.range(lo..=hi).count())
    }

    /// Even ports of the range (free, used and reserved).
    pub(super) fn total(&self) -> usize {
        let (lo, hi) = self.range;
        let lo = lo + (lo % 2);
        if hi < lo { 0 } else { ((hi - lo) / 2 + 1) as usize }
    }

    /// Fewer than [`PRESSURE_FREE_PERCENT`] of the ports are free.
    pub(super) fn under_pressure(&self) -> bool {
        self.free() * 100 < self.total() * PRESSURE_FREE_PERCENT
    }

    /// Keeps `port` out of allocation (e.g. a SIP listen port inside the range).
    pub(super) fn reserve(&mut self, port: u16) {
        let (lo, hi) = self.range;
        if port.is_multiple_of(2) && (lo..=hi).contains(&port) {
            self.used.insert(port);
        }
    }

    /// Gives a port to each stream with a codec and no port yet; false (and nothing
    /// taken) when there are not enough.
    pub(super) fn assign(&mut self, streams: &mut [StreamInfo]) -> bool {
        let need: Vec<usize> = streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.codec.is_some() && s.local_port == 0)
            .map(|(i, _)| i)
            .collect();
        if need.is_empty() {
            return true;
        }
        let Some(ports) = self.alloc(need.len()) else {
            return false;
        };
        for (i, p) in need.into_iter().zip(ports) {
            streams[i].local_port = p;
        }
        true
    }

    /// `n` free even ports of the range for the streams of one session: a run of `n`
    /// consecutive even ports starting at a random free place, so the ports of a call
    /// cannot be guessed from those of the call before (issue 11, probe 1). Consecutive
    /// within the session because SRCs such as sipp derive the second stream's port from
    /// the first. When no run is free, each port is chosen at random among the free ones.
    pub(super) fn alloc(&mut self, n: usize) -> Option<Vec<u16>> {
        let (lo, hi) = self.range;
        let lo = lo + (lo % 2);
        if hi < lo || n == 0 {
            return (n == 0).then(Vec::new);
        }
        let slots = ((hi - lo) / 2 + 1) as u64;
        let port = |i: u64| lo + (i * 2) as u16;
        let free = slots - self.used.range(lo..=hi).count() as u64;
        if free < n as u64 {
            return None;
        }
        let n64 = n as u64;
        let run_free = |used: &BTreeSet<u16>, base: u64| (base..base + n64).all(|i| !used.contains(&port(i)));
        let mut base = None;
        if n64 <= slots {
            let starts = slots - n64 + 1;
            // A random start, tried again while taken (cheap while the range is mostly
            // free); then the k-th free run for a random k (uniform, bounded work).
            for _ in 0..64 {
                let b = random_below(self.random.as_mut(), starts);
                if run_free(&self.used, b) {
                    base = Some(b);
                    break;
                }
            }
            if base.is_none() {
                let runs: Vec<u64> = (0..starts).filter(|&b| run_free(&self.used, b)).collect();
                if !runs.is_empty() {
                    base = Some(runs[random_below(self.random.as_mut(), runs.len() as u64) as usize]);
                }
            }
        }
        let ports: Vec<u16> = match base {
            Some(b) => (b..b + n64).map(port).collect(),
            None => {
                let mut ports = Vec::with_capacity(n);
                for _ in 0..n {
                    let free: Vec<u16> =
                        (0..slots).map(port).filter(|p| !self.used.contains(p) && !ports.contains(p)).collect();
                    let k = random_below(self.random.as_mut(), free.len() as u64) as usize;
                    ports.push(*free.get(k)?);
                }
                ports
            }
        };
        for p in &ports {
            self.used.insert(*p);
        }
        Some(ports)
    }

    /// Frees the ports of `streams`.
    pub(super) fn release(&mut self, streams: &[StreamInfo]) {
        for s in streams {
            if s.local_port != 0 {
                self.used.remove(&s.local_port);
            }
        }
    }

    /// Frees those of `old` ports that none of `streams` uses any more.
    pub(super) fn release_unused(&mut self, old: &[u16], streams: &[StreamInfo]) {
        let in_use: BTreeSet<u16> = streams.iter().map(|s| s.local_port).collect();
        for p in old {
            if !in_use.contains(p) {
                self.used.remove(p);
            }
        }
    }
}
