//! # cr-audio
//!
//! Audio: G.711/G.722 decode, streaming crash-safe leg writers, finalize (caller / callee / stereo / separate), recordings past 4 GiB, announcements.
//!
//! This crate is being filled in; see the project issues. It builds and is part of the
//! workspace so that the other crates can depend on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
