//! The daily list of sets flagged `quality` at sealing (docs/storage.md): read from the
//! journal, mailed through the notification mail at most once a day
//! ([`cr_storage::QualityDigest`], state in `<spool>/quality-digest.json`).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cr_storage::{Mailer, QualityDigest};
use tracing::warn;

/// How long after a look that found nothing to send (or failed) the journal is read again.
const RECHECK: Duration = Duration::from_secs(600);

/// The digest and when it was last looked at.
pub(crate) struct Digest {
    digest: QualityDigest,
    checked: Option<Instant>,
}

impl Digest {
    /// The digest of the spool at `spool_root`.
    pub(crate) fn load(spool_root: &Path) -> anyhow::Result<Self> {
        Ok(Self { digest: QualityDigest::load(&spool_root.join("quality-digest.json"))?, checked: None })
    }

    /// Sends the list when it is due and not empty; `false` when a list was due but could
    /// not be made or sent (logged).
    pub(crate) fn run(&mut self, cfg: &cr_config::Config, mailer: Option<&Mailer>, now: DateTime<Utc>) -> bool {
        if !self.digest.due(now) || self.checked.is_some_and(|t| t.elapsed() < RECHECK) {
            return true;
        }
        self.checked = Some(Instant::now());
        let journal = match cr_journal::Journal::open_url(&cfg.journal.url, &cfg.installation.data_dir, &cr_journal::OpenOptions::new()) {
            Ok(j) => j,
            Err(e) => {
                warn!("journal {}: {e}; the list of sets flagged quality waits", cfg.journal.url);
                return false;
            }
        };
        let sets = match journal.quality_flagged(self.digest.since()) {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot read the sets flagged quality: {e}");
                return false;
            }
        };
        let Some(notice) = self.digest.notice(sets, now) else { return true };
        if !crate::notify(&notice, mailer) {
            return false;
        }
        if let Err(e) = self.digest.sent(now) {
            warn!("cannot keep when the quality list was sent (it may be sent again): {e}");
        }
        true
    }
}
