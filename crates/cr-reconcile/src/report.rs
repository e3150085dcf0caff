//! The reconciliation report: a summary, one verdict per call, the bad rows; as text for
//! people and mail, or JSON (docs/reference.md lists the fields).

use std::fmt::Write as _;

use serde::Serialize;

use crate::error::RowError;
use crate::reconcile::{CallVerdict, Verdict};

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Data rows of the CDR file (calls, bad rows and skipped rows).
    pub rows: u64,
    /// Calls reconciled (each has a verdict).
    pub calls: u64,
    /// Rows that could not be read.
    pub bad_rows: u64,
    /// Rows skipped on purpose (CUCM records other than CDRs).
    pub skipped: u64,
    /// Calls RECORDED.
    pub recorded: u64,
    /// Calls SHORT.
    pub short: u64,
    /// Calls MISSING.
    pub missing: u64,
    /// Calls NOT-RECORDED-AS-DECIDED.
    pub not_recorded_as_decided: u64,
    /// Calls RECORDED-UNEXPECTEDLY.
    pub recorded_unexpectedly: u64,
    /// Sets of the calls' time range that no call matched.
    pub sets_without_call: u64,
    /// Membership changes of the journal replayed.
    pub membership_changes_applied: u64,
    /// Membership changes naming a group or user the configuration does not have (ignored).
    pub membership_changes_unknown: u64,
}

impl Summary {
    pub(crate) fn count(&mut self, v: Verdict) {
        *match v {
            Verdict::Recorded => &mut self.recorded,
            Verdict::Short => &mut self.short,
            Verdict::Missing => &mut self.missing,
            Verdict::NotRecordedAsDecided => &mut self.not_recorded_as_decided,
            Verdict::RecordedUnexpectedly => &mut self.recorded_unexpectedly,
        } += 1;
    }
}

/// What [`reconcile`](crate::reconcile) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The counts.
    pub summary: Summary,
    /// Every call's verdict, in file order.
    pub calls: Vec<CallVerdict>,
    /// The rows that could not be read.
    pub bad_rows: Vec<RowError>,
    /// Ids of the sets no call matched.
    pub sets_without_call: Vec<String>,
}

impl Report {
    /// A call MISSING or SHORT, or a row that could not be read (it may hide one).
    pub fn has_problems(&self) -> bool {
        self.summary.missing > 0 || self.summary.short > 0 || self.summary.bad_rows > 0
    }

    /// The report as text: one line per call whose verdict is not RECORDED or
    /// NOT-RECORDED-AS-DECIDED (every call with `all`), one per bad row of `file`, then the
    /// summary line.
    pub fn text(&self, file: &str, all: bool) -> String {
        let mut out = String::new();
        for c in self.calls.iter().filter(|c| all || !matches!(c.verdict, Verdict::Recorded | Verdict::NotRecordedAsDecided)) {
            let _ = write!(out, "{} line {}", c.verdict.as_str(), c.line);
            if let Some(id) = &c.call_id {
                let _ = write!(out, " call {id}");
            }
            let _ = write!(out, " {} {} ({} s)", c.started_at.format("%Y-%m-%dT%H:%M:%SZ"), c.call, c.connected_secs);
            if let (Some(set), Some(ms)) = (&c.set_id, c.recorded_ms) {
                let _ = write!(out, " set {set} ({:.1} s)", ms as f64 / 1000.0);
            }
            let _ = writeln!(out, ": {}", c.reason);
        }
        for b in &self.bad_rows {
            let _ = writeln!(out, "BAD-ROW {file} {b}");
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "summary: {} calls: {} RECORDED, {} SHORT, {} MISSING, {} NOT-RECORDED-AS-DECIDED, {} RECORDED-UNEXPECTEDLY; \
             {} bad rows, {} skipped; {} sets without a call record; {} membership changes replayed",
            s.calls,
            s.recorded,
            s.short,
            s.missing,
            s.not_recorded_as_decided,
            s.recorded_unexpectedly,
            s.bad_rows,
            s.skipped,
            s.sets_without_call,
            s.membership_changes_applied
        );
        out
    }

    /// The report as one JSON object (`summary`, `calls`, `bad_rows`, `sets_without_call`);
    /// `calls` holds every call with `all`, else only those the text shows.
    pub fn json(&self, file: &str, all: bool) -> serde_json::Value {
        #[derive(Serialize)]
        struct Out<'a> {
            file: &'a str,
            problems: bool,
            summary: &'a Summary,
            calls: Vec<&'a CallVerdict>,
            bad_rows: &'a [RowError],
            sets_without_call: &'a [String],
        }
        let calls = self
            .calls
            .iter()
            .filter(|c| all || !matches!(c.verdict, Verdict::Recorded | Verdict::NotRecordedAsDecided))
            .collect();
        let out = Out {
            file,
            problems: self.has_problems(),
            summary: &self.summary,
            calls,
            bad_rows: &self.bad_rows,
            sets_without_call: &self.sets_without_call,
        };
        serde_json::to_value(out).unwrap_or(serde_json::Value::Null)
    }
}
