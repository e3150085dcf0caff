//! # cr-pbx
//!
//! PBX side: the call-event model, the SIPREC recording server (sans-I/O SIP + SDP + RTP core and a thin driver), and a SIPREC client.
//!
//! This crate is being filled in; see the project issues. It builds and is part of the
//! workspace so that the other crates can depend on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
