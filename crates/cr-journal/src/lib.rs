//! # cr-journal
//!
//! The log database shared by all configurations (SQLite by default): calls, decisions, recordings, files, uploads, membership state and audit events.
//!
//! This crate is being filled in; see the project issues. It builds and is part of the
//! workspace so that the other crates can depend on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
