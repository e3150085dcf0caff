//! Errors of the policy crate.

use std::fmt;

use crate::number::Redacted;

/// A number or number-plan setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// Nothing of a number is left after normalising (empty, only punctuation, `sip:@host`).
    #[error("{} is not a phone number or SIP user name", Redacted(raw))]
    NotANumber {
        /// The text as given (personal data: shown redacted).
        raw: String,
    },
    /// The country code is not 1 to 3 digits.
    #[error("country code {code:?} is not 1 to 3 digits (e.g. \"49\")")]
    BadCountryCode {
        /// As given.
        code: String,
    },
    /// The area code is not 1 to 6 digits.
    #[error("area code {code:?} is not 1 to 6 digits (e.g. \"30\")")]
    BadAreaCode {
        /// As given.
        code: String,
    },
}

/// One problem in the directory or the recording configurations given to
/// [`PolicyBuilder::build`](crate::PolicyBuilder::build).
///
/// [`key`](Self::key) names the offending entry in the dotted form of the configuration
/// file (`groups[0].members[2]`): entries are counted in the order they were added to the
/// builder, which is the order of the file when built by `Policy::from_config`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {kind}")]
pub struct BuildError {
    /// Where: `users[1].numbers[0]`, `recordings[2].groups[0]`, ...
    pub key: String,
    /// What.
    pub kind: BuildErrorKind,
}

impl BuildError {
    pub(crate) fn new(key: impl Into<String>, kind: BuildErrorKind) -> Self {
        Self { key: key.into(), kind }
    }

    /// The dotted key of the offending entry.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The message without the key.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

/// What is wrong in a [`BuildError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// An id or name is empty.
    #[error("must not be empty")]
    Empty,
    /// Two users, two groups or two configurations share an id.
    #[error("duplicate id {id:?}: {first} has it already")]
    DuplicateId {
        /// The id.
        id: String,
        /// Key of the first entry with it.
        first: String,
    },
    /// A number cannot be normalised.
    #[error("{0}")]
    BadNumber(NumberError),
    /// One number (after normalising) belongs to two owners, or twice to one.
    #[error("number {} (normalised) is already the number of {owner} ({first}): a number may belong to one user or group only", Redacted(number))]
    NumberOwnedTwice {
        /// The normalised number.
        number: String,
        /// "user alice" or "group trading".
        owner: String,
        /// Key of the first entry with it.
        first: String,
    },
    /// A user id that no user has.
    #[error("unknown user {user:?}: add it to [[users]] or remove it here")]
    UnknownUser {
        /// The id as written.
        user: String,
    },
    /// A group id that no group has.
    #[error("unknown group {group:?}: add it to [[groups]] or remove it here")]
    UnknownGroup {
        /// The id as written.
        group: String,
    },
    /// A name listed twice in one list.
    #[error("{name:?} is listed twice ({first})")]
    ListedTwice {
        /// The entry.
        name: String,
        /// Key of the first listing.
        first: String,
    },
    /// `inactive` names a user that is not in `members`.
    #[error("user {user:?} is listed as inactive but is not a member of group {group:?}: add it to members")]
    InactiveNotMember {
        /// The user id.
        user: String,
        /// The group id.
        group: String,
    },
    /// The country or area code is unusable.
    #[error("{0}")]
    BadPlan(NumberError),
}

/// All problems found by [`PolicyBuilder::build`](crate::PolicyBuilder::build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildErrors(pub Vec<BuildError>);

impl fmt::Display for BuildErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the recording policy", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildErrors {}

/// A membership change or query that names an unknown group, user or membership.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// No group has this id.
    #[error("unknown group {group:?}")]
    UnknownGroup {
        /// As given.
        group: String,
    },
    /// No user has this id.
    #[error("unknown user {user:?}")]
    UnknownUser {
        /// As given.
        user: String,
    },
    /// The user exists but is not a member of the group.
    #[error("user {user:?} is not a member of group {group:?}")]
    NotAMember {
        /// The user id.
        user: String,
        /// The group id.
        group: String,
    },
}
