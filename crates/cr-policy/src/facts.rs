//! Call facts in, decisions out (docs/reference.md §2).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::number::{NumberPlan, Redacted, redact_digit_runs};
use crate::spec::Channels;

/// Which way a call goes: the workspace's one direction type.
pub use cr_types::Direction;

/// A call as a PBX adapter describes it (docs/reference.md §2):
/// `{"direction": "incoming", "caller": "+4930999888", "callee": "300", "diversions": ["301"]}`.
///
/// Numbers are kept as the PBX reported them; the policy normalises them. `callee` is the
/// destination *after* diversions; `diversions` lists the numbers dialled before, oldest
/// first. A missing or `null` caller (anonymous call) is an empty string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallFacts {
    /// Which way the call goes.
    pub direction: Direction,
    /// The calling number.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub caller: String,
    /// The called number after diversions.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub callee: String,
    /// Numbers dialled before the callee, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub diversions: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_as_default<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl CallFacts {
    /// Call facts without diversions.
    pub fn new(direction: Direction, caller: impl Into<String>, callee: impl Into<String>) -> Self {
        Self { direction, caller: caller.into(), callee: callee.into(), diversions: Vec::new() }
    }

    /// An incoming call.
    pub fn incoming(caller: impl Into<String>, callee: impl Into<String>) -> Self {
        Self::new(Direction::Incoming, caller, callee)
    }

    /// An outgoing call.
    pub fn outgoing(caller: impl Into<String>, callee: impl Into<String>) -> Self {
        Self::new(Direction::Outgoing, caller, callee)
    }

    /// A call between two PBX users.
    pub fn internal(caller: impl Into<String>, callee: impl Into<String>) -> Self {
        Self::new(Direction::Internal, caller, callee)
    }

    /// Adds the numbers dialled before the callee, oldest first.
    pub fn diverted_from<I: IntoIterator<Item = S>, S: Into<String>>(mut self, numbers: I) -> Self {
        self.diversions.extend(numbers.into_iter().map(Into::into));
        self
    }

    /// A form for logs: `incoming ***888 -> ***` (numbers reduced to their user part, then
    /// redacted).
    pub fn redacted(&self) -> impl fmt::Display + '_ {
        RedactedFacts(self)
    }
}

struct RedactedFacts<'a>(&'a CallFacts);

impl fmt::Display for RedactedFacts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let plain = NumberPlan::new();
        let n = |raw: &str| plain.normalize(raw).unwrap_or_else(|_| raw.to_owned());
        write!(f, "{} {} -> {}", c.direction.as_str(), Redacted(&n(&c.caller)), Redacted(&n(&c.callee)))?;
        if !c.diversions.is_empty() {
            f.write_str(" diverted from")?;
            for d in &c.diversions {
                write!(f, " {}", Redacted(&n(d)))?;
            }
        }
        Ok(())
    }
}

/// Why a decision came out the way it did.
///
/// Displays in full (`incoming call to group trading (300)`), which is what the decision's
/// JSON carries; [`redacted`](Self::redacted) shows the same with every phone number
/// redacted, for logs at INFO and below.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reason {
    segs: Vec<Seg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Static(&'static str),
    Name(Arc<str>),
    Number(Arc<str>),
    Text(String),
}

impl Reason {
    pub(crate) fn new() -> Self {
        Self { segs: Vec::with_capacity(8) }
    }

    /// A reason from free text (e.g. read back from JSON); redaction masks its digit runs.
    pub fn text(s: impl Into<String>) -> Self {
        Self { segs: vec![Seg::Text(s.into())] }
    }

    pub(crate) fn s(mut self, s: &'static str) -> Self {
        self.segs.push(Seg::Static(s));
        self
    }

    pub(crate) fn name(mut self, n: &Arc<str>) -> Self {
        self.segs.push(Seg::Name(n.clone()));
        self
    }

    pub(crate) fn name_owned(mut self, n: &str) -> Self {
        self.segs.push(Seg::Name(Arc::from(n)));
        self
    }

    pub(crate) fn num(mut self, n: &Arc<str>) -> Self {
        self.segs.push(Seg::Number(n.clone()));
        self
    }

    pub(crate) fn num_owned(mut self, n: &str) -> Self {
        self.segs.push(Seg::Number(Arc::from(n)));
        self
    }

    /// The reason with phone numbers redacted (see [`Redacted`]).
    pub fn redacted(&self) -> impl fmt::Display + '_ {
        RedactedReason(self)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segs {
            match s {
                Seg::Static(t) => f.write_str(t)?,
                Seg::Name(t) | Seg::Number(t) => f.write_str(t)?,
                Seg::Text(t) => f.write_str(t)?,
            }
        }
        Ok(())
    }
}

struct RedactedReason<'a>(&'a Reason);

impl fmt::Display for RedactedReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.0.segs {
            match s {
                Seg::Static(t) => f.write_str(t)?,
                Seg::Name(t) => f.write_str(t)?,
                Seg::Number(t) => write!(f, "{}", Redacted(t))?,
                Seg::Text(t) => redact_digit_runs(t, f)?,
            }
        }
        Ok(())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Reason::text(String::deserialize(d)?))
    }
}

/// The outcome for one call (docs/reference.md §2):
///
/// ```json
/// {"record": true, "configuration": "trading-desk", "channels": "stereo",
///  "announcement": "announcements/incoming.wav", "targets": ["nas", "offsite"],
///  "reason": "incoming call to group trading (300)"}
/// ```
///
/// `on_failure` (`"block"` or `"allow"`) says what the PBX does when the call must be
/// recorded but the recorder cannot take it.
///
/// When the call is not recorded, `configuration`, `channels`, `announcement` and
/// `on_failure` are null,
/// `targets` is empty and `reason` says why nothing applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Decision {
    /// Whether the call is recorded.
    pub record: bool,
    /// The configuration that records it.
    pub configuration: Option<Arc<str>>,
    /// Its channel mode.
    pub channels: Option<Channels>,
    /// The announcement to play to the caller first, if the configuration has one for this
    /// call's direction.
    pub announcement: Option<Arc<str>>,
    /// Where the recording goes.
    pub targets: Arc<[Arc<str>]>,
    /// The configuration's retention period (`"5y"`), when it names one; absent from the
    /// JSON otherwise (the installation's default, if any, applies at sealing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::spec::Period>,
    /// What the PBX does when the call must be recorded but the recorder cannot take it
    /// (`[[recordings]] on_failure`): `block` hangs up, `allow` goes on unrecorded;
    /// `null` when the call is not recorded.
    #[serde(default)]
    pub on_failure: Option<crate::spec::OnFailure>,
    /// Why.
    pub reason: Reason,
}

impl Decision {
    /// A decision not to record, with its reason.
    pub fn not_recorded(reason: Reason) -> Self {
        Self {
            record: false,
            configuration: None,
            channels: None,
            announcement: None,
            targets: Arc::from(Vec::new()),
            retention: None,
            on_failure: None,
            reason,
        }
    }
}

/// The state of one group membership, for export and import (e.g. kept in a journal so that
/// log-ins and log-outs survive a restart).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MembershipState {
    /// Group id.
    pub group: String,
    /// User id.
    pub user: String,
    /// Logged in (true) or out (false).
    pub active: bool,
}
