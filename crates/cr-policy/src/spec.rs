//! The directory and the recording configurations as plain data, before they are indexed.



/// Which audio a configuration keeps (SPEC S10): the workspace's one channel-mode type.
pub use cr_types::Channels;
pub use cr_types::Period;
/// What the PBX does with a recorded call the recorder cannot take: the workspace's one type.
pub use cr_types::decision_log::OnFailure;

/// An unknown channel mode (`channels = "mono"`).
pub type UnknownChannels = cr_types::UnknownName;

/// A user of the directory (`[[users]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserSpec {
    /// Unique id.
    pub id: String,
    /// Personal numbers, in any form a PBX may send (normalised when built).
    pub numbers: Vec<String>,
}

impl UserSpec {
    /// A user without numbers.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), numbers: Vec::new() }
    }

    /// Adds a number.
    pub fn number(mut self, n: impl Into<String>) -> Self {
        self.numbers.push(n.into());
        self
    }

    /// Adds numbers.
    pub fn numbers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ns: I) -> Self {
        self.numbers.extend(ns.into_iter().map(Into::into));
        self
    }
}

/// A group of the directory (`[[groups]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupSpec {
    /// Unique id.
    pub id: String,
    /// The group's own number (a hunt group, a queue); optional.
    pub number: Option<String>,
    /// Member user ids.
    pub members: Vec<String>,
    /// Members that start logged out (each must be in `members`).
    pub inactive: Vec<String>,
}

impl GroupSpec {
    /// A group without number and members.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), ..Self::default() }
    }

    /// Sets the group's number. Default: none.
    pub fn number(mut self, n: impl Into<String>) -> Self {
        self.number = Some(n.into());
        self
    }

    /// Adds members (active at start unless also given to [`inactive`](Self::inactive)).
    pub fn members<I: IntoIterator<Item = S>, S: Into<String>>(mut self, users: I) -> Self {
        self.members.extend(users.into_iter().map(Into::into));
        self
    }

    /// Marks members as logged out at start. Default: every member is active.
    pub fn inactive<I: IntoIterator<Item = S>, S: Into<String>>(mut self, users: I) -> Self {
        self.inactive.extend(users.into_iter().map(Into::into));
        self
    }
}

/// A recording configuration (`[[recordings]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingSpec {
    /// Unique name.
    pub name: String,
    /// Recorded groups (their number for incoming calls, their active members for outgoing).
    pub groups: Vec<String>,
    /// Recorded users (their numbers for incoming calls, their outgoing calls).
    pub users: Vec<String>,
    /// S7: also record incoming calls to the personal number of an active member of one of
    /// `groups`.
    pub record_direct_calls_to_active_members: bool,
    /// Channel mode.
    pub channels: Channels,
    /// Announcement played to the caller of incoming calls (a path, as configured).
    pub announcement_incoming: Option<String>,
    /// Announcement played to the caller of outgoing calls.
    pub announcement_outgoing: Option<String>,
    /// Storage target names.
    pub targets: Vec<String>,
    /// How long its sets are kept; `None`: the installation's default applies.
    pub retention: Option<Period>,
    /// What the PBX does with a call this configuration must record when the recorder
    /// cannot take it.
    pub on_failure: OnFailure,
}

impl RecordingSpec {
    /// A configuration that records nobody yet: stereo, no announcements, no targets.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }

    /// Adds recorded groups.
    pub fn groups<I: IntoIterator<Item = S>, S: Into<String>>(mut self, groups: I) -> Self {
        self.groups.extend(groups.into_iter().map(Into::into));
        self
    }

    /// Adds recorded users.
    pub fn users<I: IntoIterator<Item = S>, S: Into<String>>(mut self, users: I) -> Self {
        self.users.extend(users.into_iter().map(Into::into));
        self
    }

    /// S7 option. Default: off.
    pub fn record_direct_calls_to_active_members(mut self, on: bool) -> Self {
        self.record_direct_calls_to_active_members = on;
        self
    }

    /// Channel mode. Default: [`Channels::Stereo`].
    pub fn channels(mut self, c: Channels) -> Self {
        self.channels = c;
        self
    }

    /// Announcement for incoming calls. Default: none.
    pub fn announcement_incoming(mut self, path: impl Into<String>) -> Self {
        self.announcement_incoming = Some(path.into());
        self
    }

    /// Announcement for outgoing calls. Default: none.
    pub fn announcement_outgoing(mut self, path: impl Into<String>) -> Self {
        self.announcement_outgoing = Some(path.into());
        self
    }

    /// How long the configuration's sets are kept (from the call's start). Default: none,
    /// which leaves it to the installation's default (`[retention] default`).
    pub fn retention(mut self, period: Period) -> Self {
        self.retention = Some(period);
        self
    }

    /// What the PBX does with a call this configuration must record when the recorder
    /// cannot take it. Default: [`OnFailure::Allow`] (the call goes on unrecorded, and the
    /// failure is in the decision log).
    pub fn on_failure(mut self, on_failure: OnFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// Adds storage target names. Default: none.
    pub fn targets<I: IntoIterator<Item = S>, S: Into<String>>(mut self, targets: I) -> Self {
        self.targets.extend(targets.into_iter().map(Into::into));
        self
    }
}
