//! # cr-reconcile
//!
//! Reconciliation of the PBX's own call records against the journal (issue 15): did
//! every call the policy says to record get a set, and a whole one? The PBX's CDR file —
//! Asterisk `cdr_csv` (`Master.csv`), FreeSWITCH `mod_cdr_csv` (template `default`),
//! Cisco CUCM CDR files, or any CSV with a [`ColumnMap`] — is read into [`CdrCall`]s
//! ([`read_cdr`]); [`reconcile`] applies the policy as it stood at each call (the
//! configuration's memberships, then the journal's run-time log-ins and log-outs replayed
//! in time order), matches the journal's sets (by the PBX's call id, else by parties and a
//! start within [`Options::match_window`]) and gives each call one [`Verdict`]. The
//! [`Report`] prints as text or JSON; `crctl reconcile` is the thin I/O layer around it.
//!
//! No I/O and no clock in the core: the caller feeds the file and the journal's rows.
//! Cargo feature `run` (off by default) adds [`run`]: one reconciliation of a CDR file
//! against an installation's configuration and journal.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use cr_policy::{GroupSpec, Policy, RecordingSpec, UserSpec};
//! use cr_reconcile::{Format, Options, Verdict, read_cdr, reconcile};
//!
//! let policy = Policy::builder()
//!     .user(UserSpec::new("alice").number("201"))
//!     .group(GroupSpec::new("trading").number("300").members(["alice"]))
//!     .recording(RecordingSpec::new("desk").groups(["trading"]).targets(["nas"]))
//!     .build()?;
//! // Two incoming calls to the trading group, as Asterisk's Master.csv has them (UTC here).
//! let cdr = concat!(
//!     r#""","+4930999888","300","from-pstn","""Ext"" <+4930999888>","SIP/trunk-1","SIP/201-2","Dial","SIP/201","2026-11-26 09:00:00","2026-11-26 09:00:05","2026-11-26 09:01:45",105,100,"ANSWERED","DOCUMENTATION","1795683600.1","""#, "\n",
//!     r#""","+4930999777","300","from-pstn","","SIP/trunk-3","SIP/201-4","Dial","SIP/201","2026-11-26 10:00:00","2026-11-26 10:00:02","2026-11-26 10:01:02",62,60,"ANSWERED","DOCUMENTATION","1795687200.3","""#, "\n",
//! );
//! let rows = read_cdr(&Format::Asterisk, Some(chrono_tz::Tz::UTC), cdr.as_bytes())?;
//! let t = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 5).unwrap();
//! let set = cr_journal::RecordedCall {
//!     set_id: "20261126T090005Z-0001".into(),
//!     pbx_call_id: "1795683600.1".into(),
//!     direction: cr_journal::Direction::Incoming,
//!     caller: "+4930999888".into(),
//!     callee: "300".into(),
//!     started_at: t,
//!     ended_at: t + chrono::Duration::seconds(100),
//!     flags: vec![],
//!     deleted_at: None,
//! };
//! let report = reconcile(&policy, &Options::default(), rows, vec![set], vec![]);
//! assert_eq!(report.calls[0].verdict, Verdict::Recorded);
//! assert_eq!(report.calls[1].verdict, Verdict::Missing);
//! assert!(report.has_problems());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cdr;
mod error;
mod history;
mod reconcile;
mod report;
#[cfg(feature = "run")]
mod run;
#[cfg(feature = "run")]
mod schedule;
mod time;

pub use cdr::{CdrCall, CdrRows, ColumnMap, Format, read_cdr};
pub use error::{CdrError, RowError};
pub use reconcile::{CallVerdict, MatchedBy, Options, Verdict, reconcile};
pub use report::{Report, Summary};
#[cfg(feature = "run")]
pub use run::{Job, RunError, run};
#[cfg(feature = "run")]
pub use schedule::{MAX_RECONCILE_INTERVAL, MIN_RECONCILE_INTERVAL, Schedule};
