//! The I/O boundary of the call core: where one call's legs and side files go.
//!
//! The core never opens a file. It asks the [`LegStore`] the application handed it with
//! the call for a [`Leg`] per stream and pushes RTP into it directly: one call per packet,
//! no queue between (at 2,000 calls that is 200,000 packets a second). [`crate::io`]
//! implements both on files (`cr_audio::LegWriter` in a [`crate::LegsDir`]); tests use
//! memory.

use std::time::Duration;

use cr_audio::RtpFrame;

use crate::layout::Roles;

/// Why a leg or a side file could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LegError {
    /// The audio writer failed (disk full, file system gone, ...).
    #[error(transparent)]
    Audio(#[from] cr_audio::AudioError),
    /// Another I/O failure, described.
    #[error("{0}")]
    Other(String),
}

/// What a finished leg holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegCounts {
    /// Packets written.
    pub packets: u64,
    /// Packets that came too late to be placed (dropped).
    pub late: u64,
    /// What the leg's packets came to (none: not measured).
    pub quality: Option<cr_audio::LegMeasure>,
}

/// One stream's leg being written.
pub trait Leg: Send {
    /// Writes one RTP packet that arrived `since` the call was admitted.
    fn push_rtp(&mut self, frame: RtpFrame<'_>, since: Duration) -> Result<(), LegError>;
    /// Periodic work (header updates, silence for a stream that went quiet).
    fn tick(&mut self, since: Duration) -> Result<(), LegError>;
    /// Completes the leg.
    fn finish(self) -> Result<LegCounts, LegError>;
}

/// Where one call's legs go.
pub trait LegStore: Send {
    /// The leg type.
    type Leg: Leg;
    /// Creates the leg of the stream on m-line `index`.
    fn create_leg(&mut self, index: usize, sample_rate: u32) -> Result<Self::Leg, LegError>;
    /// Keeps which stream is whose (for finalizing, and for a restart after a crash).
    fn write_roles(&mut self, roles: &Roles) -> Result<(), LegError>;
    /// Keeps the SIPREC metadata as last received.
    fn write_metadata(&mut self, xml: &str) -> Result<(), LegError>;
}
