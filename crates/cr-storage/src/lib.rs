//! # cr-storage
//!
//! Delivery: directory templates ($Y $M $D $h $m $s), targets (folder, SFTP, SMB, OneDrive), the spool with retries, and failure notifications.
//!
//! This crate is being filled in; see the project issues. It builds and is part of the
//! workspace so that the other crates can depend on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
