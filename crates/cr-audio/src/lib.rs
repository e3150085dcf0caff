//! # cr-audio
//!
//! Audio for callrec: G.711 and G.722 decoding, crash-safe streaming **leg writers** (one
//! WAV per party, written as RTP arrives, header brought up to date every second),
//! [`recover`] for legs a killed process left behind, [`finalize`] into the configured
//! channel layout (`caller`, `callee`, `stereo`, `separate`), and [`Announcement`]s as
//! 20 ms G.711 frames. Each leg is measured for quality as it is written or read
//! ([`LegMeasure`]: packets expected and received, the longest gap, digital silence). Files past 4 GiB become RF64 (EBU Tech 3306) automatically; the
//! WAV reader is this crate's own and returns typed errors for malformed input.
//!
//! Time is always passed in: `now` is the time since the leg's start on a monotonic clock.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use cr_audio::{ChannelMode, Codec, LegOptions, LegWriter, RtpFrame, finalize, g711};
//!
//! # fn main() -> Result<(), cr_audio::AudioError> {
//! let dir = tempfile::tempdir().unwrap();
//! let start = SystemTime::now();
//! let mut legs = Vec::new();
//! for (name, tone) in [("caller", 1000.0), ("callee", 300.0)] {
//!     let path = dir.path().join(format!("{name}.wav"));
//!     let mut leg = LegWriter::create(&path, LegOptions::new(8000, start))?;
//!     for p in 0..50u32 {
//!         // 50 packets of 20 ms of µ-law.
//!         let payload: Vec<u8> = (0..160)
//!             .map(|i| {
//!                 let t = (p * 160 + i) as f64 / 8000.0;
//!                 g711::ulaw_encode((8000.0 * (2.0 * std::f64::consts::PI * tone * t).sin()) as i16)
//!             })
//!             .collect();
//!         let now = Duration::from_millis(20 * p as u64); // arrival time since start
//!         let frame = RtpFrame { seq: p as u16, timestamp: 1234 + p * 160, ssrc: 7, codec: Codec::Pcmu, payload: &payload };
//!         leg.push_rtp(frame, now)?;
//!         leg.tick(now)?;
//!     }
//!     legs.push(leg.finish()?);
//! }
//! assert_eq!(legs[0].samples, 8000);
//! let files = finalize(&legs[0].path, &legs[1].path, ChannelMode::Stereo, dir.path(), "call-1")?;
//! assert_eq!(files, vec![dir.path().join("call-1.wav")]);
//! assert_eq!(cr_audio::read_info(&files[0])?.channels, 2);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod announce;
mod codec;
mod error;
mod finalize;
pub mod g711;
mod g722;
mod leg;
mod quality;
mod recover;
mod wav;

pub use announce::{Announcement, FRAME_SAMPLES, MAX_ANNOUNCEMENT};
pub use error::{AudioError, Result};
pub use finalize::{
    ChannelMode, FinalizeOptions, MAX_START_OFFSET_SECS, finalize, finalize_opened, finalize_with,
};
pub use g722::G722Decoder;
pub use codec::Codec;
pub use leg::{LegOptions, LegSummary, LegWriter, RtpFrame};
pub use quality::{LegMeasure, measure_audio};
pub use recover::{RecoverAction, Recovered, recover, recover_file};
pub use wav::{
    LegChunk, LegState, MAX_CHANNELS, MAX_RATE, MIN_RATE, SampleFormat, WavInfo, WavReader,
    WavWriter, parse_header_bytes, read_info,
};
