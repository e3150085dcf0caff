//! # cr-call
//!
//! The recorder's call lifecycle as a library: from a SIPREC session to a sealed set.
//!
//! [`Calls`] is a sans-I/O state machine in the manner of str0m (and of cr-pbx's `Srs`,
//! whose events it consumes): feed it the recording server's events, media batches and
//! decisions with the current time ([`Calls::handle_input`], [`Calls::handle_media`]),
//! then drain [`Calls::poll_output`] for commands to the recording server, calls to
//! decide, sets to seal and calls to abandon, and ask [`Calls::poll_timeout`] when to
//! come back. It opens no socket, starts no thread and reads no clock.
//!
//! Its one boundary to files is the [`LegStore`] the application hands in with each call
//! it admits: the core pushes RTP into the store's [`Leg`]s directly (a queue per packet
//! would cost more than the write). [`io`] implements it on a call's legs directory; the
//! tests use memory. Completing the legs ([`Finishing::complete`]) and sealing block, and
//! the application runs them off its event loop.
//!
//! The crate also owns what a call leaves on disk and in the set: the legs directory
//! ([`LegsDir`]), the call record ([`CallRecord`], `call.json`), the set metadata
//! ([`SetMetadata`]) with its quality block ([`SetQuality`], thresholds in
//! [`QualityThresholds`]), the flags ([`flags`]), crash recovery ([`Leftover::plan`]) and the
//! classification of a SIPREC call's direction ([`classify`]).
//!
//! ```
//! use std::time::Instant;
//! use cr_call::{CallSettings, Calls, Input, Output};
//! # use cr_call::{Leg, LegCounts, LegError, LegStore, Roles};
//! # struct Mem;
//! # impl Leg for Mem {
//! #     fn push_rtp(&mut self, _: cr_audio::RtpFrame<'_>, _: std::time::Duration) -> Result<(), LegError> { Ok(()) }
//! #     fn tick(&mut self, _: std::time::Duration) -> Result<(), LegError> { Ok(()) }
//! #     fn finish(self) -> Result<LegCounts, LegError> { Ok(LegCounts::default()) }
//! # }
//! # impl LegStore for Mem {
//! #     type Leg = Mem;
//! #     fn create_leg(&mut self, _: usize, _: u32) -> Result<Mem, LegError> { Ok(Mem) }
//! #     fn write_roles(&mut self, _: &Roles) -> Result<(), LegError> { Ok(()) }
//! #     fn write_metadata(&mut self, _: &str) -> Result<(), LegError> { Ok(()) }
//! # }
//! let mut calls: Calls<Mem> = Calls::new(CallSettings::default());
//! calls.handle_input(Input::Shutdown, Instant::now());
//! assert!(calls.poll_output().is_none());
//! assert!(calls.is_done());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod classify;
mod finish;
pub mod flags;
pub mod io;
mod layout;
mod legs;
mod machine;
mod metadata;
mod quality;
mod record;
mod recovery;

pub use classify::{classify, diversions};
pub use finish::{Completion, Finishing, SealPlan};
pub use layout::{LegsDir, LegsRoot, Roles, stream_file};
pub use legs::{Leg, LegCounts, LegError, LegStore};
pub use machine::{Abandoned, CallSettings, Calls, DecideRequest, Decided, Input, MediaCounts, Output};
pub use metadata::{ChainLink, SetMetadata};
pub use quality::leg_quality;
pub use cr_types::{LegQuality, Percent, QualityThresholds, REASONS, SetQuality};
pub use record::{CallRecord, CallStart, SOURCE_API, SOURCE_SIPREC};
pub use recovery::{Leftover, Recovery};
