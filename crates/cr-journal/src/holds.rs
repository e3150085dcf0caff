//! Legal holds and four-eyes requests: placing a hold, asking for its release or for a
//! set's deletion, the approval by a second operator, and what the deletion pass asks
//! ([`Journal::hold_of`], [`Journal::approved_deletions`], [`Journal::deletion_request_done`]).
//! Written once for every backend; every change writes its audit event in its transaction.
//!
//! A hold by party is evaluated when asked, never expanded into a list of sets: it covers
//! every set whose call has the party as caller, callee or a diversion (compared with
//! [`numbers_match`]) and started inside its time range — also sets sealed after the hold
//! was placed, for as long as it stands.
//!
//! One file of more than 800 lines on purpose: holds and the requests that release them or
//! delete a held set share the coverage check (`hold_in`) and the lock; a third of it is
//! the public types and their documentation.
//!
//! The journal does not know roles: the caller checks that both operators may do this
//! (supervisors); the journal enforces that they are two different ones.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Journal;
use crate::db::{Bad, Row, TxKind, params};
use crate::error::{JournalError, Refusal};
use crate::model::AuditKind;
use crate::number::{normalize_number, numbers_match};
use crate::ops::insert_audit;
use crate::store::{Session, check_set_id};

/// Longest case name, in characters.
pub const CASE_MAX_CHARS: usize = 100;

/// Longest reason, in characters.
const REASON_MAX_CHARS: usize = 2000;

/// The key every hold and request change waits for (PostgreSQL: an advisory lock; SQLite's
/// write transactions exclude each other anyway), so a check and the write that depends on
/// it are never interleaved with another change.
const LOCK: &str = "holds";

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "lowercase")]
#[non_exhaustive]
pub enum HoldScope {
    /// These sets (each must be a recording the journal knows).
    Sets {
        /// The set ids.
        set_ids: Vec<String>,
    },
    /// Every set of a call with this party as caller, callee or a diversion, started in
    /// `[from, to)`; also sets sealed later, while the hold stands.
    Party {
        /// The number as given (matched in any form, see [`numbers_match`]).
        number: String,
        /// Compare the digits exactly, without suffix matching.
        exact: bool,
        /// Calls that started at or after this time (none: any).
        from: Option<DateTime<Utc>>,
        /// Calls that started before this time (none: any).
        to: Option<DateTime<Utc>>,
    },
}

impl HoldScope {
    /// A hold of these sets.
    pub fn sets(set_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        HoldScope::Sets {
            set_ids: set_ids.into_iter().map(Into::into).collect(),
        }
    }

    /// A hold of a party's calls in `[from, to)`.
    pub fn party(
        number: impl Into<String>,
        exact: bool,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Self {
        HoldScope::Party {
            number: number.into(),
            exact,
            from,
            to,
        }
    }
}

/// A hold to place, handed to [`Journal::place_hold`].
#[derive(Debug, Clone)]
pub struct NewHold {
    /// The case name: printable, at most [`CASE_MAX_CHARS`] characters, no surrounding
    /// blanks; one standing hold per case.
    pub case: String,
    /// Why (the legal matter), for the audit log.
    pub reason: String,
    /// What it covers.
    pub scope: HoldScope,
    /// The operator who places it.
    pub placed_by: String,
    /// When.
    pub placed_at: DateTime<Utc>,
}

/// A hold as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Hold {
    /// Journal id.
    pub id: i64,
    /// The case name.
    pub case: String,
    /// Why it was placed.
    pub reason: String,
    /// What it covers.
    pub scope: HoldScope,
    /// Who placed it.
    pub placed_by: String,
    /// When.
    pub placed_at: DateTime<Utc>,
    /// The latest request to release it, if any.
    pub release_request: Option<i64>,
    /// Who asked for its release (pending until a second operator approves).
    pub release_requested_by: Option<String>,
    /// When.
    pub release_requested_at: Option<DateTime<Utc>>,
    /// Who approved the release; the hold stands while this is `None`.
    pub released_by: Option<String>,
    /// When it was released.
    pub released_at: Option<DateTime<Utc>>,
    /// How many sets it covers now (a party hold: the sets sealed so far that match).
    pub covered: u64,
}

impl Hold {
    /// Whether the hold stands (not released).
    pub fn stands(&self) -> bool {
        self.released_at.is_none()
    }
}

/// What a four-eyes request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// Delete a set recorded in error.
    Delete,
    /// Release a hold.
    Release,
}

impl RequestKind {
    /// The stored form: `delete`, `release`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Delete => "delete",
            RequestKind::Release => "release",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delete" => Some(RequestKind::Delete),
            "release" => Some(RequestKind::Release),
            _ => None,
        }
    }
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that waits for (or got) a second operator's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Request {
    /// Journal id: the number `crctl approve` takes.
    pub id: i64,
    /// What it asks for.
    pub kind: RequestKind,
    /// The set to delete (kind `delete`).
    pub set_id: Option<String>,
    /// The case whose hold to release (kind `release`).
    pub case: Option<String>,
    /// Why (always given for a deletion).
    pub reason: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<DateTime<Utc>>,
    /// When it was carried out (a release: at approval; a deletion: when its receipt was
    /// sealed).
    pub done_at: Option<DateTime<Utc>>,
    /// The deletion receipt's set id (kind `delete`, once done).
    pub receipt_set_id: Option<String>,
}

/// An approved deletion that the deletion pass has still to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApprovedDeletion {
    /// The request.
    pub request: i64,
    /// The set to delete.
    pub set_id: String,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub requested_by: String,
    /// Who approved.
    pub approved_by: String,
    /// When.
    pub approved_at: DateTime<Utc>,
}

/// Refuses a case name that is empty, too long, has blanks around it or characters that
/// do not print (controls, bidirectional overrides, zero-width characters).
fn check_case(case: &str) -> Result<(), JournalError> {
    let bad = |reason: &str| JournalError::Invalid {
        what: "case name",
        value: case.to_owned(),
        reason: reason.to_owned(),
    };
    if case.trim().is_empty() {
        return Err(bad("it is empty"));
    }
    if case.chars().count() > CASE_MAX_CHARS {
        return Err(bad(&format!("it is longer than {CASE_MAX_CHARS} characters")));
    }
    if case.trim() != case {
        return Err(bad("it begins or ends with a blank"));
    }
    if case.chars().any(unprintable) {
        return Err(bad("it holds a character that does not print (a control, bidirectional or zero-width character)"));
    }
    Ok(())
}

fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Refuses an empty or overlong reason, or one with control characters other than line
/// breaks and tabs.
fn check_reason(reason: &str) -> Result<(), JournalError> {
    let bad = |why: String| JournalError::Invalid {
        what: "reason",
        value: reason.to_owned(),
        reason: why,
    };
    if reason.trim().is_empty() {
        return Err(bad("it is empty: say why".to_owned()));
    }
    if reason.chars().count() > REASON_MAX_CHARS {
        return Err(bad(format!("it is longer than {REASON_MAX_CHARS} characters")));
    }
    if reason.chars().any(|c| unprintable(c) && !matches!(c, '\n' | '\t')) {
        return Err(bad("it holds a character that does not print".to_owned()));
    }
    Ok(())
}

fn check_operator(name: &str) -> Result<(), JournalError> {
    if name.trim().is_empty() {
        return Err(JournalError::Invalid {
            what: "operator",
            value: name.to_owned(),
            reason: "it is empty".to_owned(),
        });
    }
    Ok(())
}

/// A standing party hold, ready to be matched against calls.
struct PartyHold {
    id: i64,
    case: String,
    digits: String,
    exact: bool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// The parties and start of a set's call.
struct CallParties {
    set_id: String,
    caller_digits: String,
    callee_digits: String,
    diversions: Vec<String>,
    started_at: DateTime<Utc>,
}

impl PartyHold {
    fn covers(&self, call: &CallParties) -> bool {
        let in_range = self.from.is_none_or(|f| call.started_at >= f)
            && self.to.is_none_or(|t| call.started_at < t);
        in_range
            && (numbers_match(&call.caller_digits, &self.digits, self.exact)
                || numbers_match(&call.callee_digits, &self.digits, self.exact)
                || call
                    .diversions
                    .iter()
                    .any(|d| numbers_match(&normalize_number(d), &self.digits, self.exact)))
    }
}

const CALL_PARTIES: &str = "SELECT r.set_id, c.caller_digits, c.callee_digits, c.diversions, c.started_at \
                            FROM recordings r JOIN calls c ON c.id = r.call_id";

fn call_parties_row(r: &Row) -> Result<CallParties, Bad> {
    Ok(CallParties {
        set_id: r.text(0)?,
        caller_digits: r.text(1)?,
        callee_digits: r.text(2)?,
        diversions: r.list(3)?,
        started_at: r.time(4)?,
    })
}

fn party_holds(s: &mut Session<'_>, op: &'static str, id: Option<i64>) -> Result<Vec<PartyHold>, JournalError> {
    s.query(
        op,
        "SELECT id, case_name, party_digits, party_exact, from_at, to_at FROM holds \
         WHERE party_digits IS NOT NULL AND released_at IS NULL AND (?1 IS NULL OR id = ?1) ORDER BY id",
        params![id],
        |r| {
            Ok(PartyHold {
                id: r.i64(0)?,
                case: r.text(1)?,
                digits: r.text(2)?,
                exact: r.bool(3)?,
                from: r.opt_time(4)?,
                to: r.opt_time(5)?,
            })
        },
    )
}

/// The sets a party hold covers now, in order of their call's start.
fn party_sets(s: &mut Session<'_>, op: &'static str, hold: &PartyHold) -> Result<Vec<String>, JournalError> {
    let calls = s.query(
        op,
        &format!(
            "{CALL_PARTIES} WHERE (?1 IS NULL OR c.started_at >= ?1) AND (?2 IS NULL OR c.started_at < ?2) \
             ORDER BY c.started_at, r.set_id"
        ),
        params![hold.from, hold.to],
        call_parties_row,
    )?;
    Ok(calls.into_iter().filter(|c| hold.covers(c)).map(|c| c.set_id).collect())
}

/// The case of the first-placed standing hold covering `set_id`; `Missing` for a set the
/// journal does not know.
fn hold_in(s: &mut Session<'_>, op: &'static str, journal: &Journal, set_id: &str) -> Result<Option<String>, JournalError> {
    let Some(call) = s.query_opt(
        op,
        &format!("{CALL_PARTIES} WHERE r.set_id = ?1"),
        params![set_id],
        call_parties_row,
    )?
    else {
        return Err(journal.store.missing(format!("recording set {set_id:?}")));
    };
    let listed = s.query_opt(
        op,
        "SELECT h.id, h.case_name FROM hold_sets hs JOIN holds h ON h.id = hs.hold_id \
         WHERE hs.set_id = ?1 AND h.released_at IS NULL ORDER BY h.id LIMIT 1",
        params![set_id],
        |r| Ok((r.i64(0)?, r.text(1)?)),
    )?;
    let party = party_holds(s, op, None)?
        .into_iter()
        .find(|h| h.covers(&call))
        .map(|h| (h.id, h.case));
    Ok(match (listed, party) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a.1 } else { b.1 }),
        (a, b) => a.or(b).map(|h| h.1),
    })
}

const HOLD_COLUMNS: &str = "h.id, h.case_name, h.reason, h.party, h.party_exact, h.from_at, h.to_at, \
     h.placed_by, h.placed_at, h.release_requested_by, h.release_requested_at, h.released_by, h.released_at, \
     (SELECT max(q.id) FROM requests q WHERE q.hold_id = h.id AND q.kind = 'release')";

fn read_holds(s: &mut Session<'_>, op: &'static str, standing_only: bool, case: Option<&str>) -> Result<Vec<Hold>, JournalError> {
    let mut holds = s.query(
        op,
        &format!(
            "SELECT {HOLD_COLUMNS} FROM holds h WHERE (NOT ?1 OR h.released_at IS NULL) \
             AND (?2 IS NULL OR h.case_name = ?2) ORDER BY h.id"
        ),
        params![standing_only, case],
        |r| {
            let party = r.opt_text(3)?;
            let exact = r.bool(4)?;
            let (from, to) = (r.opt_time(5)?, r.opt_time(6)?);
            Ok(Hold {
                id: r.i64(0)?,
                case: r.text(1)?,
                reason: r.text(2)?,
                scope: match party {
                    Some(number) => HoldScope::Party { number, exact, from, to },
                    None => HoldScope::Sets { set_ids: Vec::new() },
                },
                placed_by: r.text(7)?,
                placed_at: r.time(8)?,
                release_requested_by: r.opt_text(9)?,
                release_requested_at: r.opt_time(10)?,
                released_by: r.opt_text(11)?,
                released_at: r.opt_time(12)?,
                release_request: r.opt_i64(13)?,
                covered: 0,
            })
        },
    )?;
    for h in &mut holds {
        match &mut h.scope {
            HoldScope::Sets { set_ids } => {
                *set_ids = s.query(
                    op,
                    "SELECT set_id FROM hold_sets WHERE hold_id = ?1 ORDER BY set_id",
                    params![h.id],
                    |r| r.text(0),
                )?;
                h.covered = set_ids.len() as u64;
            }
            HoldScope::Party { number, exact, from, to } => {
                let party = PartyHold {
                    id: h.id,
                    case: h.case.clone(),
                    digits: normalize_number(number),
                    exact: *exact,
                    from: *from,
                    to: *to,
                };
                h.covered = party_sets(s, op, &party)?.len() as u64;
            }
        }
    }
    Ok(holds)
}

const REQUEST_COLUMNS: &str = "q.id, q.kind, q.set_id, h.case_name, q.reason, q.requested_by, q.requested_at, \
     q.approved_by, q.approved_at, q.done_at, q.receipt_set_id FROM requests q LEFT JOIN holds h ON h.id = q.hold_id";

fn request_row(r: &Row) -> Result<Request, Bad> {
    let kind = r.text(1)?;
    Ok(Request {
        id: r.i64(0)?,
        kind: RequestKind::parse(&kind).ok_or(Bad { what: "request kind", value: kind })?,
        set_id: r.opt_text(2)?,
        case: r.opt_text(3)?,
        reason: r.opt_text(4)?,
        requested_by: r.text(5)?,
        requested_at: r.time(6)?,
        approved_by: r.opt_text(7)?,
        approved_at: r.opt_time(8)?,
        done_at: r.opt_time(9)?,
        receipt_set_id: r.opt_text(10)?,
    })
}

fn read_request(s: &mut Session<'_>, op: &'static str, id: i64) -> Result<Option<Request>, JournalError> {
    s.query_opt(op, &format!("SELECT {REQUEST_COLUMNS} WHERE q.id = ?1"), params![id], request_row)
}

/// A request about to be made.
struct NewRequest<'a> {
    kind: RequestKind,
    set_id: Option<&'a str>,
    hold_id: Option<i64>,
    reason: Option<&'a str>,
    by: &'a str,
    at: DateTime<Utc>,
}

/// Inserts a request and returns its id, unless the same change was asked for before (a
/// set's deletion: ever; a hold's release: still pending) — then [`Refusal::AlreadyRequested`]
/// naming `what`.
fn insert_request(s: &mut Session<'_>, op: &'static str, req: &NewRequest<'_>, what: String) -> Result<i64, JournalError> {
    if let Some(request) = s.query_opt(
        op,
        "SELECT id FROM requests WHERE kind = ?1 AND (set_id = ?2 OR hold_id = ?3) \
         AND (kind = 'delete' OR approved_at IS NULL) ORDER BY id LIMIT 1",
        params![req.kind.as_str(), req.set_id, req.hold_id],
        |r| r.i64(0),
    )? {
        return Err(Refusal::AlreadyRequested { request, what }.into());
    }
    s.query_one(
        op,
        "INSERT INTO requests (kind, set_id, hold_id, reason, requested_by, requested_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![req.kind.as_str(), req.set_id, req.hold_id, req.reason, req.by, req.at],
        |r| r.i64(0),
    )
}

/// A request just written, read back in the same transaction.
fn request_now(s: &mut Session<'_>, op: &'static str, journal: &Journal, id: i64) -> Result<Request, JournalError> {
    read_request(s, op, id)?.ok_or_else(|| journal.store.missing(format!("request {id}")))
}

impl Journal {
    /// Places a legal hold, with audit event `hold_placed`, and returns it with the number
    /// of sets it covers now. Refused ([`Refusal::CaseStanding`]) when the case has a
    /// standing hold; [`JournalError::Missing`] names a listed set the journal does not
    /// know; [`JournalError::Invalid`] a bad case name, reason, set id or a party number
    /// without digits. Nothing is written when it fails.
    pub fn place_hold(&self, hold: &NewHold) -> Result<Hold, JournalError> {
        check_case(&hold.case)?;
        check_reason(&hold.reason)?;
        check_operator(&hold.placed_by)?;
        let (party, digits, exact, from, to, mut set_ids) = match &hold.scope {
            HoldScope::Sets { set_ids } => {
                if set_ids.is_empty() {
                    return Err(JournalError::Invalid {
                        what: "hold",
                        value: hold.case.clone(),
                        reason: "it names no set".to_owned(),
                    });
                }
                for id in set_ids {
                    check_set_id(id)?;
                }
                (None, None, false, None, None, set_ids.clone())
            }
            HoldScope::Party { number, exact, from, to } => {
                let digits = normalize_number(number);
                if digits.is_empty() {
                    return Err(JournalError::Invalid {
                        what: "party number",
                        value: number.clone(),
                        reason: "it holds no digits other than leading zeros".to_owned(),
                    });
                }
                if let (Some(f), Some(t)) = (from, to)
                    && t <= f
                {
                    return Err(JournalError::Invalid {
                        what: "time range",
                        value: format!("{f} .. {t}"),
                        reason: "its end must be later than its start".to_owned(),
                    });
                }
                (Some(number.as_str()), Some(digits), *exact, *from, *to, Vec::new())
            }
        };
        set_ids.sort();
        set_ids.dedup();
        let op = "place a hold";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, LOCK)?;
        if let Some(placed_by) = s.query_opt(
            op,
            "SELECT placed_by FROM holds WHERE case_name = ?1 AND released_at IS NULL",
            params![&hold.case],
            |r| r.text(0),
        )? {
            return Err(Refusal::CaseStanding {
                case: hold.case.clone(),
                placed_by,
            }
            .into());
        }
        for id in &set_ids {
            if s.query_opt(op, "SELECT set_id FROM recordings WHERE set_id = ?1", params![id], |r| r.text(0))?
                .is_none()
            {
                return Err(self.store.missing(format!("recording set {id:?}")));
            }
        }
        let id = s.query_one(
            op,
            "INSERT INTO holds (case_name, reason, party, party_digits, party_exact, from_at, to_at, placed_by, placed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
            params![
                &hold.case,
                &hold.reason,
                party,
                digits.as_deref(),
                exact,
                from,
                to,
                &hold.placed_by,
                hold.placed_at
            ],
            |r| r.i64(0),
        )?;
        for set in &set_ids {
            s.execute(op, "INSERT INTO hold_sets (hold_id, set_id) VALUES (?1, ?2)", params![id, set])?;
        }
        let placed = read_holds(&mut s, op, false, Some(&hold.case))?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or_else(|| self.store.missing(format!("hold {id} just placed")))?;
        insert_audit(
            &mut s,
            op,
            &AuditKind::HoldPlaced,
            hold.placed_at,
            Some(&hold.placed_by),
            None,
            &serde_json::json!({
                "hold": id,
                "case": hold.case,
                "reason": hold.reason,
                "scope": placed.scope,
                "covered": placed.covered,
            }),
        )?;
        s.commit(op)?;
        Ok(placed)
    }

    /// The holds, oldest first: only the standing ones, or all (with the released).
    pub fn holds(&self, standing_only: bool) -> Result<Vec<Hold>, JournalError> {
        let op = "list holds";
        let mut s = self.store.begin(TxKind::Read, op)?;
        let holds = read_holds(&mut s, op, standing_only, None)?;
        s.commit(op)?;
        Ok(holds)
    }

    /// The case of a standing hold that covers the set — listed by id, or by party (its
    /// number matches the call's caller, callee or a diversion, and the call started in the
    /// hold's range) — the first placed when several do; `None` when none does. A set the
    /// journal does not know is [`JournalError::Missing`]: the deletion pass never deletes
    /// what it cannot check.
    pub fn hold_of(&self, set_id: &str) -> Result<Option<String>, JournalError> {
        let op = "look up the holds of a set";
        let mut s = self.store.begin(TxKind::Read, op)?;
        let case = hold_in(&mut s, op, self, set_id)?;
        s.commit(op)?;
        Ok(case)
    }

    /// Asks for the deletion of a set recorded in error, with audit event
    /// `deletion_requested`; it takes effect when a different operator
    /// [`approve`](Self::approve)s it and the deletion pass carries it out. Refused
    /// ([`Refusal::Held`]) while a hold covers the set, and ([`Refusal::AlreadyRequested`])
    /// when its deletion was requested before (pending, approved or done); [`JournalError::Missing`]
    /// for an unknown set. Nothing is written when it fails.
    pub fn request_deletion(
        &self,
        set_id: &str,
        reason: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Request, JournalError> {
        check_set_id(set_id)?;
        check_reason(reason)?;
        check_operator(by)?;
        let op = "request a deletion";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, LOCK)?;
        if let Some(case) = hold_in(&mut s, op, self, set_id)? {
            return Err(Refusal::Held {
                set_id: set_id.to_owned(),
                case,
            }
            .into());
        }
        let request = NewRequest {
            kind: RequestKind::Delete,
            set_id: Some(set_id),
            hold_id: None,
            reason: Some(reason),
            by,
            at,
        };
        let id = insert_request(&mut s, op, &request, format!("the deletion of set {set_id}"))?;
        insert_audit(
            &mut s,
            op,
            &AuditKind::DeletionRequested,
            at,
            Some(by),
            Some(set_id),
            &serde_json::json!({"request": id, "reason": reason}),
        )?;
        let request = request_now(&mut s, op, self, id)?;
        s.commit(op)?;
        Ok(request)
    }

    /// Asks for the release of the standing hold of `case`, with audit event
    /// `hold_release_requested`; the hold stands until a different operator
    /// [`approve`](Self::approve)s it. [`JournalError::Missing`] when the case has no
    /// standing hold; refused ([`Refusal::AlreadyRequested`]) when its release is already
    /// pending.
    pub fn request_release(
        &self,
        case: &str,
        reason: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Request, JournalError> {
        check_case(case)?;
        if let Some(reason) = reason {
            check_reason(reason)?;
        }
        check_operator(by)?;
        let op = "request a hold's release";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, LOCK)?;
        let Some(hold) = s.query_opt(
            op,
            "SELECT id FROM holds WHERE case_name = ?1 AND released_at IS NULL",
            params![case],
            |r| r.i64(0),
        )?
        else {
            return Err(self.store.missing(format!("standing hold of case {case:?}")));
        };
        let request = NewRequest {
            kind: RequestKind::Release,
            set_id: None,
            hold_id: Some(hold),
            reason,
            by,
            at,
        };
        let id = insert_request(&mut s, op, &request, format!("the release of case {case}"))?;
        s.execute(
            op,
            "UPDATE holds SET release_requested_by = ?2, release_requested_at = ?3 WHERE id = ?1",
            params![hold, by, at],
        )?;
        insert_audit(
            &mut s,
            op,
            &AuditKind::HoldReleaseRequested,
            at,
            Some(by),
            None,
            &serde_json::json!({"request": id, "hold": hold, "case": case, "reason": reason}),
        )?;
        let request = request_now(&mut s, op, self, id)?;
        s.commit(op)?;
        Ok(request)
    }

    /// The requests, oldest first: those not carried out yet (waiting for approval, or a
    /// deletion approved but not yet done by the deletion pass), or with `all` every one.
    pub fn requests(&self, all: bool) -> Result<Vec<Request>, JournalError> {
        let filter = if all { "" } else { " WHERE q.done_at IS NULL" };
        self.store.conn()?.query("list requests", &format!("SELECT {REQUEST_COLUMNS}{filter} ORDER BY q.id"), params![], request_row)
    }

    /// One request.
    pub fn request(&self, id: i64) -> Result<Option<Request>, JournalError> {
        let op = "read a request";
        let mut s = self.store.conn()?;
        read_request(&mut s, op, id)
    }

    /// Approves a request as operator `by`, with audit event `request_approved`: a
    /// release releases the hold at once (audit event `hold_released`); a deletion waits
    /// for the deletion pass ([`approved_deletions`](Self::approved_deletions)). Refused
    /// when `by` made the request ([`Refusal::OwnRequest`]), when it was approved already
    /// ([`Refusal::NotPending`]), and for a deletion when a hold now covers the set
    /// ([`Refusal::Held`]); [`JournalError::Missing`] for an unknown request. Nothing is
    /// written when it fails.
    pub fn approve(&self, request: i64, by: &str, at: DateTime<Utc>) -> Result<Request, JournalError> {
        check_operator(by)?;
        let op = "approve a request";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, LOCK)?;
        let Some(req) = read_request(&mut s, op, request)? else {
            return Err(self.store.missing(format!("request {request}")));
        };
        if let Some(approved_by) = req.approved_by.clone() {
            return Err(Refusal::NotPending { request, approved_by }.into());
        }
        if req.requested_by == by {
            return Err(Refusal::OwnRequest {
                request,
                operator: by.to_owned(),
            }
            .into());
        }
        let details = serde_json::json!({
            "request": request,
            "kind": req.kind,
            "requested_by": req.requested_by,
            "set_id": req.set_id,
            "case": req.case,
        });
        match req.kind {
            RequestKind::Delete => {
                let set_id = req.set_id.as_deref().unwrap_or_default();
                if let Some(case) = hold_in(&mut s, op, self, set_id)? {
                    return Err(Refusal::Held {
                        set_id: set_id.to_owned(),
                        case,
                    }
                    .into());
                }
                s.execute(
                    op,
                    "UPDATE requests SET approved_by = ?2, approved_at = ?3 WHERE id = ?1",
                    params![request, by, at],
                )?;
                insert_audit(&mut s, op, &AuditKind::RequestApproved, at, Some(by), req.set_id.as_deref(), &details)?;
            }
            RequestKind::Release => {
                s.execute(
                    op,
                    "UPDATE requests SET approved_by = ?2, approved_at = ?3, done_at = ?3 WHERE id = ?1",
                    params![request, by, at],
                )?;
                s.execute(
                    op,
                    "UPDATE holds SET released_by = ?2, released_at = ?3 \
                     WHERE id = (SELECT hold_id FROM requests WHERE id = ?1)",
                    params![request, by, at],
                )?;
                insert_audit(&mut s, op, &AuditKind::RequestApproved, at, Some(by), None, &details)?;
                insert_audit(
                    &mut s,
                    op,
                    &AuditKind::HoldReleased,
                    at,
                    Some(by),
                    None,
                    &serde_json::json!({
                        "case": req.case,
                        "request": request,
                        "requested_by": req.requested_by,
                        "approved_by": by,
                    }),
                )?;
            }
        }
        let done = request_now(&mut s, op, self, request)?;
        s.commit(op)?;
        Ok(done)
    }

    /// Approved deletions not carried out yet, in the order they were approved: the
    /// deletion pass deletes each set (unless [`hold_of`](Self::hold_of) names a hold),
    /// seals its receipt, then calls [`deletion_request_done`](Self::deletion_request_done).
    pub fn approved_deletions(&self) -> Result<Vec<ApprovedDeletion>, JournalError> {
        self.store.conn()?.query(
            "list approved deletions",
            "SELECT id, set_id, reason, requested_by, approved_by, approved_at FROM requests \
             WHERE kind = 'delete' AND approved_at IS NOT NULL AND done_at IS NULL ORDER BY approved_at, id",
            params![],
            |r| {
                Ok(ApprovedDeletion {
                    request: r.i64(0)?,
                    set_id: r.text(1)?,
                    reason: r.text(2)?,
                    requested_by: r.text(3)?,
                    approved_by: r.text(4)?,
                    approved_at: r.time(5)?,
                })
            },
        )
    }

    /// Records that an approved deletion was carried out and its receipt, a set in the
    /// chain, was sealed. Repeating it with the same receipt changes nothing (a pass that
    /// stopped after sealing may run it again). [`JournalError::Missing`] for an unknown
    /// request or a receipt not in the chain; [`JournalError::Invalid`] for a release
    /// request, one not approved, or one done with another receipt.
    pub fn deletion_request_done(
        &self,
        request: i64,
        receipt_set_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        check_set_id(receipt_set_id)?;
        let op = "record a deletion request as done";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, LOCK)?;
        let Some(req) = read_request(&mut s, op, request)? else {
            return Err(self.store.missing(format!("request {request}")));
        };
        let invalid = |reason: String| JournalError::Invalid {
            what: "deletion request",
            value: request.to_string(),
            reason,
        };
        if req.kind != RequestKind::Delete {
            return Err(invalid("it is a release request".to_owned()));
        }
        if req.approved_at.is_none() {
            return Err(invalid("it is not approved yet".to_owned()));
        }
        if let Some(done) = &req.receipt_set_id {
            return if done == receipt_set_id {
                Ok(())
            } else {
                Err(invalid(format!("it was done already, with receipt {done}")))
            };
        }
        if s.query_opt(op, "SELECT seq FROM chain WHERE set_id = ?1", params![receipt_set_id], |r| r.i64(0))?
            .is_none()
        {
            return Err(self.store.missing(format!("receipt set {receipt_set_id:?} in the chain")));
        }
        s.execute(
            op,
            "UPDATE requests SET done_at = ?2, receipt_set_id = ?3 WHERE id = ?1",
            params![request, at, receipt_set_id],
        )?;
        s.commit(op)
    }
}
