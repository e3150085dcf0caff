//! Trusted time-stamps (RFC 3161) for the sets in the spool: [`Timestamper`] asks the TSA
//! (HTTP POST `application/timestamp-query`) for a token over each set's checksum file,
//! checks the reply with cr-sign's [`TimestampRequest::check_reply`] and stores it beside
//! the set as `<id>.sha256.tsr`. It runs in the uploader, never in the seal path: a TSA that
//! does not answer delays nothing, the set waits in the spool (untimestamped) and is asked
//! for again with back-off. A token that arrives after the set was delivered reopens the
//! set's deliveries, so every target receives the token too (the files already there are
//! checked, not sent again).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cr_sign::{MAX_REPLY_BYTES, TimestampRequest, TsaTrust};

use crate::backoff::{Backoff, jitter};
use crate::error::SpoolError;
use crate::spool::{DeliveryLog, SetMeta, Spool};

/// The token file of set `id`: `<id>.sha256.tsr` (a DER `TimeStampResp`, as `openssl ts
/// -verify -in` reads it).
pub fn token_name(id: &str) -> String {
    format!("{id}.sha256.tsr")
}

/// Whether set `id` in `spool` has its token.
pub fn has_token(spool: &Spool, id: &str) -> bool {
    spool.set_dir(id).join(token_name(id)).is_file()
}

/// What one time-stamp pass did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TimestampReport {
    /// Sets whose token was fetched, checked and stored in this pass, with what it says.
    pub stored: Vec<(String, cr_sign::TimestampInfo)>,
    /// Sets whose query failed in this pass: (set, why). The TSA is then asked again after
    /// its back-off.
    pub failed: Vec<(String, String)>,
    /// Sets in the spool still without a token after the pass, oldest first (their number
    /// is `callrec_timestamps_pending`).
    pub waiting: Vec<String>,
    /// When the TSA is asked next (`None`: not backing off).
    pub next_due: Option<DateTime<Utc>>,
}

/// Fetches and stores time-stamp tokens for the sets of a spool.
pub struct Timestamper {
    url: String,
    trust: TsaTrust,
    client: reqwest::blocking::Client,
    backoff: Backoff,
}

impl std::fmt::Debug for Timestamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timestamper").field("url", &self.url).finish()
    }
}

impl Timestamper {
    /// A time-stamper asking `url`, accepting tokens that chain to `trust`, each query
    /// taking at most `timeout`. Back-off after a failure: 10 s doubling up to 15 min.
    pub fn new(url: &str, trust: TsaTrust, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            url: url.to_owned(),
            trust,
            client,
            backoff: Backoff::new(Duration::from_secs(10), Duration::from_secs(900)),
        })
    }

    /// Sets the back-off after a failed query (default 10 s doubling up to 15 min).
    pub fn set_backoff(&mut self, base: Duration, max: Duration) {
        self.backoff = Backoff::new(base, max);
    }

    /// One pass: when the TSA is due, every set of `pending` without a token gets one,
    /// oldest first, until the first failure. Stored tokens reopen the set's deliveries in
    /// `log` for every target that already confirmed it.
    pub fn pass(&mut self, spool: &Spool, pending: &[SetMeta], log: &mut dyn DeliveryLog, now: DateTime<Utc>) -> TimestampReport {
        let mut report = TimestampReport::default();
        let waiting: Vec<&SetMeta> = pending.iter().filter(|m| !has_token(spool, &m.id)).collect();
        if self.backoff.due(now) {
            for m in &waiting {
                match self.fetch(spool, &m.id) {
                    Ok(info) => {
                        tracing::info!(
                            target: "cr_storage", set = %m.id, tsa = %info.tsa, gen_time = %info.gen_time, serial = %info.serial,
                            "time-stamp token stored"
                        );
                        report.stored.push((m.id.clone(), info));
                        for t in &m.targets {
                            if let Err(e) = log.reopen(&m.id, t) {
                                report.failed.push((m.id.clone(), format!("delivery log: {e}")));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target: "cr_storage", set = %m.id, tsa = %self.url, "time-stamp refused, none stored; will ask again: {e}");
                        report.failed.push((m.id.clone(), e));
                        self.backoff.on_failure(now, jitter(now.timestamp_subsec_nanos().into()));
                        break;
                    }
                }
            }
            if report.failed.is_empty() && !waiting.is_empty() {
                self.backoff.on_success();
            }
        }
        report.waiting =
            waiting.iter().filter(|m| !report.stored.iter().any(|(s, _)| s == &m.id)).map(|m| m.id.clone()).collect();
        report.next_due = self.backoff.next_at();
        report
    }

    /// Queries the TSA for set `id`, checks the reply and stores it.
    fn fetch(&self, spool: &Spool, id: &str) -> Result<cr_sign::TimestampInfo, String> {
        let dir = spool.set_dir(id);
        let manifest = dir.join(format!("{id}.sha256"));
        let message = std::fs::read(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness for the nonce: {e}"))?;
        let req = TimestampRequest::new(&message, nonce);
        let resp = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/timestamp-query")
            .body(req.der().to_vec())
            .send()
            .map_err(|e| format!("TSA {} does not answer: {e}", self.url))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("TSA {} answered HTTP {status}", self.url));
        }
        let mut body = Vec::new();
        resp.take(MAX_REPLY_BYTES as u64 + 1).read_to_end(&mut body).map_err(|e| format!("TSA {}: reading the reply: {e}", self.url))?;
        let info = req.check_reply(&body, &self.trust).map_err(|e| e.to_string())?;
        write_synced(spool.root(), &dir, &token_name(id), &body).map_err(|e| e.to_string())?;
        Ok(info)
    }
}

/// Writes `dir/name` through a synced temporary file in `tmp_dir` (outside the set: a crash
/// must not leave a stray file that would be delivered with it).
fn write_synced(tmp_dir: &Path, dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SpoolError> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = tmp_dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(SpoolError::io(&tmp))?;
    f.write_all(bytes).map_err(SpoolError::io(&tmp))?;
    f.sync_all().map_err(SpoolError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(SpoolError::io(&path))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(SpoolError::io(dir))
}
