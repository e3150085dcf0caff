//! # cr-policy
//!
//! Which calls are recorded, by which configuration, and why (SPEC S1–S9, S12–S13): a
//! directory of users and groups with active or logged-out memberships, recording
//! configurations evaluated in order, and call facts in → [`Decision`] out (docs/reference.md §2).
//! No I/O and no configuration file needed: build a [`Policy`] with [`PolicyBuilder`]
//! (or, with the `config` feature, `Policy::from_config(&cr_config::Config)`).
//!
//! A decision is a few hash look-ups on indexes built once; the policy is `Send + Sync`, so
//! one `Arc<Policy>` serves every thread. Log-in and log-out ([`Policy::set_active`]) take
//! effect at once. [`Policy::decide_and_claim`] makes sure one call id is recorded once
//! until [`Policy::release`].
//!
//! Phone numbers are personal data: [`Redacted`], [`Reason::redacted`] and
//! [`CallFacts::redacted`] show them for logs with only their last three digits.
//!
//! Cargo feature `config` (off by default): `Policy::from_config(&cr_config::Config)` and
//! `check_config` read `[installation]` (`country_code`, `area_code`), `[[users]]`,
//! `[[groups]]` and `[[recordings]]` of `callrec.toml`, with errors naming file, line and key.
//!
//! ```
//! use cr_policy::{CallFacts, Channels, GroupSpec, Policy, RecordingSpec, UserSpec};
//!
//! let policy = Policy::builder()
//!     .user(UserSpec::new("alice").numbers(["201", "+4930555201"]))
//!     .user(UserSpec::new("bob").number("202"))
//!     .group(GroupSpec::new("trading").number("300").members(["alice", "bob"]).inactive(["bob"]))
//!     .recording(
//!         RecordingSpec::new("trading-desk")
//!             .groups(["trading"])
//!             .channels(Channels::Stereo)
//!             .announcement_incoming("announcements/incoming.wav")
//!             .targets(["nas", "offsite"]),
//!     )
//!     .build()?;
//!
//! let d = policy.decide(&CallFacts::incoming("+4930999888", "sip:300@pbx;user=phone"));
//! assert!(d.record);
//! assert_eq!(d.reason.to_string(), "incoming call to group trading (300)");
//! assert_eq!(
//!     serde_json::to_string(&d)?,
//!     r#"{"record":true,"configuration":"trading-desk","channels":"stereo","announcement":"announcements/incoming.wav","targets":["nas","offsite"],"on_failure":"allow","reason":"incoming call to group trading (300)"}"#
//! );
//!
//! // Bob is logged out: his outgoing calls are not recorded through the group.
//! let d = policy.decide(&CallFacts::outgoing("202", "+4930999888"));
//! assert!(!d.record);
//! assert!(d.reason.to_string().contains("user bob is logged out of group trading"));
//! policy.set_active("trading", "bob", true)?;
//! assert!(policy.decide(&CallFacts::outgoing("202", "+4930999888")).record);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "config")]
mod config;
mod classify;
mod engine;
mod error;
mod facts;
mod number;
mod spec;

#[cfg(feature = "config")]
pub use config::{
    GroupConfig, PolicyConfig, RecordingConfig, UserConfig, announcement_files, check_config, check_target_names,
};
pub use classify::classify_direction;
pub use engine::{Policy, PolicyBuilder};
pub use error::{BuildError, BuildErrorKind, BuildErrors, MembershipError, NumberError};
pub use facts::{CallFacts, Decision, Direction, MembershipState, Reason};
pub use number::{NumberPlan, Redacted};
pub use spec::{Channels, GroupSpec, OnFailure, Period, RecordingSpec, UnknownChannels, UserSpec};
