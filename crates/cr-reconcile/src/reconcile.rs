//! Matching the PBX's calls to the journal's sets, and one verdict per call.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use cr_journal::{MembershipChange, RecordedCall, normalize_number, numbers_match};
use cr_policy::{Policy, classify_direction};
use serde::Serialize;

use crate::cdr::{CdrCall, CdrRows};
use crate::history::Timeline;
use crate::report::{Report, Summary};

/// Tolerances of matching and of the length check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// A set matches a call by parties when its recording started at most this far from
    /// the call's connection (default 10 s).
    pub match_window: Duration,
    /// A set is SHORT when its media is shorter than the connected call by more than this
    /// (default 5 s).
    pub short_tolerance: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { match_window: Duration::seconds(10), short_tolerance: Duration::seconds(5) }
    }
}

/// What reconciliation concluded about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Verdict {
    /// The policy said record and a set covers the call.
    #[serde(rename = "RECORDED")]
    Recorded,
    /// The policy said record; the set's media is shorter than the call by more than the
    /// tolerance.
    #[serde(rename = "SHORT")]
    Short,
    /// The policy said record; no set was found.
    #[serde(rename = "MISSING")]
    Missing,
    /// The policy said not to record (or the call was never connected) and there is no set.
    #[serde(rename = "NOT-RECORDED-AS-DECIDED")]
    NotRecordedAsDecided,
    /// The policy said not to record, yet a set was found.
    #[serde(rename = "RECORDED-UNEXPECTEDLY")]
    RecordedUnexpectedly,
}

impl Verdict {
    /// The verdict as printed: `RECORDED`, `SHORT`, `MISSING`, `NOT-RECORDED-AS-DECIDED`,
    /// `RECORDED-UNEXPECTEDLY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Recorded => "RECORDED",
            Verdict::Short => "SHORT",
            Verdict::Missing => "MISSING",
            Verdict::NotRecordedAsDecided => "NOT-RECORDED-AS-DECIDED",
            Verdict::RecordedUnexpectedly => "RECORDED-UNEXPECTEDLY",
        }
    }

    /// MISSING and SHORT are problems (`crctl reconcile` exits 1).
    pub fn is_problem(self) -> bool {
        matches!(self, Verdict::Missing | Verdict::Short)
    }
}

/// How a set was matched to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The PBX's call id equals the one the journal stored.
    CallId,
    /// The parties match and the set started within the match window.
    Parties,
}

/// One call's verdict. Phone numbers appear only redacted (`***201`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CallVerdict {
    /// Line of the CDR file.
    pub line: u64,
    /// The PBX's call id, if the row has one.
    pub call_id: Option<String>,
    /// When the call was connected (offered, if never).
    pub started_at: DateTime<Utc>,
    /// Seconds connected.
    pub connected_secs: i64,
    /// The verdict.
    pub verdict: Verdict,
    /// The matched set.
    pub set_id: Option<String>,
    /// How it was matched.
    pub matched_by: Option<MatchedBy>,
    /// Milliseconds of media in the matched set.
    pub recorded_ms: Option<i64>,
    /// The configuration the policy chose (null: not recorded).
    pub configuration: Option<String>,
    /// The call as classified, numbers redacted (`incoming ***888 -> ***300`).
    pub call: String,
    /// The policy's reason, numbers redacted.
    pub reason: String,
}

/// The last 7 digits of a number (all of it when shorter): every pair of numbers that
/// [`numbers_match`] accepts shares them.
fn tail(n: &str) -> &str {
    &n[n.len().saturating_sub(cr_journal::SUFFIX_MIN_DIGITS)..]
}

fn parties_match(a: &str, b: &str) -> bool {
    (a.is_empty() && b.is_empty()) || numbers_match(a, b, false)
}

struct Indexed {
    set: RecordedCall,
    caller: String,
    callee: String,
    used: bool,
}

/// The journal's sets by call id and by the parties' last digits.
struct SetIndex {
    sets: Vec<Indexed>,
    by_call_id: HashMap<String, Vec<usize>>,
    by_parties: HashMap<(String, String), Vec<usize>>,
}

impl SetIndex {
    fn new(sets: Vec<RecordedCall>) -> Self {
        let mut by_call_id: HashMap<String, Vec<usize>> = HashMap::with_capacity(sets.len());
        let mut by_parties: HashMap<(String, String), Vec<usize>> = HashMap::with_capacity(sets.len());
        let sets: Vec<Indexed> = sets
            .into_iter()
            .map(|set| Indexed { caller: normalize_number(&set.caller), callee: normalize_number(&set.callee), set, used: false })
            .collect();
        for (i, s) in sets.iter().enumerate() {
            if !s.set.pbx_call_id.is_empty() {
                by_call_id.entry(s.set.pbx_call_id.clone()).or_default().push(i);
            }
            by_parties.entry((tail(&s.caller).to_owned(), tail(&s.callee).to_owned())).or_default().push(i);
        }
        Self { sets, by_call_id, by_parties }
    }

    /// The unused set for `call` that started within `window` of it: by call id (PBXs
    /// reuse call ids over time: CUCM's wrap around), else the closest by parties.
    fn take(&mut self, call: &CdrCall, window: Duration) -> Option<(usize, MatchedBy)> {
        let near = |s: &Indexed| !s.used && (s.set.started_at - call.started_at).abs() <= window;
        if let Some(id) = &call.call_id {
            if let Some(&i) = self.by_call_id.get(id).and_then(|v| v.iter().find(|&&i| near(&self.sets[i]))) {
                self.sets[i].used = true;
                return Some((i, MatchedBy::CallId));
            }
        }
        let (caller, callee) = (normalize_number(&call.caller), normalize_number(&call.callee));
        let candidates = self.by_parties.get(&(tail(&caller).to_owned(), tail(&callee).to_owned()))?;
        let best = candidates
            .iter()
            .copied()
            .filter(|&i| {
                let s = &self.sets[i];
                near(s) && parties_match(&s.caller, &caller) && parties_match(&s.callee, &callee)
            })
            .map(|i| (i, (self.sets[i].set.started_at - call.started_at).abs()))
            .min_by_key(|(_, d)| *d)?;
        self.sets[best.0].used = true;
        Some((best.0, MatchedBy::Parties))
    }
}

/// Reconciles the PBX's calls against the journal's `sets` (those of the calls' time
/// range, see docs/reconcile.md) under `policy` as it stood at each call: the policy is
/// built from the configuration, and the run-time membership changes of `history` are
/// applied to it in order of time as the calls pass (so it is left in the state of the
/// last call). Every call gets one verdict; sets no call matched are counted.
pub fn reconcile(policy: &Policy, options: &Options, rows: CdrRows, sets: Vec<RecordedCall>, history: Vec<MembershipChange>) -> Report {
    let CdrRows { mut calls, bad, skipped } = rows;
    calls.sort_by_key(|c| c.started_at);
    let mut index = SetIndex::new(sets);
    let mut timeline = Timeline::new(history);
    let mut verdicts = Vec::with_capacity(calls.len());
    let mut summary = Summary { rows: calls.len() as u64 + bad.len() as u64 + skipped, skipped, ..Summary::default() };
    for call in calls {
        timeline.advance(policy, call.started_at);
        let facts = classify_direction(call.caller.clone(), call.callee.clone(), call.diversions.clone(), |f| {
            policy.decide(f).record
        });
        let decision = policy.decide(&facts);
        let matched = index.take(&call, options.match_window);
        let recorded_ms = matched.map(|(i, _)| {
            let s = &index.sets[i].set;
            (s.ended_at - s.started_at).num_milliseconds()
        });
        let verdict = match (decision.record, recorded_ms) {
            (true, Some(ms)) if call.connected_secs * 1000 - ms > options.short_tolerance.num_milliseconds() => Verdict::Short,
            (true, Some(_)) => Verdict::Recorded,
            (true, None) if call.connected_secs == 0 => Verdict::NotRecordedAsDecided,
            (true, None) => Verdict::Missing,
            (false, Some(_)) => Verdict::RecordedUnexpectedly,
            (false, None) => Verdict::NotRecordedAsDecided,
        };
        let reason = if decision.record && recorded_ms.is_none() && call.connected_secs == 0 {
            format!("never connected: nothing to record ({})", decision.reason.redacted())
        } else {
            decision.reason.redacted().to_string()
        };
        summary.count(verdict);
        verdicts.push(CallVerdict {
            line: call.line,
            call_id: call.call_id,
            started_at: call.started_at,
            connected_secs: call.connected_secs,
            verdict,
            set_id: matched.map(|(i, _)| index.sets[i].set.set_id.clone()),
            matched_by: matched.map(|(_, by)| by),
            recorded_ms,
            configuration: decision.configuration.as_deref().map(str::to_owned),
            call: facts.redacted().to_string(),
            reason,
        });
    }
    verdicts.sort_by_key(|v| v.line);
    let sets_without_call: Vec<String> = index.sets.into_iter().filter(|s| !s.used).map(|s| s.set.set_id).collect();
    summary.calls = verdicts.len() as u64;
    summary.bad_rows = bad.len() as u64;
    summary.sets_without_call = sets_without_call.len() as u64;
    summary.membership_changes_applied = timeline.applied;
    summary.membership_changes_unknown = timeline.unknown;
    Report { summary, calls: verdicts, bad_rows: bad, sets_without_call }
}
