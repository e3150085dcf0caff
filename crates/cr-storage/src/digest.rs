//! The daily list of sets flagged `quality` at sealing (docs/storage.md): at most one
//! notice a day, listing every such set sealed since the last list. Time is passed in;
//! the state (when the last list went out, up to which seal time it reached) is a small
//! JSON file beside the spool, so a restart neither repeats nor loses a list.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cr_types::QualityRecord;
use serde::{Deserialize, Serialize};

use crate::notify::{Backlog, Notice, NoticeKind};

/// The least time between two lists.
pub const DIGEST_INTERVAL: chrono::Duration = chrono::Duration::hours(24);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// When the last list was sent.
    last_sent: Option<DateTime<Utc>>,
    /// The sets of the last list were sealed before this time.
    covered_until: Option<DateTime<Utc>>,
}

/// When the next list of flagged sets is due, and which sets it covers.
///
/// ```
/// use cr_storage::QualityDigest;
/// let t0 = chrono::Utc::now();
/// let mut d = QualityDigest::in_memory();
/// assert!(d.due(t0));
/// assert!(d.notice(Vec::new(), t0).is_none(), "nothing flagged: no mail");
/// d.sent(t0).unwrap();
/// assert!(!d.due(t0 + chrono::Duration::hours(23)));
/// assert!(d.due(t0 + chrono::Duration::hours(24)));
/// assert_eq!(d.since(), t0);
/// ```
#[derive(Debug, Clone)]
pub struct QualityDigest {
    state: State,
    path: Option<PathBuf>,
}

impl QualityDigest {
    /// The digest whose state is kept in `path`; a missing file is a first start (the
    /// first list covers every flagged set). An unreadable or damaged file is an error
    /// naming it.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        };
        Ok(Self { state, path: Some(path.to_owned()) })
    }

    /// A digest that keeps its state in memory only (tests, examples).
    pub fn in_memory() -> Self {
        Self { state: State::default(), path: None }
    }

    /// Whether a list may go out at `now`: none went out in the last [`DIGEST_INTERVAL`].
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.state.last_sent.is_none_or(|t| now - t >= DIGEST_INTERVAL)
    }

    /// The list covers sets sealed at or after this time (the end of the last list).
    pub fn since(&self) -> DateTime<Utc> {
        self.state.covered_until.unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The notice listing `sets` (flagged, sealed since [`since`](Self::since)); none when
    /// there are none.
    pub fn notice(&self, sets: Vec<QualityRecord>, now: DateTime<Utc>) -> Option<Notice> {
        if sets.is_empty() {
            return None;
        }
        Some(Notice {
            kind: NoticeKind::QualityFlagged,
            target: String::new(),
            error: String::new(),
            backlog: Backlog::new(sets.len(), None),
            since: self.state.covered_until.unwrap_or(sets[0].sealed_at),
            at: now,
            free_percent: None,
            flagged: sets,
        })
    }

    /// Records that the list made at `now` went out; written to the state file.
    pub fn sent(&mut self, now: DateTime<Utc>) -> std::io::Result<()> {
        self.state = State { last_sent: Some(now), covered_until: Some(now) };
        let Some(path) = &self.path else { return Ok(()) };
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec_pretty(&self.state).unwrap_or_default();
        std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cr_types::{LegQuality, QualityThresholds};

    #[test]
    fn the_list_names_each_set_its_reasons_and_figures_and_survives_a_restart() {
        let t0 = "2026-12-04T09:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quality-digest.json");
        let mut d = QualityDigest::load(&path).unwrap();
        let legs = vec![LegQuality::from_counts("caller", true, 500, 475, 20, 76_000, 0)];
        let q = QualityThresholds::default().assess(legs.clone());
        let set = QualityRecord { set_id: "s1".into(), sealed_at: t0, reasons: q.reasons, one_sided: false, legs };
        let n = d.notice(vec![set], t0).unwrap();
        assert_eq!(n.subject("pbx1"), "[callrec pbx1] 1 recording flagged for quality");
        let body = n.body("pbx1");
        for w in ["s1", "loss", "caller: 25 of 500 packets lost (5.00 %), longest gap 20 ms, silence 0.00 %", "crctl search --flag quality"] {
            assert!(body.contains(w), "{w}: {body}");
        }
        d.sent(t0).unwrap();
        let again = QualityDigest::load(&path).unwrap();
        assert!(!again.due(t0 + chrono::Duration::hours(1)), "once a day, also after a restart");
        assert_eq!(again.since(), t0);
        std::fs::write(&path, "{broken").unwrap();
        let e = QualityDigest::load(&path).unwrap_err();
        assert!(e.to_string().contains("quality-digest.json"), "{e}");
    }
}
